"""The figures of an evaluation, from its per-case results: what goes into metrics.json and the report.

Headline figures are over the evaluated lesion cases (CLINICAL.md's lesion conditions); a case that errored
counts in none. "Caught" means `soon` or above, or forwarded to a clinician.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any

from triage.evaluate.evidence import LesionEvidence, lesion_discharge_verdict
from triage.evaluate.labels import AGE_BANDS, LESION_CONDITIONS, SKIN_TYPES, UNKNOWN, age_band, skin_type_label
from triage.evaluate.metrics import Proportion, expected_calibration_error, reliability_bins, top_k_hit
from triage.evaluate.results import FLAGS, CaseResult
from triage.rules import TIERS

SOON_OR_ABOVE = frozenset({"emergency", "urgent", "soon"})


def flag_name(validated: bool) -> str:
    """Return the metrics.json name of a flag value: ``validated`` or ``unvalidated``."""
    return "validated" if validated else "unvalidated"


def caught(result: CaseResult, validated: bool) -> bool:
    """Return True when the case ended `soon` or above, or forwarded to a clinician."""
    outcome = result.outcome(validated)
    return outcome.tier in SOON_OR_ABOVE or outcome.forwarded


def headline(results: Sequence[CaseResult], malignant: Collection[str], validated: bool) -> dict[str, Any]:
    """Return the lesion figures of ``results`` (evaluated cases only) with the flag ``validated``."""
    lesions = [r for r in results if r.diagnosis in LESION_CONDITIONS]
    bad = [r for r in lesions if r.diagnosis in malignant]
    self_care = [r for r in lesions if r.outcome(validated).tier == "self_care"]
    kept_out = [r for r in lesions if not r.outcome(validated).forwarded]
    return {
        "lesion_cases": len(lesions),
        "malignant_cases": len(bad),
        "malignant_caught": Proportion(sum(caught(r, validated) for r in bad), len(bad)).as_dict(),
        "malignant_soon_or_above": Proportion(
            sum(r.outcome(validated).tier in SOON_OR_ABOVE for r in bad), len(bad)
        ).as_dict(),
        "self_care_npv": Proportion(sum(r.diagnosis not in malignant for r in self_care), len(self_care)).as_dict(),
        "self_care_rate": Proportion(len(self_care), len(lesions)).as_dict(),
        "not_forwarded_rate": Proportion(len(kept_out), len(lesions)).as_dict(),
    }


def calibration(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Return the top-1 calibration of the cases with a model answer: ECE and the reliability bins."""
    answered = [r for r in results if r.differential]
    confidences = [r.differential[0][1] for r in answered]
    correct = [r.differential[0][0] == r.diagnosis for r in answered]
    return {
        "cases": len(answered),
        "ece": expected_calibration_error(confidences, correct),
        "bins": [vars(b) for b in reliability_bins(confidences, correct)],
    }


def class_figures(results: Sequence[CaseResult], malignant: Collection[str]) -> dict[str, Any]:
    """Return, per diagnosis: case count, top-1 and top-3 of the differential, and per flag value the shares
    that ended `soon` or above, caught and `self_care`."""
    figures: dict[str, Any] = {}
    for diagnosis in sorted({r.diagnosis for r in results}):
        group = [r for r in results if r.diagnosis == diagnosis]
        answered = [r for r in group if r.differential]
        entry: dict[str, Any] = {
            "cases": len(group),
            "malignant": diagnosis in malignant,
            "top1": Proportion(sum(top_k_hit(diagnosis, r.differential, 1) for r in answered), len(answered)).as_dict(),
            "top3": Proportion(sum(top_k_hit(diagnosis, r.differential, 3) for r in answered), len(answered)).as_dict(),
        }
        for validated in FLAGS:
            entry[flag_name(validated)] = {
                "soon_or_above": Proportion(
                    sum(r.outcome(validated).tier in SOON_OR_ABOVE for r in group), len(group)
                ).as_dict(),
                "caught": Proportion(sum(caught(r, validated) for r in group), len(group)).as_dict(),
                "self_care": Proportion(
                    sum(r.outcome(validated).tier == "self_care" for r in group), len(group)
                ).as_dict(),
            }
        figures[diagnosis] = entry
    return figures


