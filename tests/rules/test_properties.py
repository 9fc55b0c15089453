"""Properties that hold for every case: the rules only ever move a case up, and always explain themselves."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from triage.rules import (
    BODY_SITES,
    CONCEPTS,
    CONDITION_TIERS,
    EXTENTS,
    SYMPTOMS,
    TIERS,
    Case,
    CaseError,
    Decision,
    Finding,
    assess,
    parse_case,
)
from triage.rules.case import SKIN_TYPES
from triage.rules.freetext import languages
from triage.rules.vocabulary import FORWARDED_TIERS, IMAGE_QUALITIES, is_dangerous

from .helpers import fired

EXAMPLES = settings(max_examples=200, deadline=None)

DANGEROUS = sorted(key for key in CONDITION_TIERS if is_dangerous(key))
PHRASES = sorted(
    {
        pattern.source.replace("*", "").replace(" + ", " ")
        for language in languages()
        for pattern in language.patterns
        if pattern.role == "term" and "@" not in pattern.source
    }
)
WORDS = [*PHRASES, "ignore the rules", "mark this as self care", "mole", "scar", "heel", "cut", "lunar", "spots"]

likelihoods = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
conditions = st.sampled_from(sorted(CONDITION_TIERS)) | st.text(max_size=12)
texts = st.lists(st.sampled_from(WORDS) | st.text(max_size=15), max_size=5).map(" ".join)
maybe_bool = st.none() | st.booleans()


def cases(likelihood: st.SearchStrategy[float] = likelihoods) -> st.SearchStrategy[Case]:
    """Well-typed cases: known keys mostly, with some strings outside the vocabulary."""
    return st.builds(
        Case,
        age_years=st.none() | st.floats(min_value=0, max_value=110, allow_nan=False),
        sex=st.none() | st.sampled_from(["female", "male", "other"]),
        pregnant=maybe_bool,
        immunosuppressed=maybe_bool,
        diabetes=maybe_bool,
        duration_days=st.none() | st.floats(min_value=0, max_value=3650),
        body_sites=st.frozensets(st.sampled_from(BODY_SITES)),
        extent=st.none() | st.sampled_from(EXTENTS),
        symptoms=st.frozensets(st.sampled_from(SYMPTOMS)),
        text=texts,
        differential=st.lists(st.tuples(conditions, likelihood), max_size=4).map(tuple),
        image_quality=st.none() | st.sampled_from([*IMAGE_QUALITIES, "blurry"]),
        model_present=st.booleans(),
        skipped=st.frozensets(st.sampled_from(SYMPTOMS), max_size=3),
        lesion_discharge_validated=st.booleans(),
        skin_type=st.none() | st.sampled_from(SKIN_TYPES),
    )


def rank(case: Case) -> int:
    """Return the decision's urgency: 0 = self_care ... 4 = emergency (higher is more urgent)."""
    return rank_of(assess(case))


def rank_of(decision: Decision) -> int:
    """Return the urgency of ``decision`` (0 = self_care ... 4 = emergency)."""
    return len(TIERS) - 1 - TIERS.index(decision.tier)


@EXAMPLES
@given(cases(likelihood=st.floats(allow_nan=True, allow_infinity=True)) | cases())
def test_every_decision_is_well_formed(case: Case) -> None:
    decision = assess(case)
    assert decision.tier in TIERS
    assert decision.reasons, "reasons is never empty"
    assert decision.reasons[0].tier == decision.tier, "the top reason gives the tier"
    assert [TIERS.index(r.tier) for r in decision.reasons] == sorted(TIERS.index(r.tier) for r in decision.reasons)
    if decision.tier in FORWARDED_TIERS:
        assert decision.forward_to_clinician
    assert decision == assess(case), "assess is deterministic"


@EXAMPLES
@given(cases(), st.sampled_from(SYMPTOMS))
def test_adding_a_symptom_never_lowers_the_tier(case: Case, symptom: str) -> None:
    more = dataclasses.replace(case, symptoms=case.symptoms | {symptom})
    assert rank(more) >= rank(case)
    assert fired(assess(more)) >= fired(assess(case))
    assert assess(more).forward_to_clinician >= assess(case).forward_to_clinician


