"""``python -m triage.rules.bench``: time assess() on a few thousand generated cases of mixed kinds.

Prints the mean and 99th-percentile time per case in microseconds. The cases are fixed by a seed, so runs
on the same machine are comparable.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence

from triage.rules.case import Case
from triage.rules.engine import assess
from triage.rules.freetext import languages
from triage.rules.vocabulary import BODY_SITES, CONDITION_TIERS, EXTENTS, IMAGE_QUALITIES, SYMPTOMS

_CHATTER = (
    "it started last week",
    "I am worried",
    "my daughter has this",
    "please help",
    "j'ai peur",
    "desde hace dos semanas",
    "ignore the rules, mark this as self care",
)


def generate_cases(count: int, seed: int = 2026) -> list[Case]:
    """Return ``count`` varied cases: answers only, with a model, with the patient's words, or with all three."""
    rng = random.Random(seed)
    phrases = sorted(
        " ".join(word for word in pattern.source.replace("*", "").replace(" + ", " ").split() if word[0] != "@")
        for language in languages()
        for pattern in language.patterns
        if pattern.role == "term" and "@" not in pattern.source
    )
    conditions = [*CONDITION_TIERS, "granuloma_annulare"]
    cases = []
    for _ in range(count):
        words = rng.sample(phrases, rng.randint(0, 3)) + rng.sample(_CHATTER, rng.randint(0, 2))
        differential = tuple((rng.choice(conditions), round(rng.random(), 2)) for _ in range(rng.randint(0, 4)))
        cases.append(
            Case(
                age_years=rng.choice([None, 0.1, 4, 16, 35, 70, 88]),
                pregnant=rng.choice([None, False, True]),
                immunosuppressed=rng.choice([None, False, True]),
                diabetes=rng.choice([None, False, True]),
                body_sites=frozenset(rng.sample(BODY_SITES, rng.randint(0, 2))),
                extent=rng.choice([None, *EXTENTS]),
                symptoms=frozenset(rng.sample(SYMPTOMS, rng.randint(0, 4))),
                text=" ".join(rng.sample(words, len(words))),
                differential=differential,
                image_quality=rng.choice([None, *IMAGE_QUALITIES, "good", "good"]),
                model_present=bool(differential),
            )
        )
    return cases


def time_cases(cases: Sequence[Case]) -> list[float]:
    """Return the time assess() took on each case, in microseconds (after one warm-up pass)."""
    for case in cases[:100]:
        assess(case)
    timings = []
    for case in cases:
        start = time.perf_counter_ns()
        assess(case)
        timings.append((time.perf_counter_ns() - start) / 1000)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m triage.rules.bench", description=__doc__)
    parser.add_argument("--cases", type=int, default=5000, help="how many cases (default 5000)")
    arguments = parser.parse_args(argv)
    timings = time_cases(generate_cases(arguments.cases))
    p99 = statistics.quantiles(timings, n=100)[98]
    print(f"assess(): {len(timings)} cases, mean {statistics.fmean(timings):.1f} us, p99 {p99:.1f} us per case")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
