"""The small words the rule table is written in.

Each function returns a Condition: a test over a case's Facts together with the plain-language text that the
rules documentation shows, so the documentation is generated from the very object that decides. Conditions
combine with ``&`` (and) and ``|`` (or).

Unknowns: a symptom counts only when the patient reported it (in the questionnaire or in their words); a
risk factor (pregnant, immunosuppressed, diabetes) counts only when answered yes or stated in the words; an
unknown age never rules out an age-limited red flag, and an age in the words that is younger than the
questionnaire's makes it apply.

Each Condition also knows which concepts of the patient's words it ``reads``, so that a rule the words made
fire can show the words as evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from triage.rules.facts import RISK_FACTORS, Facts
from triage.rules.vocabulary import (
    BODY_SITES,
    CONDITION_TIERS,
    CONFIDENT_LIKELIHOOD,
    DANGEROUS_LIKELIHOOD,
    EXTENTS,
    IMAGE_QUALITIES,
    SYMPTOMS,
)

Test = Callable[[Facts], bool]


@dataclass(frozen=True)
class Condition:
    """A readable test over a case: ``text`` says in words what ``test`` checks."""

    text: str
    test: Test
    joined_by: str = ""  # "and" / "or" for a compound condition, so that mixed ones get brackets
    reads: frozenset[str] = frozenset()  # concepts of the patient's words the test looks at

    def __call__(self, facts: Facts) -> bool:
        """Return True when the condition holds for ``facts``."""
        return self.test(facts)

    def __and__(self, other: Condition) -> Condition:
        return _join("and", self, other)

    def __or__(self, other: Condition) -> Condition:
        return _join("or", self, other)

    def described_as(self, text: str) -> Condition:
        """Return the same test with a clearer text."""
        return Condition(text, self.test, reads=self.reads)


def _join(word: str, left: Condition, right: Condition) -> Condition:
    parts = [part.text if part.joined_by in ("", word) else f"({part.text})" for part in (left, right)]
    reads = left.reads | right.reads
    if word == "and":
        return Condition(f"{parts[0]} and {parts[1]}", lambda f: left.test(f) and right.test(f), "and", reads)
    return Condition(f"{parts[0]} or {parts[1]}", lambda f: left.test(f) or right.test(f), "or", reads)


def _known(keys: tuple[str, ...], vocabulary: Collection[str], what: str) -> tuple[str, ...]:
    """Return ``keys``; raise ValueError when one is not in ``vocabulary`` (a typo would never fire)."""
    unknown = [key for key in keys if key not in vocabulary]
    if unknown or not keys:
        raise ValueError(f"not a {what} key: {', '.join(unknown) or '(none given)'}")
    return keys


def _listing(items: tuple[str, ...], word: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def has(*symptoms: str) -> Condition:
    """Every one of ``symptoms`` was reported (questionnaire or free text)."""
    wanted = frozenset(_known(symptoms, SYMPTOMS, "symptom"))
    return Condition(
        _listing(symptoms, "and"), lambda f: wanted <= f.symptoms, "and" if len(symptoms) > 1 else "", wanted
    )


def has_any(*symptoms: str) -> Condition:
    """At least one of ``symptoms`` was reported."""
    wanted = frozenset(_known(symptoms, SYMPTOMS, "symptom"))
    return Condition(
        _listing(symptoms, "or"),
        lambda f: not wanted.isdisjoint(f.symptoms),
        "or" if len(symptoms) > 1 else "",
        wanted,
    )


def at_site(site: str) -> Condition:
    """The questionnaire names ``site`` among the body sites."""
    _known((site,), BODY_SITES, "body site")
    return Condition(f"body site {site}", lambda f: site in f.case.body_sites)


def extent_is(*extents: str, or_unknown: bool = False, meaning: str = "") -> Condition:
    """The extent is one of ``extents`` (or, with ``or_unknown``, was not given); ``meaning`` names the group.

    The words can add ``most_of_body`` ("all over", "de pies a cabeza"), never another extent.
    """
    wanted = frozenset(_known(extents, EXTENTS, "extent"))
    listed = _listing(extents, "or") + (", or not given" if or_unknown else "")
    words = " (answered, or most_of_body in the patient's words)" if "most_of_body" in wanted else ""
    text = f"{meaning} (extent {listed}{words})" if meaning else f"extent {listed}{words}"

    def test(f: Facts) -> bool:
        return not wanted.isdisjoint(f.extents) or (or_unknown and f.case.extent not in EXTENTS)

    return Condition(text, test, reads=wanted & {"most_of_body"})


def age_under(years: float, meaning: str) -> Condition:
    """The patient is younger than ``years``; an unknown age counts (a child cannot be ruled out), and so does a
    younger age in the patient's words ("my 6 week old"): the words can only add."""

    def test(f: Facts) -> bool:
        if f.word_age is not None and f.word_age < years:
            return True
        return f.case.age_years is None or f.case.age_years < years

    text = f"{meaning} (age under {years:g} years in the answers or the patient's words, or age not given)"
    return Condition(text, test, reads=frozenset({"age"}))


