"""The rule table: CLINICAL.md as data a dermatologist can review, one row per rule.

Each rule sets a floor: when its condition holds, the decision's tier is at least the rule's tier. The decision
takes the highest tier of all rules that fire and lists every one of them as a reason. A rule marked
``forward`` also sends the case to a clinician whatever the tier (emergency, urgent and soon always go).
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.rules.predicates import (
    Condition,
    age_under,
    at_site,
    checklist_at_least,
    discharge_not_validated,
    extent_is,
    has,
    has_any,
    lesion_case,
    model_lists,
    model_top,
    model_top_is_one_of,
    model_uncertain,
    no_model_output,
    photo_is,
    photo_quality_not_given,
    reported,
    skipped_any,
    text_mentions,
)
from triage.rules.vocabulary import CONDITIONS, OTHER, ConditionInfo, is_dangerous

RULESET_VERSION = "2026.12.0"


@dataclass(frozen=True)
class Rule:
    """One row of the table: when ``when`` holds, the tier is at least ``tier``, for ``reason``."""

    id: str
    when: Condition
    tier: str
    reason: str
    source: str
    forward: bool = False


_POLICY = "CLINICAL.md model output policy"
_MODIFIERS = "CLINICAL.md patient modifiers"
_RED_FLAGS = "CLINICAL.md red flags"
_LESIONS = "CLINICAL.md lesions: self-care needs evidence"

BENIGN_LESIONS = ("melanocytic_nevus", "seborrheic_keratosis", "dermatofibroma", "vascular_lesion")
MALIGNANT_LESIONS = (
    "melanoma",
    "squamous_cell_carcinoma",
    "basal_cell_carcinoma",
    "actinic_keratosis",
    "kaposi_sarcoma",
)
LESION_CONDITIONS = BENIGN_LESIONS + MALIGNANT_LESIONS
"""CLINICAL.md's lesion conditions: the benign ones, and those that are or may become skin cancer."""
CHANGE_OR_BLEEDING_QUESTIONS = ("changing_size", "changing_shape", "changing_colour", "bleeding")

SEVEN_POINT_CHECKLIST: dict[str, int] = {
    "changing_size": 2,
    "changing_shape": 2,
    "changing_colour": 2,
    "diameter_7mm_or_more": 1,
    "inflammation": 1,
    "oozing": 1,
    "change_in_sensation": 1,
}
"""NICE NG12 weighted 7-point checklist: major features 2 points, minor features 1 point."""

_near_eye = has("near_eye") | at_site("near_eye")
_widespread = extent_is("large_area", "most_of_body", or_unknown=True, meaning="a widespread rash")
_foot_wound = (at_site("feet") | text_mentions("foot")) & (
    has_any("non_healing", "bleeding", "oozing", "blisters")
    | text_mentions("wound")
    | model_lists("diabetic_foot_ulcer", "pressure_ulcer", "burn")
)

