"""What the rules read from a case: its answers, the patient's words, and the model's differential, combined.

The words only ever add: a symptom, a risk factor (pregnant, immunosuppressed, diabetes), the extent
``most_of_body`` or a younger age found in them makes more rules fire, never fewer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from triage.rules.case import Case
from triage.rules.freetext import CONCEPTS, FEATURES, Extraction, Finding, extract
from triage.rules.vocabulary import DANGEROUS_LIKELIHOOD, SYMPTOMS, canonical_condition

RISK_FACTORS = ("pregnant", "immunosuppressed", "diabetes")


@dataclass(frozen=True)
class Facts:
    """A case as the rules see it.

    ``symptoms`` are the questionnaire's answers plus those the words state; ``risk_factors`` those answered yes
    plus those the words state; ``extents`` the questionnaire's extent plus ``most_of_body`` from the words;
    ``word_age`` the youngest age the words give (None when they give none); ``likelihoods`` maps each
    canonical condition the model listed to its highest likelihood (unknown keys are folded into ``other``);
    ``top_conditions`` are those sharing the highest likelihood (ties all count). ``findings`` are the words'
    findings (and any extra ones the caller passed) that count.
    """

    case: Case
    symptoms: frozenset[str]
    text_features: frozenset[str]
    risk_factors: frozenset[str]
    extents: frozenset[str]
    word_age: float | None
    likelihoods: Mapping[str, float]
    top_likelihood: float | None
    top_conditions: frozenset[str]
    findings: tuple[Finding, ...] = ()


def clean_likelihood(value: float) -> float:
    """Return ``value`` clamped to 0..1; an unreadable value (NaN) counts as 0.2.

    0.2 is enough for a dangerous condition to count and never enough to make a confident top condition,
    so a malformed number can only send a case up. parse_case never lets such values through; this keeps
    assess() total for cases built in code.
    """
    if math.isnan(value):
        return DANGEROUS_LIKELIHOOD
    return min(max(value, 0.0), 1.0)


def usable(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Return the findings whose concept the rules know (others are ignored: they could never fire a rule)."""
    return tuple(finding for finding in findings if finding.concept in CONCEPTS)


def facts_of(case: Case, extra_findings: Iterable[Finding] = (), *, read_words: bool = True) -> Facts:
    """Return the Facts of ``case``: its words read by the extractor (unless ``read_words`` is False) plus
    ``extra_findings``, which can only add."""
    likelihoods: dict[str, float] = {}
    for condition, raw in case.differential:
        key = canonical_condition(condition)
        likelihoods[key] = max(likelihoods.get(key, 0.0), clean_likelihood(raw))
    top = max(likelihoods.values(), default=None)
    words = extract(case.text) if read_words and case.text else Extraction()
    findings = words.findings + usable(extra_findings) if read_words else ()
    said = frozenset(finding.concept for finding in findings)
    ages = [f.value for f in findings if f.concept == "age" and f.value is not None and f.value >= 0]
    answered = frozenset(factor for factor in RISK_FACTORS if getattr(case, factor) is True)
    return Facts(
        case=case,
        symptoms=case.symptoms | (said & frozenset(SYMPTOMS)),
        text_features=said & frozenset(FEATURES),
        risk_factors=answered | (said & frozenset(RISK_FACTORS)),
        extents=frozenset([case.extent] if case.extent is not None else []) | (said & {"most_of_body"}),
        word_age=min(ages, default=None),
        likelihoods=likelihoods,
        top_likelihood=top,
        top_conditions=frozenset(key for key, value in likelihoods.items() if value == top),
        findings=findings,
    )