def reported(risk_factor: str) -> Condition:
    """The patient answered yes to ``risk_factor`` (pregnant, immunosuppressed or diabetes), or their words say so."""
    _known((risk_factor,), RISK_FACTORS, "risk factor")
    return Condition(
        f"{risk_factor}: yes (answered, or in the patient's words)",
        lambda f: risk_factor in f.risk_factors,
        reads=frozenset({risk_factor}),
    )


def model_lists(*conditions: str, at_least: float = DANGEROUS_LIKELIHOOD) -> Condition:
    """The model lists one of ``conditions`` anywhere in its differential with likelihood >= ``at_least``."""
    _known(conditions, CONDITION_TIERS, "condition")

    def test(f: Facts) -> bool:
        return any(f.likelihoods.get(condition, -1.0) >= at_least for condition in conditions)

    listed = conditions[0] if len(conditions) == 1 else f"one of {', '.join(conditions)}"
    return Condition(f"model lists {listed} at likelihood >= {at_least:g}", test)


def model_top(condition: str) -> Condition:
    """``condition`` is the model's top condition (ties count) with likelihood >= 0.5."""
    _known((condition,), CONDITION_TIERS, "condition")

    def test(f: Facts) -> bool:
        top = f.top_likelihood
        return top is not None and top >= CONFIDENT_LIKELIHOOD and condition in f.top_conditions

    return Condition(f"model's top condition is {condition} at likelihood >= {CONFIDENT_LIKELIHOOD:g}", test)


def no_model_output() -> Condition:
    """The model proposed no condition (no model, or an empty differential)."""
    return Condition("no model output", lambda f: f.top_likelihood is None)


def model_uncertain() -> Condition:
    """The model's top likelihood is below 0.5."""

    def test(f: Facts) -> bool:
        return f.top_likelihood is not None and not f.top_likelihood >= CONFIDENT_LIKELIHOOD

    return Condition(f"model's top likelihood is below {CONFIDENT_LIKELIHOOD:g}", test)


def photo_is(quality: str) -> Condition:
    """The model rated the photo ``quality``."""
    _known((quality,), IMAGE_QUALITIES, "image quality")
    return Condition(f"image_quality {quality}", lambda f: f.case.image_quality == quality)


def photo_quality_not_given() -> Condition:
    """The model proposed conditions but did not rate the photo (or rated it outside the vocabulary)."""
    return Condition(
        "model output without an image_quality",
        lambda f: f.top_likelihood is not None and f.case.image_quality not in IMAGE_QUALITIES,
    )


TEXT_FEATURE_MEANINGS: dict[str, str] = {
    "mole": "a mole",
    "lesion": "a spot, mole or growth",
    "acne_scarring_or_nodular": "scarring, nodules or cysts",
    "foot": "the foot",
    "wound": "a wound, ulcer or sore",
}