RED_FLAGS: tuple[Rule, ...] = (
    Rule(
        id="red_flag.angioedema_breathing",
        when=has("swelling_face_lips_tongue", "difficulty_breathing"),
        tier="emergency",
        reason="Swelling of the face, lips or tongue with difficulty breathing (possible anaphylaxis)",
        source="SDCEP angioedema guidance",
    ),
    Rule(
        id="red_flag.angioedema_very_unwell",
        when=has("swelling_face_lips_tongue", "feeling_very_unwell"),
        tier="emergency",
        reason="Swelling of the face, lips or tongue while feeling very unwell (possible anaphylaxis)",
        source="SDCEP angioedema guidance",
    ),
    Rule(
        id="red_flag.breathing_difficulty_with_rash",
        when=has("difficulty_breathing").described_as("difficulty_breathing (every case is a rash or skin complaint)"),
        tier="emergency",
        reason="Difficulty breathing with a rash",
        source=_RED_FLAGS,
    ),
    Rule(
        id="red_flag.fever_non_blanching_rash",
        when=has("fever", "non_blanching_rash"),
        tier="emergency",
        reason="Fever with a rash that does not fade under pressure",
        source="NICE CG102",
    ),
    Rule(
        id="red_flag.mucosal_blisters_or_peeling",
        when=has_any("blisters", "skin_peeling") & has("mucosal_involvement"),
        tier="emergency",
        reason="Blisters or peeling skin with sores in the mouth, eyes or genitals (possible SJS/TEN, especially "
        "after a new medicine)",
        source="BAD SJS/TEN guideline 2016",
    ),
    Rule(
        id="red_flag.severe_pain_rapid_spread",
        when=has("severe_pain", "rapidly_spreading"),
        tier="emergency",
        reason="Severe pain with rapidly spreading redness (possible necrotising fasciitis)",
        source="NICE NG141",
    ),
    Rule(
        id="red_flag.spreading_fever_very_unwell",
        when=has("rapidly_spreading", "fever", "feeling_very_unwell"),
        tier="emergency",
        reason="Spreading redness with fever and feeling very unwell (possible sepsis)",
        source="NICE NG141; NICE sepsis guidance",
    ),
    Rule(
        id="red_flag.child_fever_skin_peeling",
        when=has("fever", "skin_peeling") & age_under(16, "a child"),
        tier="emergency",
        reason="Fever with peeling skin in a child, or a patient whose age is not known (possible "
        "staphylococcal scalded skin)",
        source=_RED_FLAGS,
    ),
    Rule(
        id="red_flag.non_blanching_rash",
        when=has("non_blanching_rash"),
        tier="urgent",
        reason="A rash that does not fade under pressure",
        source="NICE CG102",
    ),
    Rule(
        id="red_flag.near_eye_blisters_or_pain",
        when=_near_eye & has_any("blisters", "pain", "severe_pain"),
        tier="urgent",
        reason="Blisters or pain near the eye (possible shingles of the eye or orbital cellulitis)",
        source=_RED_FLAGS,
    ),
    Rule(
        id="red_flag.erythroderma",
        when=extent_is("most_of_body"),
        tier="urgent",
        reason="Red skin over most of the body (erythroderma)",
        source=_RED_FLAGS,
    ),
    Rule(
        id="red_flag.fever_rapid_spread",
        when=has("fever", "rapidly_spreading"),
        tier="urgent",
        reason="Fever with rapidly spreading redness or rash",
        source="NICE NG141",
    ),
    Rule(
        id="red_flag.fever_new_medication_widespread",
        when=has("fever", "new_medication") & _widespread,
        tier="urgent",
        reason="Fever and a widespread rash after a new medicine (possible DRESS)",
        source=_RED_FLAGS,
    ),
    Rule(
        id="red_flag.infant_fever",
        when=has("fever") & age_under(0.25, "an infant under 3 months"),
        tier="urgent",
        reason="Fever in a baby under 3 months old, or a patient whose age is not known",
        source=f"{_RED_FLAGS}; {_MODIFIERS}",
    ),
    Rule(
        id="red_flag.bleeding_lesion",
        when=has("bleeding"),
        tier="soon",
        reason="A bleeding skin lesion",
        source="NICE NG12",
    ),
    Rule(
        id="red_flag.non_healing_lesion",
        when=has("non_healing"),
        tier="soon",
        reason="A skin lesion that has not healed in more than 4 weeks",
        source="NICE NG12",
    ),
    Rule(
        id="checklist.melanoma_7_point",
        when=checklist_at_least("weighted 7-point checklist", SEVEN_POINT_CHECKLIST, 3, "change_in_sensation"),
        tier="soon",
        reason="Mole changes scoring 3 or more on the weighted 7-point checklist (possible melanoma)",
        source="NICE NG12 weighted 7-point checklist",
    ),
)

