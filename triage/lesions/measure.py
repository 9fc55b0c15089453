"""One photo of a lesion in, one `LesionMeasurement` out: outline, size, colour and border, each with its uncertainty.

Pure and deterministic: no I/O, no clock, no randomness. The uncertainty model and the failure modes are in the
package docstring (triage/lesions/__init__.py) and docs/photo-quality.md.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, UnidentifiedImageError
from skimage import color, filters, measure

from triage.images import ALLOWED_FORMATS, register_heif, upright
from triage.lesions.segment import Coin, Segmentation, find_coin, segment_lesion
from triage.photo_quality import measure_quality, quality_verdict

WORK_LONG_SIDE = 512  # px: the long side of the working copy every measure is taken on
MAX_PIXELS = 40_000_000  # decoded photos larger than this are refused unread, as in sanitize_image
POOR_PHOTO = ("too_small", "too_dark", "too_bright", "blurred")
# Standard uncertainties that no single photo can reveal: the camera's angle and distance, the skin's curvature
# and the light differ between visits. Chosen as plausible for a hand-held phone, not measured: see the docs.
CAPTURE_AREA = 0.05  # relative, on an area (2.5 % on a length)
COIN_PLANE = 0.02  # relative, on a length: the coin does not lie exactly in the lesion's plane
LIGHTING_DE = 3.0  # CIELAB units on a colour measured against the photo's own skin
SHAPE_FLOOR = {"compactness": 0.04, "solidity": 0.015}
COLOUR_KEYS = ("L10", "L50", "L90", "a50", "b50")


@dataclass(frozen=True)
class Estimate:
    """A measured number and the half-width of its ~95 % band (two standard uncertainties), both rounded to
    what the band allows: 23 ± 3, not 23.437 ± 3.12."""

    value: float
    uncertainty: float
    unit: str

    @classmethod
    def of(cls, value: float, sd: float, unit: str) -> Estimate:
        """An estimate from a value and its standard uncertainty `sd`, rounded to the band's leading digits."""
        band = 2.0 * abs(sd)
        if band <= 0 or not math.isfinite(band):
            return cls(float(value), 0.0, unit)
        exponent = math.floor(math.log10(band))
        digits = -exponent + (1 if band / 10**exponent < 2 else 0)  # keep two digits for 1.x bands
        return cls(round(float(value), digits), round(band, digits), unit)

    @property
    def sd(self) -> float:
        return self.uncertainty / 2.0


@dataclass(frozen=True)
class LesionMeasurement:
    """What one photo says about the lesion. `problem` is None when the lesion was measured; otherwise every
    number is None and `problem` says why (`unreadable`, `poor_photo:<verdict>`, `no_lesion`)."""

    problem: str | None
    width: int = 0
    height: int = 0
    photo_quality: str = ""
    outline: tuple[tuple[float, float], ...] = ()  # (x, y) points around the lesion, in the photo's pixels
    confidence: float = 0.0  # 0..1: how clearly the lesion stands out from the skin and how stable its outline is
    touches_border: bool = False  # the lesion runs off the photo: its size is a lower bound
    area_px: Estimate | None = None
    diameter_px: Estimate | None = None  # longest diameter (maximum Feret diameter)
    coin_found: bool = False
    coin_confidence: float = 0.0
    mm_per_px: Estimate | None = None
    area_mm2: Estimate | None = None
    diameter_mm: Estimate | None = None
    colour: dict[str, Estimate] = field(default_factory=dict)  # CIELAB percentiles of the lesion minus the skin
    colour_spread: Estimate | None = None  # RMS CIELAB distance of the lesion's pixels from their mean
    colour_clusters: int = 0  # distinct colours (k-means clusters at least 12 CIELAB units apart, 8 % of the area)
    compactness: Estimate | None = None  # perimeter² / (4π area): 1 for a circle, larger for a ragged border
    solidity: Estimate | None = None  # area / convex hull area: 1 for a convex outline, smaller for notches


