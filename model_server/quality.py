"""Image quality from cheap, deterministic image statistics: `good`, `poor` or `not_skin`.

These are heuristics, not a model. They catch the obvious: a thumbnail, a black or blown-out frame, a badly
blurred shot, a picture with almost no skin-coloured pixels (a document, a screenshot, a grey wall). They cannot
tell a sharp photo of the wrong body part from the right one, judge lighting colour, framing or focus on the
lesion itself, and the skin-colour rule (a fixed YCrCb box) is known to miss some very dark and very light skin
and heavily tinted light: `not_skin` therefore only fires when almost nothing in the frame looks like skin.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter, ImageStat

from model_server.api import ImageQuality

# The working copy is at most this long on its long side, so the statistics cost the same for every photo
# and the blur measure does not depend on the camera's resolution.
_WORK_SIDE = 512


@dataclass(frozen=True)
class QualityThresholds:
    """Where the verdict changes. Defaults chosen on synthetic checks, not validated on clinical photos."""

    min_side: int = 128  # px: smaller photos show too little detail
    min_brightness: float = 35.0  # mean luma, 0..255
    max_brightness: float = 235.0
    min_sharpness: float = 12.0  # variance of the 4-neighbour Laplacian of the working copy
    min_skin_fraction: float = 0.05  # share of pixels inside the YCrCb skin box


@dataclass(frozen=True)
class QualityReport:
    """The statistics behind a verdict, for logs and tests."""

    verdict: ImageQuality
    width: int
    height: int
    brightness: float
    sharpness: float
    skin_fraction: float


def assess_image(image: Image.Image, thresholds: QualityThresholds | None = None) -> QualityReport:
    """Return the quality verdict for an RGB image and the statistics it rests on. Pure and deterministic."""
    t = thresholds or QualityThresholds()
    width, height = image.size
    work = image.convert("RGB")
    if max(work.size) > _WORK_SIDE:
        work = work.copy()
        work.thumbnail((_WORK_SIDE, _WORK_SIDE), Image.Resampling.BILINEAR)
    luma = work.convert("L")  # ITU-R 601 luma, as the YCrCb box below assumes
    brightness = float(ImageStat.Stat(luma).mean[0])
    sharpness = _laplacian_variance(luma)
    skin_fraction = _skin_fraction(work)

    verdict: ImageQuality
    if skin_fraction < t.min_skin_fraction:
        verdict = "not_skin"
    elif (
        min(width, height) < t.min_side
        or not t.min_brightness <= brightness <= t.max_brightness
        or sharpness < t.min_sharpness
    ):
        verdict = "poor"
    else:
        verdict = "good"
    return QualityReport(verdict, width, height, brightness, sharpness, skin_fraction)


# The 4-neighbour Laplacian, offset to mid-grey: Pillow clips filter output to 0..255, which only caps the
# measure for very sharp photos, far above the threshold.
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


def _laplacian_variance(luma: Image.Image) -> float:
    """Variance of the Laplacian of the inner pixels: low for blurred or featureless images."""
    if luma.width < 3 or luma.height < 3:
        return 0.0
    inner = luma.filter(_LAPLACIAN).crop((1, 1, luma.width - 1, luma.height - 1))
    return float(ImageStat.Stat(inner).var[0])


def _skin_fraction(rgb: Image.Image) -> float:
    """Share of pixels in the classic YCrCb skin box (Cr 133..173, Cb 77..127, Chai and Ngan 1999)."""
    _, cb, cr = rgb.convert("YCbCr").split()
    in_cr = cr.point(lambda v: 255 if 133 <= v <= 173 else 0)
    in_cb = cb.point(lambda v: 255 if 77 <= v <= 127 else 0)
    return float(ImageStat.Stat(ImageChops.multiply(in_cr, in_cb)).mean[0] / 255.0)