def text_mentions(feature: str) -> Condition:
    """The patient's words mention ``feature`` (one of freetext.FEATURES)."""
    return Condition(
        f"the patient's words mention {TEXT_FEATURE_MEANINGS[feature]}",
        lambda f: feature in f.text_features,
        reads=frozenset({feature}),
    )


def _about_a_mole(f: Facts) -> bool:
    return "mole" in f.text_features or any(
        f.likelihoods.get(condition, -1.0) >= DANGEROUS_LIKELIHOOD for condition in ("melanocytic_nevus", "melanoma")
    )


def checklist_score(facts: Facts, weights: Mapping[str, int], itch_in_a_mole_counts_as: str) -> int:
    """Return the weighted checklist score of ``facts``: the sum of the weights of the features reported.

    Itch counts as ``itch_in_a_mole_counts_as`` when the lesion is a mole (the patient's words say so, or the
    model lists a mole or melanoma at likelihood >= 0.2); a feature never counts twice.
    """
    features = set(facts.symptoms)
    if "itch" in features and _about_a_mole(facts):
        features.add(itch_in_a_mole_counts_as)
    return sum(weight for feature, weight in weights.items() if feature in features)


def checklist_at_least(
    name: str, weights: Mapping[str, int], threshold: int, itch_in_a_mole_counts_as: str
) -> Condition:
    """The weighted checklist ``name`` scores ``threshold`` or more (see checklist_score)."""
    points = "; ".join(
        f"{_listing(tuple(k for k, w in weights.items() if w == weight), 'and')}: {weight} point{'s' * (weight > 1)}"
        for weight in sorted(set(weights.values()), reverse=True)
    )
    text = f"{name} score >= {threshold} ({points}; itch counts as {itch_in_a_mole_counts_as} when the spot is a mole)"
    return Condition(
        text,
        lambda f: checklist_score(f, weights, itch_in_a_mole_counts_as) >= threshold,
        reads=frozenset(weights) | {"itch", "mole"},
    )


def model_top_is_one_of(conditions: tuple[str, ...], meaning: str) -> Condition:
    """The model's top condition (any likelihood; ties count) is one of ``conditions``."""
    _known(conditions, CONDITION_TIERS, "condition")
    wanted = frozenset(conditions)
    return Condition(
        f"model's top condition is {meaning} ({', '.join(conditions)})",
        lambda f: not wanted.isdisjoint(f.top_conditions),
    )


def discharge_not_validated() -> Condition:
    """The running model has no evaluation record allowing a benign lesion to end in self_care."""
    return Condition("model.lesion_discharge_validated is not true", lambda f: not f.case.lesion_discharge_validated)


def lesion_case(lesions: tuple[str, ...]) -> Condition:
    """A spot, mole or growth: the model lists one of ``lesions`` at 0.2 or more, or the words mention one."""
    _known(lesions, CONDITION_TIERS, "condition")

    def test(f: Facts) -> bool:
        listed = any(f.likelihoods.get(c, -1.0) >= DANGEROUS_LIKELIHOOD for c in lesions)
        return listed or not f.text_features.isdisjoint({"lesion", "mole"})

    text = (
        f"a lesion case (model lists a lesion condition at likelihood >= {DANGEROUS_LIKELIHOOD:g}, or the "
        "patient's words mention a spot, mole or growth)"
    )
    return Condition(text, test, reads=frozenset({"lesion", "mole"}))


def skipped_any(*questions: str) -> Condition:
    """The patient skipped at least one of ``questions`` (answers.skipped)."""
    wanted = frozenset(_known(questions, SYMPTOMS, "symptom"))
    return Condition(f"question skipped: {_listing(questions, 'or')}", lambda f: not wanted.isdisjoint(f.case.skipped))
