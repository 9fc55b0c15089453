"""The lesion-discharge verdict at each of CLINICAL.md's thresholds, on both sides of it."""

from __future__ import annotations

import dataclasses

import pytest

from triage.evaluate import (
    MIN_LESION_CASES,
    MIN_MALIGNANT_CASES,
    LesionEvidence,
    evidence_from_metrics,
    lesion_discharge_verdict,
)

# 200 lesion cases, 40 malignant of which 38 caught (95.0 % exactly), 200 self_care of which 199 benign (99.5 %).
PASSING = LesionEvidence(
    lesion_cases=400, malignant_cases=40, malignant_caught=38, self_care_cases=200, self_care_benign=199
)


def test_figures_exactly_at_the_thresholds_are_met() -> None:
    verdict = lesion_discharge_verdict(PASSING)
    assert verdict.met
    assert verdict.reasons == ()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"malignant_caught": 37}, "sensitivity (soon or above, or forwarded) is 37/40 = 92.5%"),
        ({"self_care_benign": 198}, "negative predictive value of self_care is 198/200 = 99.0%"),
        ({"lesion_cases": MIN_LESION_CASES - 1}, "199 lesion cases evaluated; at least 200"),
        ({"malignant_cases": MIN_MALIGNANT_CASES - 1, "malignant_caught": 29}, "29 malignant lesion cases"),
        ({"self_care_cases": 0, "self_care_benign": 0}, "no case ended in self_care"),
        ({"errored_cases": 1}, "1 cases could not be evaluated"),
        ({"cases_without_model": 3}, "3 lesion cases had no model answer"),
        ({"models": 2}, "from 2 different models"),
    ],
)
def test_each_shortfall_is_not_met_and_says_why(change: dict[str, int], words: str) -> None:
    verdict = lesion_discharge_verdict(dataclasses.replace(PASSING, **change))
    assert not verdict.met
    assert len(verdict.reasons) == 1
    assert words in verdict.reasons[0]


def test_every_shortfall_is_listed_at_once() -> None:
    verdict = lesion_discharge_verdict(LesionEvidence(10, 2, 1, 5, 4))
    assert not verdict.met
    assert len(verdict.reasons) == 4


def test_the_rates_are_compared_exactly_not_in_floating_point() -> None:
    # 995/1000 is exactly the threshold; 0.995 in floating point is slightly below it.
    exact = dataclasses.replace(PASSING, self_care_cases=1000, self_care_benign=995)
    assert lesion_discharge_verdict(exact).met
    below = dataclasses.replace(PASSING, self_care_cases=100_000, self_care_benign=99_499)
    assert not lesion_discharge_verdict(below).met


def test_evidence_is_read_back_from_a_reports_metrics() -> None:
    metrics = {"evidence": {"met": True, "reasons": [], "counts": dataclasses.asdict(PASSING)}}
    assert evidence_from_metrics(metrics) == PASSING
    with pytest.raises(KeyError):
        evidence_from_metrics({"evidence": {"counts": {}}})
