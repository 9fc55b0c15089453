"""``python -m triage.freetext``: look at what the rules read in a message, or score the extractor on a corpus.

    python -m triage.freetext extract "my 6 week old has a temperature of 38.3"
    python -m triage.freetext eval tests/data/freetext/heldout.jsonl [more.jsonl ...] [--misses N]

``eval`` prints recall per concept and per language, the rate at which benign messages are raised, the time
per message, and the misses (text, expected, found). A corpus line is a JSON object with ``text``,
``language``, ``expected`` (concept keys), ``split``, and ``age_years`` when ``age`` is expected
(tests/data/freetext/README.md). Imports only the standard library and ``triage.rules``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from triage.rules import Case, Finding, assess
from triage.rules.freetext import CONCEPTS, FEATURES, MODIFIERS, Extraction, extract
from triage.rules.vocabulary import SYMPTOMS, TIERS

EXIT_BAD_INPUT = 2
MAX_LINE_CHARS = 100_000
BASE_AGE = 30.0  # the adult the benign-raise check imagines writing each message
BENIGN_MODEL = (("contact_dermatitis", 0.9),)  # a confident self-care condition on a good photo


class CorpusError(ValueError):
    """A corpus line that is not a valid example; the message names the line."""


@dataclass(frozen=True)
class Example:
    """One corpus message and what it states."""

    text: str
    language: str
    expected: frozenset[str]
    split: str
    age_years: float | None = None


@dataclass
class Report:
    """Scores of one run: hits and totals per (language, concept), benign raises, timings, misses."""

    hits: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    benign: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    raised: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    milliseconds: list[float] = field(default_factory=list)
    misses: list[tuple[Example, frozenset[str]]] = field(default_factory=list)
    false_raises: list[tuple[Example, frozenset[str]]] = field(default_factory=list)

    def recall(self, language: str | None, concepts: Sequence[str]) -> float | None:
        """Return the share of expected ``concepts`` found (all languages when ``language`` is None)."""
        keys = [(lang, c) for (lang, c) in self.totals if c in concepts and language in (None, lang)]
        total = sum(self.totals[key] for key in keys)
        return sum(self.hits[key] for key in keys) / total if total else None

    def benign_raise_rate(self, language: str | None) -> float | None:
        """Return the share of benign messages whose words raised the tier."""
        benign = sum(n for lang, n in self.benign.items() if language in (None, lang))
        raised = sum(n for lang, n in self.raised.items() if language in (None, lang))
        return raised / benign if benign else None


def parse_example(line: str, number: int) -> Example:
    """Return the Example on one corpus line; raise CorpusError naming the line and the field."""
    if len(line) > MAX_LINE_CHARS:
        raise CorpusError(f"line {number}: longer than {MAX_LINE_CHARS} characters")
    try:
        data: Any = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        raise CorpusError(f"line {number}: not valid JSON") from error
    if not isinstance(data, dict):
        raise CorpusError(f"line {number}: expected a JSON object")
    text, language, split, expected = (data.get(k) for k in ("text", "language", "split", "expected"))
    for name, value in (("text", text), ("language", language), ("split", split)):
        if not isinstance(value, str):
            raise CorpusError(f"line {number}: {name} must be a string")
    if not isinstance(expected, list) or not all(isinstance(c, str) and c in CONCEPTS for c in expected):
        raise CorpusError(f"line {number}: expected must be a list of concept keys")
    age = data.get("age_years")
    if ("age" in expected) != (age is not None) or (age is not None and not isinstance(age, int | float)):
        raise CorpusError(f"line {number}: age_years must be a number exactly when age is expected")
    return Example(str(text), str(language), frozenset(expected), str(split), None if age is None else float(age))


def _age_found(example: Example, extraction: Extraction) -> bool:
    found = extraction.youngest_age
    expected = example.age_years
    return found is not None and expected is not None and abs(found - expected) <= max(0.02, 0.15 * expected)


def _tier_rank(case: Case, extra: Sequence[Finding] = ()) -> int:
    return len(TIERS) - TIERS.index(assess(case, extra).tier)


def _expected_case(example: Example) -> Case:
    ages = [BASE_AGE] + ([example.age_years] if example.age_years is not None else [])
    return Case(
        age_years=min(ages),
        pregnant="pregnant" in example.expected,
        immunosuppressed="immunosuppressed" in example.expected,
        diabetes="diabetes" in example.expected,
        extent="most_of_body" if "most_of_body" in example.expected else None,
        symptoms=example.expected & frozenset(SYMPTOMS),
        differential=BENIGN_MODEL,
        image_quality="good",
        model_present=True,
    )


def evaluate(examples: Sequence[Example]) -> Report:
    """Return the Report of the extractor on ``examples`` (one warm-up pass first, so timings exclude loading)."""
    report = Report()
    for example in examples[:50]:
        extract(example.text)
    for example in examples:
        started = time.perf_counter()
        extraction = extract(example.text)
        report.milliseconds.append((time.perf_counter() - started) * 1000)
        found = extraction.concepts
        missed = False
        for concept in example.expected:
            hit = _age_found(example, extraction) if concept == "age" else concept in found
            report.totals[example.language, concept] += 1
            report.hits[example.language, concept] += hit
            missed |= not hit
        if missed:
            report.misses.append((example, found))
        expected_case = _expected_case(example)
        # features the label states (a foot, a wound, ...) are facts too: a diabetic foot wound is not benign
        stated = [Finding(c, 0, 0, "", "label") for c in sorted(example.expected & frozenset(FEATURES))]
        expected_rank = _tier_rank(expected_case, stated)
        if expected_rank == _tier_rank(Case(differential=BENIGN_MODEL, image_quality="good", model_present=True)):
            report.benign[example.language] += 1
            with_words = dataclasses.replace(expected_case, text=example.text)
            if _tier_rank(with_words, stated) > expected_rank:
                report.raised[example.language] += 1
                report.false_raises.append((example, found))
    return report


def _percent(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:5.1f}%"


def render(report: Report, misses: int) -> str:
    """Return the report as text: per-language figures, per-concept recall, timing, then misses."""
    languages = sorted({lang for lang, _ in report.totals} | set(report.benign))
    lines = ["language  red-flag recall  modifier recall  benign raised"]
    for language in [*languages, None]:
        lines.append(
            f"{language or 'all':<9} {_percent(report.recall(language, SYMPTOMS)):>15}  "
            f"{_percent(report.recall(language, MODIFIERS)):>15}  {_percent(report.benign_raise_rate(language)):>13}"
            f"  ({report.raised.get(language, 0) if language else sum(report.raised.values())}"
            f" of {report.benign.get(language, 0) if language else sum(report.benign.values())})"
        )
    lines += ["", "concept                     " + "  ".join(f"{lang:>12}" for lang in languages)]
    for concept in [*SYMPTOMS, *MODIFIERS]:
        cells = []
        for language in languages:
            total = report.totals.get((language, concept), 0)
            cells.append(f"{report.hits.get((language, concept), 0):>4}/{total:<4}" + " " * 3 if total else " " * 12)
        lines.append(f"{concept:<27} " + "  ".join(cells))
    times = sorted(report.milliseconds)
    if times:
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
        lines += [
            "",
            f"time per message: mean {statistics.fmean(times):.3f} ms, median {statistics.median(times):.3f} ms, "
            f"p99 {p99:.3f} ms, max {times[-1]:.3f} ms ({len(times)} messages)",
        ]
    for title, rows in (("misses", report.misses), ("benign messages raised", report.false_raises)):
        lines += ["", f"{title} ({len(rows)}):"]
        for example, found in rows[:misses]:
            lines.append(f"  [{example.language}] {example.text!r}")
            lines.append(f"      expected {sorted(example.expected)} found {sorted(found)}")
    return "\n".join(lines) + "\n"


def read_corpus(path: str, split: str | None) -> list[Example]:
    """Return the examples in the corpus file at ``path`` (only those of ``split`` when given)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CorpusError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from error
    examples = [parse_example(line, number) for number, line in enumerate(lines, 1) if line.strip()]
    return [example for example in examples if split is None or example.split == split]


def _show(extraction: Extraction) -> dict[str, Any]:
    return {
        "findings": [finding.to_dict() for finding in extraction.findings],
        "negated": [finding.to_dict() for finding in extraction.negated],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for unreadable input)."""
    parser = argparse.ArgumentParser(prog="python -m triage.freetext", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("extract", help="print the findings in one message as JSON")
    show.add_argument("text")
    score = commands.add_parser("eval", help="score the extractor on JSON-lines corpora (one or more files)")
    score.add_argument("files", nargs="+", metavar="file")
    score.add_argument("--split", help="only lines of this split (e.g. heldout)")
    score.add_argument("--misses", type=int, default=50, help="how many misses to list (default 50)")
    arguments = parser.parse_args(argv)
    if arguments.command == "extract":
        sys.stdout.write(json.dumps(_show(extract(arguments.text)), ensure_ascii=False) + "\n")
        return 0
    examples: list[Example] = []
    for path in arguments.files:
        try:
            examples += read_corpus(path, arguments.split)
        except CorpusError as error:
            where = "" if str(error).startswith("cannot read") else f"{path}: "
            print(f"triage.freetext eval: {where}{error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    sys.stdout.write(render(evaluate(examples), arguments.misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
