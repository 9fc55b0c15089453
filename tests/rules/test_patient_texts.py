"""Every rule has a plain patient text (msgid ``reason.<rule id>``) in every language the bot speaks, and none
of them names a diagnosis (shared/CLINICAL.md, "What the patient reads")."""

from __future__ import annotations

import re
import unicodedata

import pytest

from bot.texts import LANGUAGES, catalog
from triage.rules import CONDITION_TIERS, RULES
from triage.rules.vocabulary import CONDITIONS


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


# The word for "or" in each language: a name such as "angioedema or anaphylaxis" is also checked part by part.
OR_WORDS = {"en": ("or",), "es": ("o", "u"), "fr": ("ou",), "pt": ("ou",), "ar": ("أو",), "sw": ("au",),
            "hi": ("या",)}
# Where a sentence may end: the danda in Hindi. Arabic and Devanagari have no capital letters.
FULL_STOPS = {"hi": ("।",)}


def _names(label: str, language: str = "en") -> set[str]:
    """Return a condition name and its parts: "herpes zoster (shingles)" -> itself, herpes zoster, shingles."""
    words = "|".join(f" {word} " for word in OR_WORDS[language])
    parts = re.split(rf"\(|\)|/|,|{words}", label)
    return {_plain(part).strip(" .") for part in [label, *parts] if len(part.strip(" .")) > 1}


def forbidden_names(language: str) -> set[str]:
    """Return every way the vocabulary names a condition: keys, the rules' English labels, the catalogs' names."""
    names = {_plain(key) for key in CONDITION_TIERS} | {_plain(key.replace("_", " ")) for key in CONDITION_TIERS}
    for info in CONDITIONS:
        names |= _names(info.label)
    for lang in {"en", language}:
        names |= {name for key in CONDITION_TIERS for name in _names(catalog(lang)[f"condition.{key}"], lang)}
    return names


def named_conditions(text: str, language: str) -> list[str]:
    """Return the condition names that occur in ``text`` as whole words (case and accents ignored)."""
    plain = _plain(text)
    return sorted(name for name in forbidden_names(language) if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", plain))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_rule_has_a_patient_text_in_every_language(language: str) -> None:
    messages = catalog(language)
    missing = [rule.id for rule in RULES if not messages.get(f"reason.{rule.id}", "").strip()]
    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_patient_text_names_a_condition(language: str) -> None:
    messages = catalog(language)
    found = {rule.id: named_conditions(messages[f"reason.{rule.id}"], language) for rule in RULES}
    assert {rule_id: names for rule_id, names in found.items() if names} == {}


@pytest.mark.parametrize("language", LANGUAGES)
def test_patient_texts_are_short_plain_sentences(language: str) -> None:
    for rule in RULES:
        text = catalog(language)[f"reason.{rule.id}"]
        assert 20 <= len(text) <= 300, rule.id
        assert "{" not in text and "<" not in text, rule.id  # no placeholders or markup to go wrong
        assert text[0].isupper() or (text[0].isalpha() and text[0].lower() == text[0].upper()), rule.id
        assert text.endswith((".", *FULL_STOPS.get(language, ()))), rule.id


def test_the_check_would_catch_a_diagnosis() -> None:
    assert named_conditions("This could be melanoma.", "en") == ["melanoma"]
    assert "shingles" in named_conditions("Possible shingles near the eye.", "en")
    assert named_conditions("Podría ser un herpes zóster.", "es") == ["herpes zoster"]
    assert "zona" in named_conditions("Peut-être un zona.", "fr")
    assert named_conditions("The spot has changed in size and shape.", "en") == []
    assert "sarampo" in named_conditions("Pode ser sarampo.", "pt")
    assert "الحصبة" in named_conditions("قد تكون هذه الحصبة.", "ar")
    assert "surua" in named_conditions("Inaweza kuwa surua.", "sw")
    assert "खसरा" in named_conditions("यह खसरा हो सकता है।", "hi")
    assert named_conditions("Pele vermelha em quase todo o corpo.", "pt") == []  # "o" is "the" in Portuguese


def test_the_catalog_texts_differ_from_the_clinicians_texts() -> None:
    # The clinician's text stays on the rule (it names conditions); the patient reads the catalog's.
    english = catalog("en")
    assert all(english[f"reason.{rule.id}"] != rule.reason for rule in RULES)
