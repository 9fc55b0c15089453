"""Whether an evaluation shows what CLINICAL.md asks before a benign lesion may end in `self_care`.

"Lesions: self-care needs evidence": for malignant lesions (melanoma, squamous and basal cell carcinoma),
sensitivity of at least 95 % for "`soon` or above, or forwarded", and a negative predictive value of
`self_care` of at least 99.5 %, on at least 200 lesion cases of which at least 30 are malignant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MIN_MALIGNANT_SENSITIVITY = Fraction(95, 100)
MIN_SELF_CARE_NPV = Fraction(995, 1000)
MIN_LESION_CASES = 200
MIN_MALIGNANT_CASES = 30


@dataclass(frozen=True)
class LesionEvidence:
    """The counts of one evaluation on labelled lesion cases, with the model trusted
    (``model.lesion_discharge_validated`` true), which is what a stored record would allow.

    ``malignant_caught``: malignant cases that ended `soon` or above, or forwarded. ``self_care_benign``: cases
    that ended in `self_care` whose diagnosis is not malignant. ``errored_cases``: cases that could not be
    evaluated; ``cases_without_model``: cases the model never saw (rules only, or no photo), which the rules
    forward anyway; ``models``: how many model identities (backend, model id, revision) answered.
    """

    lesion_cases: int
    malignant_cases: int
    malignant_caught: int
    self_care_cases: int
    self_care_benign: int
    errored_cases: int = 0
    cases_without_model: int = 0
    models: int = 1


@dataclass(frozen=True)
class Verdict:
    """``met`` is True only when every threshold holds; otherwise ``reasons`` says, one line each, what did not."""

    met: bool
    reasons: tuple[str, ...]


def lesion_discharge_verdict(evidence: LesionEvidence) -> Verdict:
    """Return whether ``evidence`` meets CLINICAL.md's thresholds for lesion discharge, and why not.

    Pure and exact (the rates are compared as fractions). The point estimates are compared with the thresholds,
    as CLINICAL.md states them; the report shows their 95 % intervals beside them. An evaluation in which some
    cases errored or never reached the model, or whose answers came from several models, does not show what one
    model does, so it does not count either.
    """
    reasons: list[str] = []
    if evidence.lesion_cases < MIN_LESION_CASES:
        reasons.append(f"{evidence.lesion_cases} lesion cases evaluated; at least {MIN_LESION_CASES} are needed")
    if evidence.malignant_cases < MIN_MALIGNANT_CASES:
        reasons.append(
            f"{evidence.malignant_cases} malignant lesion cases; at least {MIN_MALIGNANT_CASES} are needed"
        )
    if evidence.malignant_cases and (
        Fraction(evidence.malignant_caught, evidence.malignant_cases) < MIN_MALIGNANT_SENSITIVITY
    ):
        shown = _percent(evidence.malignant_caught, evidence.malignant_cases)
        reasons.append(
            f"malignant sensitivity (soon or above, or forwarded) is {shown}; "
            f"at least {float(MIN_MALIGNANT_SENSITIVITY):.1%} is needed"
        )
    if evidence.self_care_cases == 0:
        reasons.append("no case ended in self_care, so the negative predictive value of self_care is not shown")
    elif Fraction(evidence.self_care_benign, evidence.self_care_cases) < MIN_SELF_CARE_NPV:
        shown = _percent(evidence.self_care_benign, evidence.self_care_cases)
        reasons.append(
            f"negative predictive value of self_care is {shown}; at least {float(MIN_SELF_CARE_NPV):.1%} is needed"
        )
    if evidence.errored_cases:
        reasons.append(f"{evidence.errored_cases} cases could not be evaluated; the record needs a complete run")
    if evidence.cases_without_model:
        reasons.append(
            f"{evidence.cases_without_model} lesion cases had no model answer (rules only, or no photo); "
            "evaluate a model on cases with photos only"
        )
    if evidence.models > 1:
        reasons.append(f"the answers came from {evidence.models} different models; a record is for one model")
    return Verdict(met=not reasons, reasons=tuple(reasons))


def evidence_from_metrics(metrics: Mapping[str, Any]) -> LesionEvidence:
    """Return the LesionEvidence stored in a report's metrics.json (its ``evidence.counts``).

    Raises KeyError or TypeError when ``metrics`` is not a report of this version.
    """
    counts = metrics["evidence"]["counts"]
    return LesionEvidence(**{name: int(counts[name]) for name in LesionEvidence.__dataclass_fields__})


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}"