def measure_lesion(photo: bytes | Image.Image | np.ndarray, *, coin_diameter_mm: float | None = None
                   ) -> LesionMeasurement:
    """Measure the lesion in one photo (JPEG/PNG/WebP/HEIF bytes, a PIL image or an HxWx3 uint8 RGB array).

    `coin_diameter_mm` is the diameter of the coin placed beside the lesion, if any; millimetres are given only
    when it is set and a coin is found. Undecodable bytes, poor photos and photos without a lesion give a
    measurement whose `problem` says so. Raises ValueError for an array that is not an RGB image or a
    non-positive coin diameter, TypeError for other inputs.
    """
    if coin_diameter_mm is not None and not (math.isfinite(coin_diameter_mm) and coin_diameter_mm > 0):
        raise ValueError(f"coin_diameter_mm must be a positive number of millimetres, not {coin_diameter_mm!r}")
    img = _as_image(photo)
    if img is None:
        return LesionMeasurement(problem="unreadable")
    verdict = quality_verdict(measure_quality(img))
    base = LesionMeasurement(problem=None, width=img.width, height=img.height, photo_quality=verdict)
    if verdict in POOR_PHOTO:
        return replace(base, problem=f"poor_photo:{verdict}")
    scale = min(1.0, WORK_LONG_SIDE / max(img.size))
    work = img if scale == 1.0 else img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                                               Image.Resampling.LANCZOS, reducing_gap=3.0)
    lab = color.rgb2lab(np.asarray(work, dtype=np.float64) / 255.0)
    lab = np.stack([filters.gaussian(lab[..., c], sigma=0.8) for c in range(3)], axis=-1)
    coin = find_coin(lab)
    exclude = coin.mask if coin is not None else np.zeros(lab.shape[:2], dtype=bool)
    seg = segment_lesion(lab, exclude)
    if seg is None:
        return replace(base, problem="no_lesion", coin_found=coin is not None)
    return _measure(base, seg, lab, coin, scale, coin_diameter_mm)


def _measure(base: LesionMeasurement, seg: Segmentation, lab: np.ndarray, coin: Coin | None, scale: float,
             coin_diameter_mm: float | None) -> LesionMeasurement:
    to_photo = 1.0 / scale
    area, tight_area, loose_area = (float(m.sum()) for m in (seg.mask, seg.tight, seg.loose))
    feret = [_feret(m) for m in (seg.mask, seg.tight, seg.loose)]
    # The tight and loose cuts bracket the outline: their spread is taken as four standard uncertainties.
    area_sd = math.hypot((loose_area - tight_area) / 4.0, CAPTURE_AREA * area)
    diameter_sd = math.hypot((feret[2] - feret[1]) / 4.0, 0.5, CAPTURE_AREA / 2 * feret[0])
    stability = 1.0 - min(1.0, (loose_area - tight_area) / max(area, 1.0))
    clarity = seg.contrast / (seg.contrast + 3.0 * seg.skin_noise + 1e-9)
    confidence = round(max(0.0, stability * clarity * (0.5 if seg.touches_border else 1.0)), 2)
    mm_per_px = area_mm2 = diameter_mm = None
    if coin is not None and coin_diameter_mm is not None:
        per_px = coin_diameter_mm / coin.major_px  # millimetres per working-copy pixel
        tilt = 0.5 * (1.0 - coin.minor_px / coin.major_px)
        scale_rel = math.sqrt((1.0 / coin.major_px) ** 2 + tilt**2 + COIN_PLANE**2)
        mm_per_px = Estimate.of(per_px * scale, per_px * scale * scale_rel, "mm/px")
        area_mm2 = Estimate.of(area * per_px**2, area * per_px**2 * math.hypot(area_sd / area, 2 * scale_rel), "mm²")
        diameter_mm = Estimate.of(feret[0] * per_px,
                                  feret[0] * per_px * math.hypot(diameter_sd / feret[0], scale_rel), "mm")
    colour, spread, clusters = _colour(lab, seg)
    compactness, solidity = _shape(seg)
    return replace(
        base, outline=_outline(seg.mask, to_photo), confidence=confidence, touches_border=seg.touches_border,
        area_px=Estimate.of(area * to_photo**2, area_sd * to_photo**2, "px²"),
        diameter_px=Estimate.of(feret[0] * to_photo, diameter_sd * to_photo, "px"),
        coin_found=coin is not None, coin_confidence=coin.confidence if coin else 0.0,
        mm_per_px=mm_per_px, area_mm2=area_mm2, diameter_mm=diameter_mm,
        colour=colour, colour_spread=spread, colour_clusters=clusters, compactness=compactness, solidity=solidity,
    )