def tier_table(results: Sequence[CaseResult], validated: bool) -> dict[str, dict[str, int]]:
    """Return diagnosis -> tier -> count (every tier present, zeros included)."""
    table: dict[str, dict[str, int]] = {}
    for diagnosis in sorted({r.diagnosis for r in results}):
        counts = Counter(r.outcome(validated).tier for r in results if r.diagnosis == diagnosis)
        table[diagnosis] = {tier: counts.get(tier, 0) for tier in TIERS}
    return table


def strata(results: Sequence[CaseResult], malignant: Collection[str]) -> dict[str, Any]:
    """Return every headline figure, top-1 and ECE per Fitzpatrick skin type and per age band."""
    groupings: dict[str, tuple[Callable[[CaseResult], str], tuple[str, ...]]] = {
        "skin_type": (lambda r: skin_type_label(r.skin_type), (*SKIN_TYPES, UNKNOWN)),
        "age_band": (lambda r: age_band(r.age_years), (*(label for label, _, _ in AGE_BANDS), UNKNOWN)),
    }
    out: dict[str, Any] = {}
    for name, (key_of, labels) in groupings.items():
        out[name] = {}
        for label in labels:
            group = [r for r in results if key_of(r) == label]
            if not group:
                continue
            answered = [r for r in group if r.differential]
            out[name][label] = {
                "cases": len(group),
                "top1": Proportion(
                    sum(top_k_hit(r.diagnosis, r.differential, 1) for r in answered), len(answered)
                ).as_dict(),
                "ece": calibration(group)["ece"],
                **{flag_name(v): headline(group, malignant, v) for v in FLAGS},
            }
    return out


def evidence(results: Sequence[CaseResult], errored: int, malignant: Collection[str]) -> LesionEvidence:
    """Return the counts the lesion-discharge verdict is made on: the flag true, lesion cases only."""
    lesions = [r for r in results if r.diagnosis in LESION_CONDITIONS]
    bad = [r for r in lesions if r.diagnosis in malignant]
    self_care = [r for r in lesions if r.outcome(True).tier == "self_care"]
    return LesionEvidence(
        lesion_cases=len(lesions),
        malignant_cases=len(bad),
        malignant_caught=sum(caught(r, True) for r in bad),
        self_care_cases=len(self_care),
        self_care_benign=sum(r.diagnosis not in malignant for r in self_care),
        errored_cases=errored,
        cases_without_model=sum(not r.model_used for r in lesions),
        models=len({(r.backend, r.model_id, r.model_revision) for r in results if r.model_used}),
    )


def summarise(all_results: Sequence[CaseResult], malignant: Collection[str]) -> dict[str, Any]:
    """Return every figure of a run (metrics.json without the run's description)."""
    results = [r for r in all_results if not r.error]
    errored = [r for r in all_results if r.error]
    counts = evidence(results, len(errored), malignant)
    verdict = lesion_discharge_verdict(counts)
    models = sorted({(r.backend, r.model_id, r.model_revision) for r in results if r.model_used})
    return {
        "cases": {
            "total": len(all_results),
            "evaluated": len(results),
            "errored": len(errored),
            "model_used": sum(r.model_used for r in results),
            "errors": dict(Counter(r.error.split(":")[0] for r in errored)),
        },
        "models": [{"backend": b, "model_id": m, "model_revision": v} for b, m, v in models],
        "ruleset_versions": sorted({r.ruleset_version for r in results}),
        "headline": {flag_name(v): headline(results, malignant, v) for v in FLAGS},
        "classes": class_figures(results, malignant),
        "calibration": calibration(results),
        "strata": strata(results, malignant),
        "tiers": {flag_name(v): tier_table(results, v) for v in FLAGS},
        "evidence": {"met": verdict.met, "reasons": list(verdict.reasons), "counts": vars(counts)},
    }
