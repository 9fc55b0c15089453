"""The photo quality gate: size, brightness, sharpness and skin checks on one decoded photo. Pure and deterministic.

Every measure is taken on a *working copy* resized so that its short side is `WORK_SHORT_SIDE` pixels, so the
numbers do not depend on the camera's resolution: "blurred" means blurred at about the scale at which the vision
model and a clinician's first look see the photo, not at the full sensor resolution.

Sharpness is the re-blur measure of Crété-Roffet et al. ("The blur effect", Proc. SPIE 6492, 2007): blur the
working copy once more with an 11-pixel box filter and ask what share of its edge strength (Sobel gradient) that
destroys. A sharp photo loses most of it; a photo that is already blurred has little left to lose. The share is a
ratio of gradients, so it does not change when the whole image is made brighter, darker or higher in contrast; it
is taken along each axis and the smaller is kept (so one-directional motion blur counts); and only the interior is
used, away from the border where the filters see padding. See docs/photo-quality.md for the thresholds, how they
were chosen on PAD-UFES-20 and where the measure fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

WORK_SHORT_SIDE = 256
# The working copy's long side never exceeds this, so a 1 x 40,000 px upload cannot become a gigapixel copy.
WORK_MAX_LONG_SIDE = 4 * WORK_SHORT_SIDE
_REBLUR_SIZE = 11  # px at the working resolution: the box filter of the re-blur measure (the paper's choice)
_MARGIN = _REBLUR_SIZE // 2 + 3  # px left out at each border: the filters' reach plus the Sobel kernel's
# Mean Sobel gradient (grey levels per pixel) below which an image has no detail to judge sharpness on: a lens
# cap, a blank wall. Such a photo counts as blurred, as it cannot show a lesion either.
_MIN_DETAIL = 0.3


@dataclass(frozen=True)
class QualityThresholds:
    """Where the verdict changes. Chosen on the PAD-UFES-20 dev split; docs/photo-quality.md says how."""

    min_side: int = 200  # px of the decoded photo: smaller ones show too little detail
    min_brightness: float = 35.0  # mean luma of the working copy, 0..255
    max_brightness: float = 235.0
    min_sharpness: float = 0.54  # share of edge strength an 11-px re-blur destroys, 0..1
    min_skin: float = 0.08  # share of pixels inside the YCbCr skin box


DEFAULT_THRESHOLDS = QualityThresholds()


@dataclass(frozen=True)
class QualityMeasures:
    """The numbers a verdict rests on, for one photo."""

    width: int
    height: int
    brightness: float  # mean luma, 0..255
    sharpness: float  # 0 (no edge strength lost to a re-blur: blurred or featureless) .. 1
    detail: float  # mean Sobel gradient in grey levels per pixel: how much there is to judge sharpness on
    skin: float  # share of pixels in the skin-colour box, 0..1


def working_copy(img: Image.Image, short_side: int = WORK_SHORT_SIDE) -> Image.Image:
    """Return `img` as RGB resized (Lanczos, aspect kept) so that its short side is `short_side` pixels, or less
    where that would make its long side longer than `WORK_MAX_LONG_SIDE` (a panorama, a sliver)."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    scale = min(short_side / min(rgb.size), WORK_MAX_LONG_SIDE / max(rgb.size))
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    if size == rgb.size:
        return rgb
    return rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def measure_quality(img: Image.Image) -> QualityMeasures:
    """Measure brightness, sharpness, detail and skin share of a decoded photo (any mode, any size >= 1x1)."""
    work = working_copy(img)
    luma = np.asarray(work.convert("L"), dtype=np.float32)
    sharpness, detail = _sharpness(luma)
    return QualityMeasures(width=img.width, height=img.height, brightness=float(luma.mean()),
                           sharpness=sharpness, detail=detail, skin=_skin_fraction(work))


def quality_flags(m: QualityMeasures, t: QualityThresholds = DEFAULT_THRESHOLDS) -> dict[str, bool]:
    """Each check on its own (several can be true at once); `verdict` reports only the first that is."""
    return {
        "too_small": min(m.width, m.height) < t.min_side,
        "too_dark": m.brightness < t.min_brightness,
        "too_bright": m.brightness > t.max_brightness,
        "blurred": m.sharpness < t.min_sharpness,
        "not_skin": m.skin < t.min_skin,
    }


def quality_verdict(m: QualityMeasures, t: QualityThresholds = DEFAULT_THRESHOLDS) -> str:
    """Return `good` or the first failed check in the order too_small, too_dark, too_bright, blurred, not_skin."""
    failed = [name for name, flagged in quality_flags(m, t).items() if flagged]
    return failed[0] if failed else "good"


def quality_report(img: Image.Image, t: QualityThresholds = DEFAULT_THRESHOLDS) -> dict[str, float | str]:
    """The `quality` dict stored with each photo: the measures, rounded, and the verdict."""
    m = measure_quality(img)
    return {"brightness": round(m.brightness, 1), "sharpness": round(m.sharpness, 3), "detail": round(m.detail, 2),
            "skin": round(m.skin, 3), "verdict": quality_verdict(m, t)}


def _sharpness(luma: np.ndarray) -> tuple[float, float]:
    """Return (sharpness, detail) of a greyscale working copy; (0, 0) when it is too small to have an interior."""
    if min(luma.shape) <= 2 * _MARGIN + 2:
        return 0.0, 0.0
    inner = (slice(_MARGIN, -_MARGIN), slice(_MARGIN, -_MARGIN))
    sharpness, detail = 1.0, 0.0
    for axis in (0, 1):
        edges = np.abs(ndimage.sobel(luma, axis=axis))[inner]
        reblurred = ndimage.uniform_filter1d(luma, _REBLUR_SIZE, axis=axis)
        left = np.abs(ndimage.sobel(reblurred, axis=axis))[inner]
        total = float(edges.sum())
        # The Sobel kernel weighs a one-level step by 4 (1+2+1).
        detail = max(detail, total / edges.size / 4.0)
        lost = float(np.maximum(edges - left, 0.0).sum())
        sharpness = min(sharpness, lost / total if total > 0 else 0.0)
    if detail < _MIN_DETAIL:
        return 0.0, detail
    return sharpness, detail


def _skin_fraction(rgb: Image.Image) -> float:
    """Share of pixels inside the classic YCbCr skin-colour box (Cb 77-127, Cr 133-173, Chai and Ngan 1999).

    A crude screen for photos of something other than skin (a screenshot, a document, a pet); it misses some very
    dark and very light skin and tinted light, which is why `not_skin` needs almost no skin-coloured pixels.
    """
    ycbcr = np.asarray(rgb.convert("YCbCr"))
    cb, cr = ycbcr[..., 1], ycbcr[..., 2]
    inside = (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173)
    return float(inside.mean())
