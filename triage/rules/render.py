"""The rule set as documents: an aligned text table for the terminal and Markdown for the rules README."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from triage.rules.freetext import FEATURE_PHRASES, SYMPTOM_PHRASES, Phrases, split
from triage.rules.predicates import TEXT_FEATURE_MEANINGS
from triage.rules.table import RULES, RULESET_VERSION, Rule
from triage.rules.vocabulary import FORWARDED_TIERS

_LANGUAGES = (("en", "English"), ("es", "Spanish"), ("fr", "French"))
_HEADER = ("rule", "tier", "forwarded", "when", "reason", "source")
_WRAP = (None, None, None, 46, 46, 24)  # column widths for the text table (None: never wrapped)


def _forwarded(rule: Rule) -> str:
    return "yes" if rule.forward or rule.tier in FORWARDED_TIERS else "no"


def _row(rule: Rule) -> tuple[str, ...]:
    return (rule.id, rule.tier, _forwarded(rule), rule.when.text, rule.reason, rule.source)


def _phrase_rows() -> list[tuple[str, Phrases]]:
    rows: list[tuple[str, Phrases]] = [(key, phrases) for key, phrases in SYMPTOM_PHRASES.items()]
    rows += [(f"{key} ({TEXT_FEATURE_MEANINGS[key]})", phrases) for key, phrases in FEATURE_PHRASES.items()]
    return rows


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], wrap: Sequence[int | None]) -> list[str]:
    cells = [
        [[text] if width is None else textwrap.wrap(text, width) or [""] for text, width in zip(row, wrap, strict=True)]
        for row in [header, *rows]
    ]
    widths = [max(len(line) for row in cells for line in row[column]) for column in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        for line_number in range(max(len(cell) for cell in row)):
            parts = [
                (cell[line_number] if line_number < len(cell) else "").ljust(width)
                for cell, width in zip(row, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def render_text(rules: Sequence[Rule] = RULES) -> str:
    """Return the rule set, then the recognised free-text phrases, as aligned plain-text tables."""
    lines = [
        f"Triage rule set {RULESET_VERSION}: {len(rules)} rules. The tier is the highest tier of the rules that fire.",
        "",
    ]
    lines += _aligned(_HEADER, [_row(rule) for rule in rules], _WRAP)
    lines += [
        "",
        "Words recognised in the patient's messages (case, accents and punctuation ignored; "
        "word* = any word starting so):",
        "",
    ]
    phrase_rows = [
        (meaning, *(", ".join(split(phrases.get(code, ""))) for code, _ in _LANGUAGES))
        for meaning, phrases in _phrase_rows()
    ]
    lines += _aligned(("meaning", *(name for _, name in _LANGUAGES)), phrase_rows, (None, 40, 40, 40))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _code(text: str) -> str:
    return f"`{text}`"


def render_markdown(rules: Sequence[Rule] = RULES) -> str:
    """Return the rule set, then the recognised free-text phrases, as Markdown tables."""
    lines = [
        f"Rule set `{RULESET_VERSION}`: {len(rules)} rules.",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "---|" * len(_HEADER),
    ]
    for rule in rules:
        rule_id, tier, forwarded, when, reason, source = _row(rule)
        lines.append(f"| {_code(rule_id)} | {tier} | {forwarded} | {_cell(when)} | {_cell(reason)} | {_cell(source)} |")
    lines += [
        "",
        "Words recognised in the patient's messages (case, accents and punctuation are ignored; "
        "`word*` matches any word starting with `word`):",
        "",
        "| meaning | " + " | ".join(name for _, name in _LANGUAGES) + " |",
        "|" + "---|" * 4,
    ]
    for meaning, phrases in _phrase_rows():
        columns = [", ".join(_code(phrase) for phrase in split(phrases.get(code, ""))) for code, _ in _LANGUAGES]
        lines.append(f"| {_cell(meaning)} | " + " | ".join(columns) + " |")
    return "\n".join(lines) + "\n"
