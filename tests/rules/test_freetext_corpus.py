"""The free-text corpus, and the extractor's figures on its held-out part: they may only get better.

The held-out part (tests/data/freetext/heldout.jsonl for English, Spanish and French; heldout.<code>.jsonl for
Portuguese, Arabic, Swahili and Hindi) was committed before the language files it measures existed and is never
used to tune them. The floors below are the figures reported in triage/rules/README.md; a change that makes any
of them worse fails here. Two figures are below the project's targets, and are listed as such (README: "Measured
on the held-out corpus"), so that a miss is visible here rather than hidden by a lowered target.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

import triage.rules
from triage.freetext import Report, evaluate, read_corpus
from triage.rules.freetext import MODIFIERS, languages
from triage.rules.vocabulary import SYMPTOMS

DATA = Path(__file__).resolve().parents[1] / "data" / "freetext"
README = Path(triage.rules.__file__).parent / "README.md"
FIRST_LANGUAGES = ("en", "es", "fr")  # 400 messages or more each, in heldout.jsonl and dev.jsonl
NEW_LANGUAGES = ("pt", "ar", "sw", "hi")  # 200 messages or more each, in files of their own
LANGUAGES = FIRST_LANGUAGES + NEW_LANGUAGES

# Held-out figures as reported in triage/rules/README.md (percent, one decimal).
RED_FLAG_RECALL_FLOOR = {"en": 97.8, "es": 97.8, "fr": 98.9, "pt": 100.0, "ar": 94.7, "sw": 100.0, "hi": 100.0}
MODIFIER_RECALL_FLOOR = {"en": 100.0, "es": 100.0, "fr": 100.0, "pt": 93.3, "ar": 100.0, "sw": 100.0, "hi": 100.0}
BENIGN_RAISED_CEILING = {"en": 2.1, "es": 2.1, "fr": 4.2, "pt": 0.0, "ar": 0.0, "sw": 0.0, "hi": 0.0}
TARGETS = {"red-flag recall": 97.0, "modifier recall": 95.0, "benign raised": 10.0}
# Held-out figures below their target, as reported in the README (to be raised, never hidden).
BELOW_TARGET = {("ar", "red-flag recall"), ("pt", "modifier recall")}


def _files(split: str) -> list[Path]:
    return [DATA / f"{split}.jsonl", *(DATA / f"{split}.{code}.jsonl" for code in NEW_LANGUAGES)]


@cache
def held_out() -> Report:
    return evaluate([example for path in _files("heldout") for example in read_corpus(str(path), "heldout")])


def test_every_shipped_language_file_has_a_corpus() -> None:
    assert {language.code for language in languages()} == set(LANGUAGES)


def test_the_corpus_has_enough_messages_per_language_and_a_held_out_fifth() -> None:
    rows = [json.loads(line) for split in ("heldout", "dev") for path in _files(split) for line in path.open()]
    per_language = Counter(row["language"] for row in rows)
    held = Counter(row["language"] for row in rows if row["split"] == "heldout")
    for language in LANGUAGES:
        assert per_language[language] >= (400 if language in FIRST_LANGUAGES else 200), language
        assert held[language] >= 50 and held[language] >= per_language[language] // 6, language
    for code in NEW_LANGUAGES:  # each file holds its own language and split only
        for split in ("heldout", "dev"):
            lines = (DATA / f"{split}.{code}.jsonl").open()
            found = {(row["language"], row["split"]) for row in map(json.loads, lines)}
            assert found == {(code, split)}


def test_the_held_out_part_covers_every_red_flag_and_modifier_in_every_language() -> None:
    report = held_out()
    for language in LANGUAGES:
        covered = {concept for (lang, concept), total in report.totals.items() if lang == language and total}
        assert set(SYMPTOMS) | set(MODIFIERS) <= covered, language
        assert report.benign[language] >= 30, "enough benign messages to measure false raises"


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_out_figures_stay_at_or_above_the_reported_ones(language: str) -> None:
    report = held_out()
    red_flags = report.recall(language, SYMPTOMS)
    modifiers = report.recall(language, MODIFIERS)
    raised = report.benign_raise_rate(language)
    assert red_flags is not None and modifiers is not None and raised is not None
    assert round(100 * red_flags, 1) >= RED_FLAG_RECALL_FLOOR[language]
    assert round(100 * modifiers, 1) >= MODIFIER_RECALL_FLOOR[language]
    assert round(100 * raised, 1) <= BENIGN_RAISED_CEILING[language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reported_figures_meet_the_targets_or_are_listed_as_below_them(language: str) -> None:
    figures = {"red-flag recall": RED_FLAG_RECALL_FLOOR[language], "modifier recall": MODIFIER_RECALL_FLOOR[language]}
    for name, value in figures.items():
        assert (value >= TARGETS[name]) != ((language, name) in BELOW_TARGET), (language, name, value)
    assert BENIGN_RAISED_CEILING[language] <= TARGETS["benign raised"]


def test_the_readme_reports_these_figures_and_the_misses_of_target() -> None:
    text = README.read_text()
    for language in LANGUAGES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {language} |"))
        assert f"{RED_FLAG_RECALL_FLOOR[language]:.1f}%" in row
        assert f"{MODIFIER_RECALL_FLOOR[language]:.1f}%" in row
        assert f"{BENIGN_RAISED_CEILING[language]:.1f}%" in row
    for language, name in BELOW_TARGET:
        row = next(line for line in text.splitlines() if line.startswith(f"| {language} |"))
        assert "below target" in row, (language, name)
