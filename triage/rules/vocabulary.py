"""The vocabulary of the triage contract: tiers, questionnaire keys and the condition table of CLINICAL.md."""

from __future__ import annotations

from dataclasses import dataclass

TIERS: tuple[str, ...] = ("emergency", "urgent", "soon", "routine", "self_care")
"""Urgency tiers, highest first."""

_TIER_RANK = {tier: rank for rank, tier in enumerate(TIERS)}

#: Tiers that always go to a clinician (CLINICAL.md: emergency, urgent and soon are alerted or forwarded).
FORWARDED_TIERS: frozenset[str] = frozenset({"emergency", "urgent", "soon"})

#: A model condition whose default tier is this high or higher counts from DANGEROUS_LIKELIHOOD upwards.
DANGEROUS_FROM_TIER = "soon"
DANGEROUS_LIKELIHOOD = 0.2
#: Below this top likelihood the model is uncertain; non-dangerous conditions count only as the top condition.
CONFIDENT_LIKELIHOOD = 0.5

SYMPTOMS: tuple[str, ...] = (
    "itch",
    "pain",
    "severe_pain",
    "bleeding",
    "oozing",
    "inflammation",
    "blisters",
    "skin_peeling",
    "mucosal_involvement",
    "non_blanching_rash",
    "swelling_face_lips_tongue",
    "difficulty_breathing",
    "fever",
    "feeling_very_unwell",
    "rapidly_spreading",
    "new_medication",
    "near_eye",
    "non_healing",
    "changing_size",
    "changing_shape",
    "changing_colour",
    "diameter_7mm_or_more",
    "change_in_sensation",
)

BODY_SITES: tuple[str, ...] = (
    "scalp",
    "face",
    "near_eye",
    "lips_mouth",
    "ears",
    "neck",
    "chest",
    "abdomen",
    "back",
    "arms",
    "hands",
    "legs",
    "feet",
    "genitals",
    "buttocks",
    "nails",
)

EXTENTS: tuple[str, ...] = ("single_spot", "small_area", "large_area", "most_of_body")
WIDESPREAD_EXTENTS: frozenset[str] = frozenset({"large_area", "most_of_body"})

IMAGE_QUALITIES: tuple[str, ...] = ("good", "poor", "not_skin")

OTHER = "other"


@dataclass(frozen=True)
class ConditionInfo:
    """One row of CLINICAL.md's condition vocabulary."""

    key: str
    label: str
    icd10: str
    tier: str
    note: str = ""
    source: str = "CLINICAL.md condition vocabulary"
    forward: bool = False  # a clinician must look even when the tier is below `soon`


_CLINICAL = "CLINICAL.md condition vocabulary"
_NG12 = "NICE NG12"

