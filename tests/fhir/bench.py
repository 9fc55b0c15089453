"""`python -m tests.fhir.bench`: how long a bundle and a letter take to make, on this machine (figures for
docs/interoperability.md). Three 320-400 px photos; prints medians of N runs after one warm-up."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from tests.fhir.snapshots import snapshot
from triage.fhir.bundle import build_bundle, bundle_version
from triage.letters.letter import render_letter


def _median_ms(work: Callable[[], object], runs: int) -> float:
    work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(runs: int = 10) -> None:
    snap = snapshot()
    bundle = build_bundle(snap)
    letter = render_letter(snap, language="en", audience="referral")
    print(f"bundle: {len(bundle['entry'])} entries, {len(json.dumps(bundle)) / 1024:.0f} KiB with 3 photos inline")
    print(f"build_bundle (validated): {_median_ms(lambda: build_bundle(snap), runs):.0f} ms median of {runs}")
    print(f"bundle_version: {_median_ms(lambda: bundle_version(snap), runs):.0f} ms median of {runs}")
    print(f"letter: {len(letter.data) / 1024:.0f} KiB")
    print(f"render_letter: {_median_ms(lambda: render_letter(snap, language='en', audience='referral'), runs):.0f} ms "
          f"median of {runs}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