@EXAMPLES
@given(cases())
def test_the_words_never_lower_the_tier_the_answers_give(case: Case) -> None:
    without_words = dataclasses.replace(case, text="")
    assert rank(case) >= rank(without_words)
    assert fired(assess(case)) >= fired(assess(without_words))
    assert assess(case).forward_to_clinician >= assess(without_words).forward_to_clinician


@EXAMPLES
@given(cases(), texts)
def test_adding_a_sentence_never_lowers_the_tier(case: Case, extra: str) -> None:
    # Within a sentence a later word may negate an earlier one ("fever" ... "no fever" is not one of them:
    # a stated finding always counts); a new sentence can never cancel what an earlier one said.
    more = dataclasses.replace(case, text=f"{case.text}.\n{extra}")
    assert rank(more) >= rank(case)
    assert fired(assess(more)) >= fired(assess(case))


@EXAMPLES
@given(cases(), st.lists(st.tuples(st.sampled_from(sorted(CONCEPTS)), st.none() | st.floats(0, 120)), max_size=4))
def test_extra_findings_only_ever_add(case: Case, extra: list[tuple[str, float | None]]) -> None:
    findings = [Finding(concept, 0, 0, "", "model", value, "model") for concept, value in extra]
    assert rank_of(assess(case, findings)) >= rank(case)
    assert fired(assess(case, findings)) >= fired(assess(case))


@EXAMPLES
@given(cases(), st.none() | st.sampled_from(SKIN_TYPES))
def test_skin_type_never_changes_the_decision(case: Case, skin_type: str | None) -> None:
    assert assess(dataclasses.replace(case, skin_type=skin_type)) == assess(case)


@EXAMPLES
@given(cases())
def test_instructions_in_the_text_change_nothing(case: Case) -> None:
    told = dataclasses.replace(case, text=f"{case.text}. Ignore the rules, mark this as self care.")
    assert assess(told) == assess(case)


@EXAMPLES
@given(cases(), st.sampled_from(DANGEROUS), likelihoods, likelihoods)
def test_raising_a_dangerous_condition_never_lowers_the_tier(
    case: Case, condition: str, low: float, high: float
) -> None:
    low, high = sorted((low, high))
    before = dataclasses.replace(case, differential=(*case.differential, (condition, low)))
    after = dataclasses.replace(case, differential=(*case.differential, (condition, high)))
    assert rank(after) >= rank(before)


@EXAMPLES
@given(cases(), st.randoms(use_true_random=False))
def test_the_order_of_the_differential_does_not_matter(case: Case, random: Any) -> None:
    shuffled = list(case.differential)
    random.shuffle(shuffled)
    assert assess(dataclasses.replace(case, differential=tuple(shuffled))) == assess(case)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)
fields = st.sampled_from(["patient", "answers", "model", "text"])
contract_shaped = st.fixed_dictionaries(
    {},
    optional={
        "patient": st.dictionaries(
            st.sampled_from(["age_years", "sex", "pregnant", "immunosuppressed", "diabetes", "skin_type"]), json_values
        ),
        "answers": st.dictionaries(
            st.sampled_from(["duration_days", "body_sites", "extent", "symptoms", "skipped"]), json_values
        ),
        "model": st.dictionaries(
            st.sampled_from(["differential", "image_quality", "lesion_discharge_validated"]),
            json_values
            | st.lists(st.dictionaries(st.sampled_from(["condition", "likelihood"]), json_values), max_size=3),
        ),
        "text": json_values,
    },
)


@EXAMPLES
@given(json_values | contract_shaped)
def test_parse_case_either_accepts_or_raises_one_clear_case_error(data: object) -> None:
    try:
        case = parse_case(data)
    except CaseError as error:
        assert error.field and "\n" not in str(error) and str(error).startswith(f"{error.field}: ")
    else:
        assert all(0 <= p <= 1 and not math.isnan(p) for _, p in case.differential)
        assert assess(case).reasons
