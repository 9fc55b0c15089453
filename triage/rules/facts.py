"""What the rules read from a case: its answers, the patient's words, and the model's differential, combined."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from triage.rules.case import Case
from triage.rules.freetext import FEATURE_PHRASES, SYMPTOM_PHRASES, recognise
from triage.rules.vocabulary import DANGEROUS_LIKELIHOOD, canonical_condition


@dataclass(frozen=True)
class Facts:
    """A case as the rules see it.

    ``symptoms`` are the questionnaire's answers plus those recognised in the patient's words;
    ``likelihoods`` maps each canonical condition the model listed to its highest likelihood (unknown keys are
    folded into ``other``); ``top_conditions`` are those sharing the highest likelihood (ties all count).
    """

    case: Case
    symptoms: frozenset[str]
    text_features: frozenset[str]
    likelihoods: Mapping[str, float]
    top_likelihood: float | None
    top_conditions: frozenset[str]


def clean_likelihood(value: float) -> float:
    """Return ``value`` clamped to 0..1; an unreadable value (NaN) counts as 0.2.

    0.2 is enough for a dangerous condition to count and never enough to make a confident top condition,
    so a malformed number can only send a case up. parse_case never lets such values through; this keeps
    assess() total for cases built in code.
    """
    if math.isnan(value):
        return DANGEROUS_LIKELIHOOD
    return min(max(value, 0.0), 1.0)


def facts_of(case: Case) -> Facts:
    """Return the Facts of ``case``."""
    likelihoods: dict[str, float] = {}
    for condition, raw in case.differential:
        key = canonical_condition(condition)
        likelihoods[key] = max(likelihoods.get(key, 0.0), clean_likelihood(raw))
    top = max(likelihoods.values(), default=None)
    in_words = recognise(case.text)
    return Facts(
        case=case,
        symptoms=case.symptoms | in_words.intersection(SYMPTOM_PHRASES),
        text_features=in_words.intersection(FEATURE_PHRASES),
        likelihoods=likelihoods,
        top_likelihood=top,
        top_conditions=frozenset(key for key, value in likelihoods.items() if value == top),
    )