PATIENT_MODIFIERS: tuple[Rule, ...] = (
    Rule(
        id="modifier.immunosuppressed_infection",
        when=reported("immunosuppressed")
        & (model_lists("herpes_zoster", "cellulitis", "chickenpox") | model_lists("herpes_simplex") & _widespread),
        tier="urgent",
        reason="Skin infection in a person with a weakened immune system",
        source=_MODIFIERS,
    ),
    Rule(
        id="modifier.pregnant_chickenpox_or_shingles",
        when=reported("pregnant") & model_lists("chickenpox", "herpes_zoster"),
        tier="urgent",
        reason="Chickenpox or shingles during pregnancy",
        source=_MODIFIERS,
    ),
    Rule(
        id="modifier.diabetes_foot_wound",
        when=reported("diabetes") & _foot_wound,
        tier="urgent",
        reason="Foot wound or ulcer in a person with diabetes",
        source=_MODIFIERS,
    ),
)

LESION_POLICY: tuple[Rule, ...] = (
    Rule(
        id="lesion.benign_unvalidated_model",
        when=model_top_is_one_of(BENIGN_LESIONS, "a benign lesion") & discharge_not_validated(),
        tier="routine",
        reason="The image assessment suggests a benign lesion, but the running model has no evaluation record "
        "that allows self-care for lesions, so a clinician will confirm",
        source=_LESIONS,
        forward=True,
    ),
    Rule(
        id="lesion.change_questions_skipped",
        when=lesion_case(LESION_CONDITIONS) & skipped_any(*CHANGE_OR_BLEEDING_QUESTIONS),
        tier="routine",
        reason="A spot, mole or growth whose questions about change or bleeding were skipped (unknown is not "
        "no), so a clinician will look",
        source=_LESIONS,
        forward=True,
    ),
)

MODEL_POLICY: tuple[Rule, ...] = (
    Rule(
        id="model.missing",
        when=no_model_output(),
        tier="routine",
        reason="No image assessment is available, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.uncertain",
        when=model_uncertain(),
        tier="routine",
        reason="The image assessment is uncertain, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.photo_poor",
        when=photo_is("poor"),
        tier="routine",
        reason="The photo is of poor quality, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.photo_not_skin",
        when=photo_is("not_skin"),
        tier="routine",
        reason="The photo does not show skin, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.photo_quality_unknown",
        when=photo_quality_not_given(),
        tier="routine",
        reason="The photo's quality was not reported, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.other_or_unknown_condition",
        when=model_lists(OTHER).described_as(
            f"model lists {OTHER} or a condition key outside the vocabulary at likelihood >= 0.2"
        ),
        tier="routine",
        reason="The image assessment suggests a condition outside the known list, so a clinician will look",
        source=_POLICY,
        forward=True,
    ),
    Rule(
        id="model.acne_scarring_or_nodular",
        when=model_top("acne") & text_mentions("acne_scarring_or_nodular"),
        tier="routine",
        reason="Acne with scarring, nodules or cysts",
        source="CLINICAL.md condition vocabulary",
    ),
)


def _default_tier_rule(info: ConditionInfo) -> Rule:
    note = f"; {info.note}" if info.note else ""
    if is_dangerous(info.key):
        when = model_lists(info.key)
        reason = f"The image assessment lists possible {info.label}, ICD-10 {info.icd10}{note}"
    else:
        when = model_top(info.key)
        reason = f"The image assessment suggests {info.label}, ICD-10 {info.icd10}{note}"
    return Rule(
        id=f"model.default_tier.{info.key}",
        when=when,
        tier=info.tier,
        reason=reason,
        source=info.source,
        forward=info.forward,
    )


MODEL_DEFAULT_TIERS: tuple[Rule, ...] = tuple(_default_tier_rule(info) for info in CONDITIONS if info.key != OTHER)
"""One rule per condition of CLINICAL.md: dangerous ones (soon or higher) count from likelihood 0.2 anywhere
in the differential; the others only as the top condition at likelihood 0.5 or more. ``other`` and unknown
keys are handled by ``model.other_or_unknown_condition``."""

RULES: tuple[Rule, ...] = RED_FLAGS + PATIENT_MODIFIERS + LESION_POLICY + MODEL_POLICY + MODEL_DEFAULT_TIERS
"""Every rule, in the order reasons of the same tier are listed."""
