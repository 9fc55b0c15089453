"""Turning per-condition scores into a differential: calibration, temperature, softmax. Pure Python."""

from __future__ import annotations

import math
from collections.abc import Mapping

from model_server.api import CONDITIONS, DifferentialItem

_UNITS = 1_000_000


def candidate_keys(requested: list[str] | None) -> list[str]:
    """The condition keys to rank: the request's candidates or all of CONDITIONS, always with `other` last."""
    keys = [k for k in (requested or list(CONDITIONS)) if k != "other"]
    return [*dict.fromkeys(keys), "other"]


def to_differential(
    scores: Mapping[str, float],
    baseline: Mapping[str, float] | None = None,
    temperature: float = 1.0,
) -> list[DifferentialItem]:
    """Softmax of `(score - baseline) / temperature` over the keys of `scores`, sorted by likelihood, then key.

    Always a valid distribution: non-finite scores count as the lowest finite score, and the likelihoods are
    rounded to 6 decimals so that they still sum to 1 and keep their order. Raises ValueError for no scores or a
    temperature <= 0.
    """
    if not scores:
        raise ValueError("no scores to rank")
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    base = baseline or {}
    raw = {key: value - base.get(key, 0.0) for key, value in scores.items()}
    finite = [v for v in raw.values() if math.isfinite(v)]
    floor = min(finite) if finite else 0.0
    logits = {k: (v if math.isfinite(v) else floor) / temperature for k, v in raw.items()}
    top = max(logits.values())
    weights = {k: math.exp(v - top) for k, v in logits.items()}
    total = sum(weights.values())
    # Largest-remainder rounding to millionths: sums to exactly 1e6 units and keeps the order of the exact values.
    exact = sorted(((k, w / total * _UNITS) for k, w in weights.items()), key=lambda kv: (-kv[1], kv[0]))
    units = [math.floor(value) for _, value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - units[i]), i))
    for index in by_remainder[: _UNITS - sum(units)]:
        units[index] += 1
    ordered = sorted(((key, n) for (key, _), n in zip(exact, units, strict=True)), key=lambda kv: (-kv[1], kv[0]))
    return [DifferentialItem(condition=key, likelihood=n / _UNITS) for key, n in ordered]