CONDITIONS: tuple[ConditionInfo, ...] = (
    ConditionInfo(
        "stevens_johnson_syndrome_ten",
        "Stevens-Johnson syndrome / TEN",
        "L51.1/L51.2",
        "emergency",
        source="BAD SJS/TEN guideline 2016",
    ),
    ConditionInfo(
        "necrotizing_fasciitis",
        "necrotising fasciitis",
        "M72.6",
        "emergency",
        source="NICE NG141; NICE sepsis guidance",
    ),
    ConditionInfo("meningococcal_purpura", "meningococcal purpura", "A39.4", "emergency", source="NICE CG102"),
    ConditionInfo(
        "angioedema_anaphylaxis", "angioedema / anaphylaxis", "T78.3", "emergency", source="SDCEP angioedema guidance"
    ),
    ConditionInfo("staphylococcal_scalded_skin_syndrome", "staphylococcal scalded skin syndrome", "L00", "emergency"),
    ConditionInfo("eczema_herpeticum", "eczema herpeticum", "B00.0", "urgent", source="NICE QS44 statement 7"),
    ConditionInfo("erythroderma", "erythroderma", "L53.9", "urgent"),
    ConditionInfo("dress_syndrome", "DRESS syndrome", "D72.1", "urgent"),
    ConditionInfo("pemphigus_vulgaris", "pemphigus vulgaris", "L10.0", "urgent"),
    ConditionInfo("bullous_pemphigoid", "bullous pemphigoid", "L12.0", "urgent"),
    ConditionInfo("cellulitis", "cellulitis", "L03.9", "urgent", source="NICE NG141"),
    ConditionInfo("abscess", "abscess", "L02.9", "urgent"),
    ConditionInfo(
        "herpes_zoster", "herpes zoster (shingles)", "B02.9", "urgent", note="antivirals work best within 72 h"
    ),
    ConditionInfo("diabetic_foot_ulcer", "diabetic foot ulcer", "E11.621", "urgent"),
    ConditionInfo("burn", "burn", "T30.0", "urgent"),
    ConditionInfo("drug_eruption", "drug eruption", "L27.0", "urgent"),
    ConditionInfo("mpox", "mpox", "B04", "urgent", note="public-health notification"),
    ConditionInfo("measles", "measles", "B05.9", "urgent", note="public-health notification"),
    ConditionInfo("melanoma", "melanoma", "C43.9", "soon", note="suspected-cancer pathway", source=_NG12),
    ConditionInfo(
        "squamous_cell_carcinoma",
        "squamous cell carcinoma",
        "C44.92",
        "soon",
        note="suspected-cancer pathway",
        source=_NG12,
    ),
    ConditionInfo("kaposi_sarcoma", "Kaposi sarcoma", "C46.9", "soon", note="suspected-cancer pathway"),
    ConditionInfo("leprosy", "leprosy", "A30.9", "routine", note="clinician must confirm; public health", forward=True),
    ConditionInfo("cutaneous_leishmaniasis", "cutaneous leishmaniasis", "B55.1", "routine"),
    # A suspected skin cancer, even a slow one, is confirmed by a clinician: routine, but forwarded (NICE NG12 refers
    # suspected BCC routinely; CLINICAL.md counts BCC among the malignant lesions that must reach a clinician).
    ConditionInfo("basal_cell_carcinoma", "basal cell carcinoma", "C44.91", "routine", source=_NG12,
                  note="suspected skin cancer: a clinician confirms", forward=True),
    ConditionInfo("actinic_keratosis", "actinic keratosis", "L57.0", "routine"),
    ConditionInfo("psoriasis", "psoriasis", "L40.9", "routine"),
    ConditionInfo("atopic_dermatitis", "atopic dermatitis (eczema)", "L20.9", "routine"),
    ConditionInfo("vitiligo", "vitiligo", "L80", "routine"),
    ConditionInfo("lichen_planus", "lichen planus", "L43.9", "routine"),
    ConditionInfo("rosacea", "rosacea", "L71.9", "routine"),
    ConditionInfo("scabies", "scabies", "B86", "routine"),
    ConditionInfo("impetigo", "impetigo", "L01.0", "routine"),
    ConditionInfo("chickenpox", "chickenpox", "B01.9", "routine"),
    ConditionInfo("viral_exanthem", "viral rash (exanthem)", "B09", "routine"),
    ConditionInfo("pressure_ulcer", "pressure ulcer", "L89.9", "routine"),
    ConditionInfo("acne", "acne", "L70.0", "self_care", note="routine when scarring or nodular"),
    ConditionInfo("tinea", "tinea (fungal infection)", "B35.9", "self_care"),
    ConditionInfo("cutaneous_candidiasis", "skin candidiasis (thrush)", "B37.2", "self_care"),
    ConditionInfo("herpes_simplex", "herpes simplex (cold sores)", "B00.9", "self_care"),
    ConditionInfo("molluscum_contagiosum", "molluscum contagiosum", "B08.1", "self_care"),
    ConditionInfo("viral_warts", "viral warts", "B07.9", "self_care"),
    ConditionInfo("seborrheic_dermatitis", "seborrhoeic dermatitis", "L21.9", "self_care"),
    ConditionInfo("contact_dermatitis", "contact dermatitis", "L25.9", "self_care"),
    ConditionInfo("urticaria", "urticaria (hives)", "L50.9", "self_care"),
    ConditionInfo("pityriasis_rosea", "pityriasis rosea", "L42", "self_care"),
    ConditionInfo("insect_bite", "insect bite", "T14.0", "self_care"),
    ConditionInfo("seborrheic_keratosis", "seborrhoeic keratosis", "L82", "self_care"),
    ConditionInfo("melanocytic_nevus", "mole (melanocytic naevus)", "D22.9", "self_care"),
    ConditionInfo("dermatofibroma", "dermatofibroma", "D23.9", "self_care"),
    ConditionInfo("vascular_lesion", "vascular lesion", "D18.0", "self_care"),
    ConditionInfo(
        OTHER, "a condition outside the known list", "-", "routine", note="clinician must look", forward=True
    ),
)

CONDITION_TIERS: dict[str, str] = {info.key: info.tier for info in CONDITIONS}
"""Every canonical condition key of CLINICAL.md (including ``other``) mapped to its default tier."""

CONDITIONS_BY_KEY: dict[str, ConditionInfo] = {info.key: info for info in CONDITIONS}


def tier_rank(tier: str) -> int:
    """Return the position of ``tier`` in TIERS (0 = emergency); raise KeyError for an unknown tier."""
    return _TIER_RANK[tier]


def at_least(tier: str, floor: str) -> bool:
    """Return True when ``tier`` is ``floor`` or higher."""
    return _TIER_RANK[tier] <= _TIER_RANK[floor]


def is_dangerous(condition: str) -> bool:
    """Return True when the condition's default tier is `soon` or higher (it counts from likelihood 0.2)."""
    return condition in CONDITION_TIERS and at_least(CONDITION_TIERS[condition], DANGEROUS_FROM_TIER)


def canonical_key(key: str) -> str:
    """Return ``key`` lower-cased with spaces and hyphens as underscores (``"Herpes zoster"`` -> ``herpes_zoster``)."""
    return "_".join(key.strip().casefold().replace("-", " ").split())


def canonical_condition(key: str) -> str:
    """Return the canonical condition key for ``key``, or ``"other"`` when it is not in the vocabulary."""
    key = canonical_key(key)
    return key if key in CONDITION_TIERS else OTHER