def _colour(lab: np.ndarray, seg: Segmentation) -> tuple[dict[str, Estimate], Estimate, int]:
    """Percentiles of the lesion's colour relative to the skin, its spread and its number of distinct colours."""
    values = {}
    for name, mask in (("mask", seg.mask), ("tight", seg.tight), ("loose", seg.loose)):
        pixels = lab[mask] - seg.skin_lab[mask]
        deviations = pixels - pixels.mean(axis=0)
        values[name] = {
            "L10": float(np.percentile(pixels[:, 0], 10)), "L50": float(np.median(pixels[:, 0])),
            "L90": float(np.percentile(pixels[:, 0], 90)), "a50": float(np.median(pixels[:, 1])),
            "b50": float(np.median(pixels[:, 2])), "spread": float(np.sqrt((deviations**2).sum(axis=1).mean())),
        }
    estimates = {
        key: Estimate.of(values["mask"][key],
                         math.hypot((values["loose"][key] - values["tight"][key]) / 4.0, LIGHTING_DE), "ΔE")
        for key in (*COLOUR_KEYS, "spread")
    }
    spread = estimates.pop("spread")
    return estimates, spread, _clusters(lab[seg.mask])


def _clusters(pixels: np.ndarray, k: int = 4, iterations: int = 12) -> int:
    """Distinct colours among a lesion's CIELAB pixels: k-means seeded deterministically along the lightness
    quantiles, then clusters closer than 12 units merged and those under 8 % of the pixels dropped."""
    sample = pixels[:: max(1, len(pixels) // 4000)]
    order = np.argsort(sample[:, 0])
    centres = sample[order[np.linspace(0, len(order) - 1, k).astype(int)]].astype(np.float64)
    for _ in range(iterations):
        nearest = np.argmin(((sample[:, None, :] - centres[None]) ** 2).sum(axis=-1), axis=1)
        centres = np.array([sample[nearest == i].mean(axis=0) if (nearest == i).any() else centres[i]
                            for i in range(k)])
    shares = np.bincount(nearest, minlength=k) / len(sample)
    kept: list[np.ndarray] = []
    for i in np.argsort(-shares):
        if shares[i] >= 0.08 and all(np.linalg.norm(centres[i] - c) >= 12.0 for c in kept):
            kept.append(centres[i])
    return max(1, len(kept))


def _shape(seg: Segmentation) -> tuple[Estimate, Estimate]:
    """Compactness and solidity at Otsu's cut, uncertain by their spread over the three cuts plus a floor."""
    values = [_shape_of(mask) for mask in (seg.mask, seg.tight, seg.loose)]
    out = []
    for key in ("compactness", "solidity"):
        spread = max(v[key] for v in values) - min(v[key] for v in values)
        out.append(Estimate.of(values[0][key], math.hypot(spread / 4.0, SHAPE_FLOOR[key]), ""))
    return out[0], out[1]


def _shape_of(mask: np.ndarray) -> dict[str, float]:
    region = measure.regionprops(mask.astype(np.uint8))[0]
    # Perimeter on an outline smoothed in proportion to the lesion's size, so that it does not grow with zoom.
    sigma = max(1.0, 0.02 * region.equivalent_diameter_area)
    contours = measure.find_contours(filters.gaussian(np.pad(mask, 2).astype(float), sigma=sigma), 0.5)
    perimeter = max((float(np.hypot(*np.diff(c, axis=0).T).sum()) for c in contours), default=0.0)
    return {"compactness": perimeter**2 / (4 * math.pi * float(region.area)), "solidity": float(region.solidity)}


def _feret(mask: np.ndarray) -> float:
    return float(measure.regionprops(mask.astype(np.uint8))[0].feret_diameter_max)


def _outline(mask: np.ndarray, to_photo: float) -> tuple[tuple[float, float], ...]:
    """The lesion's outline as at most 200 (x, y) points in the photo's pixels, to 0.1 px."""
    contours = measure.find_contours(np.pad(mask, 1).astype(float), 0.5)
    if not contours:
        return ()
    contour = max(contours, key=len)
    contour = contour[:: max(1, len(contour) // 200)]
    return tuple((round((c - 1) * to_photo, 1), round((r - 1) * to_photo, 1)) for r, c in contour)


def _as_image(photo: bytes | Image.Image | np.ndarray) -> Image.Image | None:
    """An upright RGB image, or None for bytes that are not a readable photo of an allowed format and size."""
    if isinstance(photo, Image.Image):
        return photo.convert("RGB")
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3 or min(photo.shape[:2]) < 1:
            raise ValueError(f"expected an HxWx3 uint8 RGB array, got {photo.dtype} of shape {photo.shape}")
        return Image.fromarray(photo, "RGB")
    if not isinstance(photo, bytes | bytearray | memoryview):
        raise TypeError(f"expected photo bytes, a PIL image or an RGB array, not {type(photo).__name__}")
    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(bytes(photo)), formats=ALLOWED_FORMATS)
            if opened.width * opened.height > MAX_PIXELS:
                return None
            opened.load()
            return upright(opened).convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError,
            SyntaxError, ValueError):
        return None
