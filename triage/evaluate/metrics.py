"""The statistics of an evaluation, as pure functions: proportions with Wilson intervals, top-k, calibration."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Two-sided 95 %: the 97.5th percentile of the standard normal distribution.
Z_95 = 1.959963984540054
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``total``, with its Wilson score interval; ``value``, ``low``, ``high`` are None when
    ``total`` is 0 (nothing to measure)."""

    successes: int
    total: int

    @property
    def value(self) -> float | None:
        """Return successes / total, or None when total is 0."""
        return self.successes / self.total if self.total else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """Return the 95 % Wilson score interval, or None when total is 0."""
        return wilson_interval(self.successes, self.total)

    def as_dict(self) -> dict[str, float | int | None]:
        """Return ``{"successes", "total", "value", "low", "high"}`` for metrics.json."""
        low, high = self.interval or (None, None)
        return {"successes": self.successes, "total": self.total, "value": self.value, "low": low, "high": high}


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float] | None:
    """Return the Wilson score interval (low, high) of ``successes`` out of ``total``; None when total is 0.

    Raises ValueError when successes is outside 0..total.
    """
    if not 0 <= successes <= total:
        raise ValueError(f"successes must be between 0 and total, got {successes} of {total}")
    if total == 0:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # The interval contains p exactly at the ends; clamp the rounding error of the formula there.
    return (0.0 if successes == 0 else max(0.0, centre - half), 1.0 if successes == total else min(1.0, centre + half))


def top_k_hit(label: str, differential: Sequence[tuple[str, float]], k: int) -> bool:
    """Return True when ``label`` is among the first ``k`` conditions of ``differential`` (in the given order)."""
    return label in (condition for condition, _ in differential[:k])


@dataclass(frozen=True)
class CalibrationBin:
    """Cases whose top likelihood fell in [low, high): how many, their mean likelihood, how many were right."""

    low: float
    high: float
    count: int
    mean_confidence: float | None
    accuracy: float | None


def reliability_bins(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS
) -> list[CalibrationBin]:
    """Return ``bins`` equal-width bins over 0..1 of the top likelihoods (1.0 falls in the last bin).

    Raises ValueError when the two sequences differ in length or a confidence is outside 0..1.
    """
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    members: list[list[int]] = [[] for _ in range(bins)]
    for index, confidence in enumerate(confidences):
        if not 0 <= confidence <= 1:
            raise ValueError(f"a confidence must be between 0 and 1, got {confidence}")
        members[min(int(confidence * bins), bins - 1)].append(index)
    result = []
    for number, indices in enumerate(members):
        count = len(indices)
        result.append(
            CalibrationBin(
                low=number / bins,
                high=(number + 1) / bins,
                count=count,
                mean_confidence=sum(confidences[i] for i in indices) / count if count else None,
                accuracy=sum(correct[i] for i in indices) / count if count else None,
            )
        )
    return result


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS
) -> float | None:
    """Return the expected calibration error: the count-weighted mean of |accuracy - mean confidence| over the
    reliability bins; None when there are no cases."""
    total = len(confidences)
    if total == 0:
        return None
    return sum(
        b.count / total * abs(b.accuracy - b.mean_confidence)
        for b in reliability_bins(confidences, correct, bins)
        if b.count and b.accuracy is not None and b.mean_confidence is not None
    )
