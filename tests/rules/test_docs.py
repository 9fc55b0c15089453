"""The rules README shows exactly the rule set in the code, so the clinicians' documentation cannot drift."""

from __future__ import annotations

from pathlib import Path

import triage.rules
from triage.rules import RULES
from triage.rules.render import render_markdown, render_text

README = Path(triage.rules.__file__).parent / "README.md"
START, END = "<!-- rules:start -->\n", "<!-- rules:end -->"


def test_the_readme_shows_the_rule_set_exactly_as_the_code_has_it() -> None:
    text = README.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    generated = text.split(START)[1].split(END)[0]
    assert generated.strip("\n") == render_markdown().strip("\n"), (
        "triage/rules/README.md is out of date: replace the text between the rules markers with the output of "
        "`python -m triage rules --format markdown`"
    )


def test_the_readme_records_the_benchmark_command() -> None:
    assert "python -m triage.rules.bench" in README.read_text()


def test_the_markdown_has_one_row_per_rule_and_escapes_table_syntax() -> None:
    rows = [line for line in render_markdown().splitlines() if line.startswith("| `")]
    rule_rows = rows[: len(RULES)]
    assert [row.split("`")[1] for row in rule_rows] == [rule.id for rule in RULES]
    assert all(row.count(" | ") == 5 for row in rule_rows)


def test_the_text_table_wraps_long_cells_into_aligned_columns() -> None:
    lines = render_text().splitlines()
    header = next(line for line in lines if line.startswith("rule "))
    when_column = header.index("when")
    continuation = [line for line in lines if line.startswith(" " * when_column) and line.strip()]
    assert continuation, "long cells wrap onto further lines"
    assert all(len(line) <= 200 for line in lines)
