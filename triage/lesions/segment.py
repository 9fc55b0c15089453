"""Finding things in one photo: the scale coin and the lesion, on a CIELAB working copy. Pure functions on arrays.

The coin is a low-chroma (silver-grey) region that is round: filled, convex, and whose outline lies on image edges.
The lesion is the largest central region whose colour differs from the surrounding skin, cut at Otsu's threshold
on the colour distance from the skin (a smooth colour surface fitted to the photo's outer ring), then cleaned up
by morphology. The cut is repeated at a lower and a higher threshold: how much the outline moves is the
segmentation's own uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import feature, filters, measure, morphology

RING = 0.08  # the outer ring (share of each side) whose median colour is taken as the skin's
MIN_LESION_SHARE = 0.005  # of the photo's area: smaller regions are freckles, pores or hairs (take it closer)
MAX_LESION_SHARE = 0.6  # larger "lesions" are a shadow, a background or a wrong threshold
MIN_CONTRAST = 6.0  # CIELAB units between lesion and skin: below it there is nothing to see
MIN_CONTRAST_TO_NOISE = 2.0  # the lesion must stand out from the skin's own colour variation by this much
MIN_COIN_LIGHTNESS = 35.0  # CIELAB L*: a lit silver coin is lighter than this, a black-brown nevus darker
THRESHOLD_SPREAD = 0.15  # the alternative cuts lie this share of the lesion-skin contrast either side of Otsu's


@dataclass(frozen=True)
class Coin:
    """A round grey object: its centre and axes in working-copy pixels, and how well it fits a circle."""

    row: float
    col: float
    major_px: float  # the ellipse's long axis: a tilted coin's true diameter
    minor_px: float
    mask: np.ndarray
    confidence: float  # 0..1: share of its outline on image edges, times its roundness


@dataclass(frozen=True)
class Segmentation:
    """The lesion's mask at Otsu's cut, and at a tighter and a looser cut, with the skin and lesion contrast."""

    mask: np.ndarray
    tight: np.ndarray
    loose: np.ndarray
    skin_lab: np.ndarray  # the skin's CIELAB colour at every pixel (a quadratic fit to the outer ring)
    contrast: float  # median colour distance inside the lesion minus that of the skin, CIELAB units
    skin_noise: float  # spread (robust sd) of the colour distance over the skin
    touches_border: bool


def skin_model(lab: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """The skin's CIELAB colour at every pixel, as a quadratic surface in x and y fitted to the photo's outer ring
    (leaving out `exclude`, the coin), so that light falling off across the photo is not taken for a lesion. The
    fit is repeated once without the ring pixels furthest from it (a lesion reaching into the ring, a shadow)."""
    rows, cols = lab.shape[:2]
    ring = np.ones((rows, cols), dtype=bool)
    dr, dc = max(1, int(rows * RING)), max(1, int(cols * RING))
    ring[dr:-dr, dc:-dc] = False
    ring &= ~exclude
    if ring.sum() < 12:
        return np.broadcast_to(np.median(lab.reshape(-1, 3), axis=0), lab.shape).copy()
    y, x = np.nonzero(ring & ((np.arange(rows)[:, None] + np.arange(cols)[None, :]) % 3 == 0))  # a third will do
    a, b = _quadratic_terms(x / cols - 0.5, y / rows - 0.5), lab[y, x]
    coef = np.linalg.lstsq(a, b, rcond=None)[0]
    residual = np.sqrt(((a @ coef - b) ** 2).sum(axis=-1))
    keep = residual <= 2.5 * max(float(np.median(residual)), 1e-6)
    if keep.sum() >= 12:
        coef = np.linalg.lstsq(a[keep], b[keep], rcond=None)[0]
    u, v = np.meshgrid(np.arange(cols) / cols - 0.5, np.arange(rows) / rows - 0.5)
    return np.asarray(_quadratic_terms(u, v) @ coef)


def _quadratic_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)


def find_coin(lab: np.ndarray) -> Coin | None:
    """The most convincing coin in a CIELAB image: a light, low-chroma, filled, round region whose outline lies on
    Canny edges. None when nothing looks like one."""
    rows, cols = lab.shape[:2]
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    skin_chroma = float(np.median(chroma))
    grey = chroma < max(6.0, 0.45 * skin_chroma)
    grey = ndimage.binary_opening(grey, morphology.disk(2))
    grey = ndimage.binary_fill_holes(grey)
    labels = measure.label(grey)
    short = min(rows, cols)
    near_edges = ndimage.binary_dilation(feature.canny(lab[..., 0], sigma=1.5), iterations=2)
    best: Coin | None = None
    for region in measure.regionprops(labels):
        if not (0.03 * short) ** 2 <= region.area <= (0.45 * short) ** 2 or region.axis_minor_length < 6:
            continue
        roundness = min(region.solidity, 4 * np.pi * region.area / max(region.perimeter, 1.0) ** 2)
        if region.solidity < 0.93 or region.axis_minor_length / region.axis_major_length < 0.75:
            continue
        mask = labels == region.label
        if float(np.median(lab[..., 0][mask])) < MIN_COIN_LIGHTNESS:
            continue  # dark regions have little chroma too: a dark nevus, a shadow
        outline = mask & ~ndimage.binary_erosion(mask, morphology.disk(1))
        support = float((outline & near_edges).sum() / max(outline.sum(), 1))
        confidence = round(min(1.0, support) * min(1.0, roundness), 2)
        if confidence < 0.5:
            continue
        if best is None or confidence > best.confidence:
            row, col = region.centroid
            best = Coin(float(row), float(col), float(region.axis_major_length), float(region.axis_minor_length),
                        mask, confidence)
    return best


def segment_lesion(lab: np.ndarray, exclude: np.ndarray) -> Segmentation | None:
    """The lesion in a CIELAB image (pixels in `exclude` never belong to it), or None when none stands out."""
    skin = skin_model(lab, exclude)
    distance = np.sqrt(((lab - skin) ** 2).sum(axis=-1))
    distance = filters.gaussian(distance, sigma=1.0)
    usable = distance[~exclude]
    if usable.size == 0 or float(np.ptp(usable)) < MIN_CONTRAST:
        return None
    cut = float(filters.threshold_otsu(usable))
    mask = _region(distance >= cut, exclude)
    if mask is None:
        return None
    skin_distance = distance[~mask & ~exclude]
    skin_median = float(np.median(skin_distance))
    contrast = float(np.median(distance[mask])) - skin_median
    # A robust standard deviation: the skin's colour noise against which the lesion has to stand out.
    skin_noise = 1.4826 * float(np.median(np.abs(skin_distance - skin_median)))
    if contrast < max(MIN_CONTRAST, MIN_CONTRAST_TO_NOISE * skin_noise):
        return None
    step = THRESHOLD_SPREAD * contrast
    tight = _region(distance >= cut + step, exclude, near=mask)
    loose = _region(distance >= cut - step, exclude, near=mask)
    touches = bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    return Segmentation(mask, tight if tight is not None else mask, loose if loose is not None else mask, skin,
                        contrast, skin_noise, touches)


def _region(candidates: np.ndarray, exclude: np.ndarray, near: np.ndarray | None = None) -> np.ndarray | None:
    """Clean `candidates` and keep one component: the one overlapping `near` most, else the largest one
    weighted by closeness to the centre. None when no component has a plausible size."""
    rows, cols = candidates.shape
    radius = max(1, round(min(rows, cols) / 200))
    cleaned = ndimage.binary_opening(candidates & ~exclude, morphology.disk(radius))
    cleaned = ndimage.binary_closing(cleaned, morphology.disk(2 * radius))
    cleaned = ndimage.binary_fill_holes(cleaned) & ~exclude
    labels, count = ndimage.label(cleaned)
    if count == 0:
        return None
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(cleaned, labels, index)
    if near is not None:
        overlap = ndimage.sum_labels(near, labels, index)
        chosen = int(index[np.argmax(overlap)]) if overlap.max() > 0 else 0
    else:
        centres = np.array(ndimage.center_of_mass(cleaned, labels, index)).reshape(-1, 2)
        off_centre = np.hypot((centres[:, 0] - rows / 2) / rows, (centres[:, 1] - cols / 2) / cols)
        plausible = (areas >= MIN_LESION_SHARE * rows * cols) & (areas <= MAX_LESION_SHARE * rows * cols)
        score = np.where(plausible, areas * (1.0 - off_centre) ** 2, 0.0)
        chosen = int(index[np.argmax(score)]) if score.max() > 0 else 0
    if chosen == 0:
        return None
    return _detach(np.asarray(labels == chosen), radius)


def _detach(mask: np.ndarray, radius: int) -> np.ndarray:
    """Cut off what hangs on the region by a thin neck (a freckle or a hair touching the lesion): an opening
    scaled to the region's size, keeping the largest piece. The region itself when the opening would erase it."""
    diameter = 2.0 * np.sqrt(mask.sum() / np.pi)
    opened = _opening(mask, max(radius, round(0.04 * diameter)))
    labels, count = ndimage.label(opened)
    if count == 0:
        return mask
    areas = ndimage.sum_labels(opened, labels, np.arange(1, count + 1))
    return np.asarray(labels == int(np.argmax(areas)) + 1)



def _opening(mask: np.ndarray, radius: float) -> np.ndarray:
    """Opening by a disk, computed on the mask's bounding box through distance transforms: the same result as
    `binary_opening` with a disk footprint (the photo's edge counts as background), in time independent of the
    disk's size."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return mask.copy()
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = np.pad(mask[top:bottom, left:right], 1)
    eroded = ndimage.distance_transform_edt(box) > radius
    opened = np.zeros_like(mask)
    opened[top:bottom, left:right] = (ndimage.distance_transform_edt(~eroded) <= radius)[1:-1, 1:-1]
    return opened
