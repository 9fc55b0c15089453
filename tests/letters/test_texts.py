"""The letter's own words: every phrase and every value in English, Spanish and French."""

from __future__ import annotations

import pytest

from triage.letters import texts
from triage.rules import BODY_SITES, EXTENTS, SYMPTOMS, TIERS


@pytest.mark.parametrize("table", sorted(texts.TABLES))
def test_every_entry_is_written_in_all_three_languages(table: str) -> None:
    for key, row in texts.TABLES[table].items():
        assert len(row) == len(texts.LANGUAGES) and all(s.strip() for s in row), (table, key)


def test_every_value_of_the_contract_and_every_tier_has_words() -> None:
    assert set(texts.TABLES["answers"]) == {*SYMPTOMS, *BODY_SITES, *EXTENTS}
    assert set(texts.TABLES["tiers"]) == set(TIERS) == set(texts.TABLES["advice"])


def test_placeholders_are_the_same_in_every_language() -> None:
    import string

    for key, row in texts.TABLES["phrases"].items():
        names = [{f[1] for f in string.Formatter().parse(s) if f[1]} for s in row]
        assert names[0] == names[1] == names[2], key


def test_unknown_codes_fall_back_without_failing() -> None:
    assert texts.language_of("de") == "en" and texts.language_of(None) == "en"
    assert texts.answer_label("fr", "brand_new_symptom") == "brand new symptom"
    assert texts.reason_words("es", "future.rule") == texts.reason_words("es", "")
    assert texts.tier_name("fr", "unknown") == "unknown" and texts.tier_advice("fr", "unknown") == ""
