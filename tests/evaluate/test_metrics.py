"""The statistics against values worked out by hand, and the figures of results built by hand."""

from __future__ import annotations

import math

import pytest

from tests.evaluate.helpers import result
from triage.evaluate.metrics import (
    Proportion,
    expected_calibration_error,
    reliability_bins,
    top_k_hit,
    wilson_interval,
)
from triage.evaluate.summary import calibration, class_figures, headline, strata, summarise, tier_table

MALIGNANT = ("melanoma", "squamous_cell_carcinoma", "basal_cell_carcinoma")


def test_wilson_interval_of_8_of_10_matches_the_formula_worked_by_hand() -> None:
    # p = 0.8, z^2 = 3.8415: centre 0.99207 / 1.38415 = 0.71674, half 0.31362 / 1.38415 = 0.22658.
    low, high = wilson_interval(8, 10) or (0, 0)
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)


def test_wilson_interval_at_the_ends_is_exact() -> None:
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)


def test_wilson_interval_of_nothing_is_none_and_impossible_counts_are_refused() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="between 0 and total"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(-1, 10)


def test_proportion_reports_value_and_interval_and_none_when_empty() -> None:
    assert Proportion(3, 4).as_dict()["value"] == 0.75
    assert Proportion(0, 0).as_dict() == {"successes": 0, "total": 0, "value": None, "low": None, "high": None}


def test_expected_calibration_error_matches_the_sum_worked_by_hand() -> None:
    # bins 0.9-1.0: 2 cases, mean 0.95, right 0.5 -> 0.45 * 2/5; 0.5-0.6: 2 cases, 0.55, 1.0 -> 0.45 * 2/5;
    # 0.1-0.2: 1 case, 0.15, 0.0 -> 0.15 * 1/5. Sum 0.39.
    confidences = [0.95, 0.95, 0.55, 0.55, 0.15]
    correct = [True, False, True, True, False]
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.39)


def test_a_perfectly_calibrated_set_has_no_calibration_error() -> None:
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) is None


def test_reliability_bins_put_the_ends_in_the_first_and_last_bin() -> None:
    bins = reliability_bins([0.0, 1.0, 0.1], [False, True, True])
    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert bins[-1].accuracy == 1.0 and bins[0].accuracy == 0.0
    with pytest.raises(ValueError):
        reliability_bins([1.5], [True])
    with pytest.raises(ValueError):
        reliability_bins([0.5], [])


def test_top_k_reads_the_differential_in_its_order() -> None:
    differential = (("melanoma", 0.5), ("melanocytic_nevus", 0.3), ("dermatofibroma", 0.1), ("other", 0.1))
    assert top_k_hit("melanoma", differential, 1)
    assert not top_k_hit("dermatofibroma", differential, 1)
    assert top_k_hit("dermatofibroma", differential, 3)
    assert not top_k_hit("other", differential, 3)
    assert not top_k_hit("melanoma", (), 3)


def test_headline_counts_sensitivity_npv_and_discharge_by_hand() -> None:
    results = [
        result("melanoma", "soon", forwarded=True),  # caught
        result("squamous_cell_carcinoma", "routine", forwarded=True),  # caught: forwarded
        result("basal_cell_carcinoma", "routine", forwarded=False),  # missed
        result("basal_cell_carcinoma", "self_care"),  # missed, and a self_care that is malignant
        result("melanocytic_nevus", "self_care"),
        result("seborrheic_keratosis", "self_care"),
        result("seborrheic_keratosis", "self_care"),
        result("actinic_keratosis", "routine", forwarded=True),
        result("psoriasis", "self_care"),  # not a lesion: in no lesion figure
    ]
    figures = headline(results, MALIGNANT, validated=False)
    assert figures["lesion_cases"] == 8 and figures["malignant_cases"] == 4
    assert figures["malignant_caught"]["successes"] == 2 and figures["malignant_caught"]["total"] == 4
    assert figures["malignant_soon_or_above"]["successes"] == 1
    assert (figures["self_care_npv"]["successes"], figures["self_care_npv"]["total"]) == (3, 4)
    assert (figures["self_care_rate"]["successes"], figures["self_care_rate"]["total"]) == (4, 8)
    assert figures["not_forwarded_rate"]["successes"] == 5


def test_the_flag_true_figures_come_from_the_second_decision() -> None:
    results = [result("melanoma", "self_care", validated_tier="soon"), result("melanocytic_nevus", "routine",
                                                                               validated_tier="self_care")]
    before = headline(results, MALIGNANT, validated=False)
    after = headline(results, MALIGNANT, validated=True)
    assert before["malignant_caught"]["successes"] == 0 and after["malignant_caught"]["successes"] == 1
    assert before["self_care_npv"]["value"] == 0.0 and after["self_care_npv"]["value"] == 1.0
    assert tier_table(results, True)["melanoma"]["soon"] == 1


def test_class_figures_and_calibration_use_only_cases_with_a_model_answer() -> None:
    results = [
        result("melanoma", "soon", differential=(("melanoma", 0.8), ("melanocytic_nevus", 0.2))),
        result("melanoma", "soon", differential=(("melanocytic_nevus", 0.6), ("dermatofibroma", 0.3),
                                                 ("melanoma", 0.1))),
        result("melanoma", "routine", forwarded=True),  # no model answer
    ]
    figures = class_figures(results, MALIGNANT)["melanoma"]
    assert figures["cases"] == 3
    assert (figures["top1"]["successes"], figures["top1"]["total"]) == (1, 2)
    assert figures["top3"]["successes"] == 2
    calibrated = calibration(results)
    assert calibrated["cases"] == 2
    # 0.8 right (bin 0.8-0.9), 0.6 wrong (bin 0.6-0.7): (0.2 + 0.6) / 2.
    assert calibrated["ece"] == pytest.approx(0.4)


def test_strata_split_by_skin_type_and_age_band_and_skip_empty_groups() -> None:
    results = [
        result("melanoma", "soon", forwarded=True, skin_type=1, age=30),
        result("melanoma", "self_care", skin_type=1, age=70),
        result("melanocytic_nevus", "self_care", skin_type=None, age=None),
    ]
    groups = strata(results, MALIGNANT)
    assert set(groups["skin_type"]) == {"I", "unknown"}
    assert groups["skin_type"]["I"]["unvalidated"]["malignant_caught"]["value"] == 0.5
    assert set(groups["age_band"]) == {"16-39", "65+", "unknown"}
    assert groups["age_band"]["65+"]["validated"]["self_care_npv"]["value"] == 0.0


def test_summary_leaves_errored_cases_out_of_every_figure() -> None:
    good = result("melanoma", "soon", forwarded=True)
    broken = result("melanoma", "self_care")
    broken = type(broken)(**{**vars(broken), "outcomes": (), "error": "photo missing: x.jpg"})
    summary = summarise([good, broken], MALIGNANT)
    assert summary["cases"] == {"total": 2, "evaluated": 1, "errored": 1, "model_used": 0,
                                "errors": {"photo missing": 1}}  # fmt: skip
    assert summary["headline"]["unvalidated"]["malignant_caught"]["total"] == 1
    assert summary["evidence"]["counts"]["errored_cases"] == 1
    assert not math.isnan(summary["headline"]["validated"]["malignant_caught"]["value"])
