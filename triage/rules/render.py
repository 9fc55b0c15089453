"""The rule set as documents: an aligned text table for the terminal and Markdown for the rules README."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from triage.rules.freetext import FEATURES, MODIFIERS, languages
from triage.rules.predicates import TEXT_FEATURE_MEANINGS
from triage.rules.table import RULES, RULESET_VERSION, Rule
from triage.rules.vocabulary import FORWARDED_TIERS, SYMPTOMS

_EXAMPLES = 4  # phrases shown per concept and language; the language files hold them all
_HEADER = ("rule", "tier", "forwarded", "when", "reason", "source")
_WRAP = (None, None, None, 46, 46, 24)  # column widths for the text table (None: never wrapped)


def _forwarded(rule: Rule) -> str:
    return "yes" if rule.forward or rule.tier in FORWARDED_TIERS else "no"


def _row(rule: Rule) -> tuple[str, ...]:
    return (rule.id, rule.tier, _forwarded(rule), rule.when.text, rule.reason, rule.source)


def _phrase_rows() -> tuple[list[str], list[tuple[str, list[list[str]]]]]:
    """Return the language codes, and per concept its first phrases in each language (with the count)."""
    shipped = languages()
    rows = []
    for concept in (*SYMPTOMS, *MODIFIERS, *FEATURES):
        meaning = f"{concept} ({TEXT_FEATURE_MEANINGS[concept]})" if concept in TEXT_FEATURE_MEANINGS else concept
        cells = []
        for language in shipped:
            phrases = [p.source for p in language.patterns if p.concept == concept and p.role in ("term", "newborn")]
            shown = phrases[:_EXAMPLES] + ([f"... {len(phrases)} in all"] if len(phrases) > _EXAMPLES else [])
            cells.append(shown)
        rows.append((meaning, cells))
    return [language.code for language in shipped], rows


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
    codes, rows = _phrase_rows()
    lines += [
        "",
        "What the words are read for, with a few phrases per language (all of them: triage/rules/languages/):",
        "",
    ]
    phrase_rows = [(meaning, *("; ".join(cell) for cell in cells)) for meaning, cells in rows]
    width = min(40, 140 // len(codes) - 2)  # seven languages still fit a 200-column terminal
    lines += _aligned(("concept", *codes), phrase_rows, (None, *([width] * len(codes))))
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
    codes, rows = _phrase_rows()
    lines += [
        "",
        "What the patient's words are read for, with the first phrases of each language file "
        "(`triage/rules/languages/<code>.toml` holds them all; `@name` is a word group of the file, `word*` a "
        "prefix, `a + b` words near each other in any order):",
        "",
        "| concept | " + " | ".join(codes) + " |",
        "|" + "---|" * (len(codes) + 1),
    ]
    for meaning, cells in rows:
        columns = [", ".join(_code(phrase) for phrase in cell) for cell in cells]
        lines.append(f"| {_cell(meaning)} | " + " | ".join(columns) + " |")
    return "\n".join(lines) + "\n"
