"""A simulated model: a known confusion matrix and confidence distribution, to see what the rules do with it.

The file (examples in triage/evaluate/examples/, format in docs/evaluation.md)::

    {"name": "70% accurate", "seed": 1,
     "confusion": {"melanoma": {"melanoma": 0.7, "melanocytic_nevus": 0.3}, ...},
     "confidence": {"kind": "beta", "a": 5, "b": 2},
     "image_quality": "good"}

For a case whose diagnosis is D, the top condition is drawn from row D of ``confusion`` and its likelihood
from ``confidence``; the rest of the likelihood is spread evenly over the other classes the matrix names.
Draws are seeded by the file's seed and the case id, so a case gets the same answer in every run and order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_server.api import AnalyzeResponse, DifferentialItem
from triage.evaluate.labels import BadInput, LabelledCase, check_condition_keys

QUALITIES = ("good", "poor", "not_skin")
MAX_SPEC_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Confidence:
    """The distribution of the top condition's likelihood: ``fixed`` (low), ``uniform`` or ``beta`` on low..high."""

    kind: str
    low: float
    high: float
    a: float = 1.0
    b: float = 1.0

    def draw(self, rng: random.Random) -> float:
        """Return one likelihood drawn from this distribution."""
        if self.kind == "fixed":
            return self.low
        unit = rng.random() if self.kind == "uniform" else rng.betavariate(self.a, self.b)
        return self.low + (self.high - self.low) * unit


@dataclass(frozen=True)
class SimulatedModel:
    """A model whose answers are drawn from a confusion matrix; ``digest`` identifies the file's content."""

    name: str
    seed: int
    confusion: Mapping[str, Mapping[str, float]]
    confidence: Confidence
    image_quality: str
    digest: str

    @property
    def classes(self) -> tuple[str, ...]:
        """Return every condition the matrix names (as a true or a predicted class), sorted."""
        return tuple(sorted({*self.confusion, *(key for row in self.confusion.values() for key in row)}))

    def answer(self, case: LabelledCase) -> AnalyzeResponse:
        """Return the simulated model's response for ``case``. Raises BadInput when its diagnosis has no row."""
        row = self.confusion.get(case.diagnosis)
        if row is None:
            raise BadInput(f"simulated model {self.name!r}: no confusion row for diagnosis {case.diagnosis}")
        rng = random.Random(f"{self.seed}:{case.case_id}")
        predicted = rng.choices(list(row), weights=list(row.values()))[0]
        others = [key for key in self.classes if key != predicted]
        # Below 1/len(classes) the drawn class would no longer be on top; the simulation is about that class.
        top = min(1.0, max(self.confidence.draw(rng), 1 / len(self.classes)))
        rest = (1 - top) / len(others) if others else 0.0
        differential = [DifferentialItem(condition=predicted, likelihood=round(top, 6))] + [
            DifferentialItem(condition=key, likelihood=round(rest, 6)) for key in others
        ]
        return AnalyzeResponse(
            differential=differential,
            image_quality=[self.image_quality],  # type: ignore[list-item]  # checked against QUALITIES on load
            backend="simulated",
            model_id=self.name,
            model_revision=self.digest,
        )


def load_simulated_model(path: Path) -> SimulatedModel:
    """Return the simulated model described by the JSON file at ``path``. Raises BadInput naming the problem."""
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise BadInput(f"{path}: larger than 1 MiB; a confusion matrix is small")
        raw = path.read_bytes()
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        spec = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInput(f"{path}: not valid JSON") from None
    if not isinstance(spec, dict):
        raise BadInput(f"{path}: expected a JSON object with name, confusion and confidence")
    where = path.name
    confusion = _confusion(spec.get("confusion"), where)
    quality = spec.get("image_quality", "good")
    if quality not in QUALITIES:
        raise BadInput(f"{where}: image_quality: expected one of {', '.join(QUALITIES)}")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise BadInput(f"{where}: seed: expected an integer")
    name = spec.get("name", path.stem)
    if not isinstance(name, str) or not 0 < len(name) <= 100:
        raise BadInput(f"{where}: name: expected a string of 1 to 100 characters")
    return SimulatedModel(
        name=name,
        seed=seed,
        confusion=confusion,
        confidence=_confidence(spec.get("confidence"), where),
        image_quality=quality,
        digest=hashlib.sha256(raw).hexdigest()[:12],
    )


def _confusion(value: object, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict) or not value:
        raise BadInput(f"{where}: confusion: expected an object of rows, true diagnosis -> {{predicted: share}}")
    check_condition_keys(list(value), f"{where}: confusion")
    rows: dict[str, dict[str, float]] = {}
    for true_key, row in value.items():
        at = f"{where}: confusion.{true_key}"
        if not isinstance(row, dict) or not row:
            raise BadInput(f"{at}: expected an object of predicted condition -> share")
        check_condition_keys(list(row), at)
        shares = list(row.values())
        if not all(_number(share) and share >= 0 for share in shares):
            raise BadInput(f"{at}: shares must be numbers of at least 0")
        if not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
            raise BadInput(f"{at}: shares add up to {sum(shares):g}, not 1")
        rows[true_key] = {key: float(share) for key, share in row.items() if share > 0}
    return rows


def _confidence(value: object, where: str) -> Confidence:
    at = f"{where}: confidence"
    if not isinstance(value, dict):
        raise BadInput(f"{at}: expected an object, e.g. {{\"kind\": \"fixed\", \"value\": 0.7}}")
    kind = value.get("kind")
    numbers = {key: value[key] for key in ("value", "low", "high", "a", "b") if key in value}
    if not all(_number(number) for number in numbers.values()):
        raise BadInput(f"{at}: value, low, high, a and b must be numbers")
    if kind == "fixed":
        fixed = numbers.get("value")
        if fixed is None or not 0 < fixed <= 1:
            raise BadInput(f"{at}: fixed needs a value above 0 and at most 1")
        return Confidence("fixed", fixed, fixed)
    if kind not in ("uniform", "beta"):
        raise BadInput(f"{at}: kind: expected fixed, uniform or beta")
    low, high = numbers.get("low", 0.0), numbers.get("high", 1.0)
    if not 0 <= low <= high <= 1:
        raise BadInput(f"{at}: expected 0 <= low <= high <= 1")
    a, b = numbers.get("a", 1.0), numbers.get("b", 1.0)
    if kind == "beta" and not (0 < a <= 1000 and 0 < b <= 1000):
        raise BadInput(f"{at}: beta needs a and b above 0 (and at most 1000)")
    return Confidence(kind, low, high, a, b)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
