"""assess() and the rule table: the decision's shape, ordering, forwarding, and the table's own invariants."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import triage.rules
from tests.pad_ufes import clinical_md
from triage.rules import (
    CONDITION_TIERS,
    RULES,
    RULESET_VERSION,
    TIERS,
    Case,
    Decision,
    Finding,
    Reason,
    assess,
    assess_json,
    parse_case,
)
from triage.rules.predicates import at_site, extent_is, has, has_any, model_lists, model_top, photo_is, reported
from triage.rules.table import SEVEN_POINT_CHECKLIST
from triage.rules.vocabulary import is_dangerous

from .helpers import case_json, decide, fired

RULES_DIR = Path(triage.rules.__file__).parent


def test_the_public_interface_is_there() -> None:
    assert TIERS == ("emergency", "urgent", "soon", "routine", "self_care")
    assert RULESET_VERSION == "2026.12.0"
    for name in (
        "SYMPTOMS",
        "BODY_SITES",
        "EXTENTS",
        "CaseError",
        "parse_case",
        "assess",
        "assess_json",
        "Reason",
        "Decision",
        "RULES",
        "free_text_flags",
        "CONDITION_TIERS",
        "Case",
    ):
        assert hasattr(triage.rules, name), name


def test_to_dict_is_exactly_the_contract_decision() -> None:
    decision = Decision("urgent", True, (Reason("a.b", "Text", "urgent", "a.b"),), "2026.11.0")
    assert decision.to_dict() == {
        "tier": "urgent",
        "forward_to_clinician": True,
        "reasons": [{"code": "a.b", "text": "Text"}],
        "ruleset_version": "2026.11.0",
    }


def test_assess_json_returns_the_contract_decision() -> None:
    result = assess_json(case_json(symptoms=("fever", "non_blanching_rash"), age=20, model=[("tinea", 0.9)]))
    assert set(result) == {"tier", "forward_to_clinician", "reasons", "ruleset_version"}
    assert result["tier"] == "emergency" and result["forward_to_clinician"] is True
    assert result["reasons"][0] == {
        "code": "red_flag.fever_non_blanching_rash",
        "text": "Fever with a rash that does not fade under pressure",
    }
    assert all(set(reason) == {"code", "text"} for reason in result["reasons"])
    assert result["ruleset_version"] == RULESET_VERSION


def test_reasons_list_every_rule_that_fired_highest_tier_first() -> None:
    decision = decide(
        case_json(age=30, symptoms=("bleeding", "non_blanching_rash", "fever"), model=[("tinea", 0.9)], quality="poor")
    )
    assert [reason.tier for reason in decision.reasons] == sorted(
        (reason.tier for reason in decision.reasons), key=TIERS.index
    )
    assert decision.reasons[0].code == "red_flag.fever_non_blanching_rash"
    assert fired(decision) == {
        "red_flag.fever_non_blanching_rash",
        "red_flag.non_blanching_rash",
        "red_flag.bleeding_lesion",
        "model.photo_poor",
        "model.default_tier.tinea",
    }
    assert all(reason.code == reason.rule_id for reason in decision.reasons)


def test_the_model_never_lowers_a_red_flag_floor() -> None:
    decision = decide(case_json(age=30, symptoms=("non_blanching_rash",), model=[("insect_bite", 1.0)]))
    assert decision.tier == "urgent"


def test_self_care_is_not_forwarded_and_soon_is() -> None:
    assert not decide(case_json(age=30, model=[("tinea", 0.9)])).forward_to_clinician
    assert decide(case_json(age=30, model=[("melanoma", 0.9)])).forward_to_clinician


def test_an_empty_case_is_routine_and_forwarded() -> None:
    decision = assess(Case())
    assert (decision.tier, decision.forward_to_clinician) == ("routine", True)
    assert fired(decision) == {"model.missing"}


def test_a_case_built_in_code_with_nonsense_likelihoods_still_gets_a_safe_decision() -> None:
    decision = assess(Case(differential=(("tinea", float("nan")),), image_quality="good"))
    assert decision.tier == "routine" and decision.forward_to_clinician
    assert assess(Case(differential=(("melanoma", float("nan")),), image_quality="good")).tier == "soon"
    assert assess(Case(differential=(("tinea", 7.0),), image_quality="good")).tier == "self_care"


@pytest.mark.parametrize("condition", sorted(CONDITION_TIERS))
def test_every_condition_as_confident_top_gives_at_least_its_default_tier(condition: str) -> None:
    decision = decide(case_json(age=40, model=[(condition, 0.5)]))
    assert TIERS.index(decision.tier) <= TIERS.index(CONDITION_TIERS[condition])
    assert decision.reasons


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", rule_id) for rule_id in ids)


def test_every_rule_has_a_tier_a_reason_a_source_and_a_readable_condition() -> None:
    for rule in RULES:
        assert rule.tier in TIERS, rule.id
        assert rule.reason and rule.reason[0].isupper(), rule.id
        assert rule.source, rule.id
        assert rule.when.text and "<lambda>" not in rule.when.text, rule.id


def test_there_is_one_default_tier_rule_per_condition() -> None:
    defaults = {
        rule.id.removeprefix("model.default_tier."): rule for rule in RULES if rule.id.startswith("model.default_tier.")
    }
    assert set(defaults) == set(CONDITION_TIERS) - {"other"}
    for condition, rule in defaults.items():
        assert rule.tier == CONDITION_TIERS[condition]
        assert ("0.2" if is_dangerous(condition) else "top condition") in rule.when.text


def test_the_seven_point_checklist_has_nice_weights() -> None:
    assert SEVEN_POINT_CHECKLIST == {
        "changing_size": 2,
        "changing_shape": 2,
        "changing_colour": 2,
        "diameter_7mm_or_more": 1,
        "inflammation": 1,
        "oozing": 1,
        "change_in_sensation": 1,
    }


def test_the_condition_vocabulary_matches_clinical_md() -> None:
    vocabulary = clinical_md().read_text().split("## Condition vocabulary")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| ([a-z_]+)", vocabulary, flags=re.MULTILINE)
    assert dict(rows) == CONDITION_TIERS


KEPT_LIBRARIES = {"snowballstemmer", "rapidfuzz"}  # the extractor's stemmer and typo tolerance (base dependencies)


def test_the_rules_package_imports_only_itself_the_standard_library_and_the_kept_text_libraries() -> None:
    for path in RULES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert name.startswith("triage.rules") or top in sys.stdlib_module_names | KEPT_LIBRARIES, (
                    path.name,
                    name,
                )


@pytest.mark.parametrize(
    "build",
    [
        lambda: has("fevr"),
        lambda: has_any("blisters", "blistres"),
        lambda: model_lists("melanomma"),
        lambda: model_top("tinia"),
        lambda: extent_is("whole_body"),
        lambda: at_site("elbow"),
        lambda: photo_is("blurry"),
        lambda: reported("smoker"),
    ],
)
def test_a_typo_in_the_table_fails_at_once_instead_of_never_firing(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="not a"):
        build()


def test_a_reason_the_words_made_fire_carries_them_as_evidence_and_others_do_not() -> None:
    text = "I'm on chemo and now there's a band of blisters round my side, no fever"
    decision = decide(case_json(age=60, text=text, model=[("herpes_zoster", 0.6)]))
    by_code = {reason.code: reason for reason in decision.reasons}
    evidence = by_code["modifier.immunosuppressed_infection"].evidence
    assert [(f.concept, f.text) for f in evidence] == [("immunosuppressed", "chemo")]
    assert by_code["model.default_tier.herpes_zoster"].evidence == ()  # the model alone made it fire
    assert "evidence" not in by_code["model.default_tier.herpes_zoster"].to_dict()
    assert by_code["modifier.immunosuppressed_infection"].to_dict()["evidence"] == [
        {"concept": "immunosuppressed", "text": "chemo", "start": 7, "end": 12}
    ]
    assert "fever" not in {f.concept for f in decision.findings}, "'no fever' is negated"


def test_an_answer_that_already_makes_a_rule_fire_gets_no_evidence() -> None:
    decision = decide(case_json(age=60, immunosuppressed=True, text="on chemo", model=[("herpes_zoster", 0.6)]))
    reason = next(r for r in decision.reasons if r.code == "modifier.immunosuppressed_infection")
    assert reason.evidence == ()


def test_the_decision_exposes_every_finding_with_its_span_for_highlighting() -> None:
    text = "Fièvre à 39,5 et des taches qui ne s'effacent pas sous un verre"
    decision = decide(case_json(age=20, text=text, model=[("viral_exanthem", 0.7)]))
    concepts = {f.concept: f for f in decision.findings}
    assert {"fever", "non_blanching_rash"} <= set(concepts)
    for finding in decision.findings:
        assert text[finding.start : finding.end] == finding.text
    assert decision.tier == "emergency"


def test_extra_findings_from_another_reader_can_only_add() -> None:
    base = parse_case(case_json(age=30, text="a rash on my arm", model=[("contact_dermatitis", 0.9)]))
    assert assess(base).tier == "self_care"
    model_read = Finding("difficulty_breathing", 0, 6, "a rash", "en", source="model")
    raised = assess(base, [model_read])
    assert raised.tier == "emergency"
    top = raised.reasons[0]
    assert top.code == "red_flag.breathing_difficulty_with_rash" and top.evidence == (model_read,)
    assert assess(base, [Finding("made_up_concept", 0, 1, "a", "en")]) == assess(base), "unknown concepts ignored"


def test_assess_json_keeps_the_contract_shape_with_evidence() -> None:
    result = assess_json(case_json(age=30, text="I can't breathe", model=[("urticaria", 0.9)]))
    assert set(result) == {"tier", "forward_to_clinician", "reasons", "ruleset_version"}
    assert result["reasons"][0]["evidence"][0]["text"] == "can't breathe"
