"""Two visits of one lesion in, a verdict per feature out: size, shape and colour each `changed`, `unchanged` or
`unknown`, with the change and its ~95 % band. Pure and deterministic."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from triage.lesions.measure import COLOUR_KEYS, Estimate, LesionMeasurement, measure_lesion

Verdict = Literal["changed", "unchanged", "unknown"]
CLEAR_MARGIN = 3.0  # a change counts only beyond this many standard uncertainties (1.5 times its ~95 % band)
MAX_SIZE_SD = 0.25  # a relative size change known no better than this (a band of about ±50 %) says nothing


@dataclass(frozen=True)
class FeatureChange:
    """How one feature moved between two visits. `change` is None when it could not be measured; `detail` says
    what moved most, or why the verdict is unknown."""

    feature: str
    verdict: Verdict
    change: Estimate | None
    detail: str


@dataclass(frozen=True)
class LesionChange:
    size: FeatureChange  # relative change of the area in millimetres², in % (needs the coin in both photos)
    shape: FeatureChange  # the larger change of compactness and solidity, in their own units
    colour: FeatureChange  # the largest change of the lesion's colour relative to its skin, in CIELAB units


@dataclass(frozen=True)
class LesionTrack:
    """Every visit's measurement, the change between each visit and the next, and from the first to the last."""

    measurements: tuple[LesionMeasurement, ...]
    steps: tuple[LesionChange, ...]
    overall: LesionChange


def track_lesion(photos: Sequence[bytes | Image.Image | np.ndarray], *, coin_diameter_mm: float | None = None
                 ) -> LesionTrack:
    """Measure each photo (oldest first) and compare the visits. Raises ValueError for fewer than two photos."""
    if len(photos) < 2:
        raise ValueError("tracking a lesion needs at least two photos, oldest first")
    measurements = tuple(measure_lesion(p, coin_diameter_mm=coin_diameter_mm) for p in photos)
    steps = tuple(compare_lesions(a, b) for a, b in itertools.pairwise(measurements))
    return LesionTrack(measurements, steps, compare_lesions(measurements[0], measurements[-1]))


def compare_lesions(earlier: LesionMeasurement, later: LesionMeasurement) -> LesionChange:
    """Compare two measurements of the same lesion, earlier first."""
    problem = _problem(earlier, later)
    if problem:
        unknown = [FeatureChange(f, "unknown", None, problem) for f in ("size", "shape", "colour")]
        return LesionChange(*unknown)
    return LesionChange(_size(earlier, later), _largest("shape", earlier, later), _largest("colour", earlier, later))


def _problem(earlier: LesionMeasurement, later: LesionMeasurement) -> str:
    for name, m in (("earlier", earlier), ("later", later)):
        if m.problem:
            return f"{name} photo: {m.problem}"
    return ""


def _size(earlier: LesionMeasurement, later: LesionMeasurement) -> FeatureChange:
    if earlier.touches_border or later.touches_border:
        return FeatureChange("size", "unknown", None, "the lesion runs off a photo: its size is only a lower bound")
    if earlier.area_mm2 is None or later.area_mm2 is None:
        return FeatureChange("size", "unknown", None, "no scale coin found in both photos: sizes in pixels depend "
                                                      "on the camera's distance and cannot be compared")
    a, b = earlier.area_mm2, later.area_mm2
    log_ratio = math.log(b.value / a.value)
    sd = math.hypot(a.sd / a.value, b.sd / b.value)  # relative uncertainties add in quadrature on a log scale
    change = Estimate.of(100.0 * math.expm1(log_ratio), 100.0 * sd * math.exp(log_ratio), "%")
    detail = f"area {a.value:g} → {b.value:g} mm²"
    if sd > MAX_SIZE_SD:
        return FeatureChange("size", "unknown", change, f"{detail}; too uncertain to tell")
    return FeatureChange("size", _verdict(abs(log_ratio) / sd), change, detail)


def _largest(feature: str, earlier: LesionMeasurement, later: LesionMeasurement) -> FeatureChange:
    """The feature's component that moved most against its uncertainty decides the verdict."""
    pairs = _components(feature, earlier, later)
    best_name, best_z, best = "", -1.0, Estimate(0.0, 0.0, "")
    for name, (a, b) in pairs.items():
        sd = math.hypot(a.sd, b.sd)
        z = abs(b.value - a.value) / sd if sd > 0 else 0.0
        if z > best_z:
            best_name, best_z, best = name, z, Estimate.of(b.value - a.value, sd, a.unit)
    return FeatureChange(feature, _verdict(best_z), best, f"largest change: {best_name}")


def _components(feature: str, earlier: LesionMeasurement, later: LesionMeasurement
                ) -> dict[str, tuple[Estimate, Estimate]]:
    if feature == "shape":
        names = {"compactness": (earlier.compactness, later.compactness),
                 "solidity": (earlier.solidity, later.solidity)}
    else:
        names = {f"colour {k}": (earlier.colour.get(k), later.colour.get(k)) for k in COLOUR_KEYS}
        names["colour spread"] = (earlier.colour_spread, later.colour_spread)
    return {name: (a, b) for name, (a, b) in names.items() if a is not None and b is not None}


def _verdict(z: float) -> Verdict:
    return "changed" if z > CLEAR_MARGIN else "unchanged"
