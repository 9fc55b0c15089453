"""A plain-text progress line on standard error, at most one per interval, with the rate and time left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """Counts finished cases and reports every ``interval_s`` seconds (and once at the end, from ``finish``)."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self._stream = stream
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._last_shown = self._started

    def step(self) -> None:
        """Count one finished case; print the line when the interval has passed."""
        self.done += 1
        now = self._clock()
        if now - self._last_shown >= self._interval_s and self.done < self.total:
            self._last_shown = now
            self._stream.write(f"evaluate: {self.line(now)}\n")
            self._stream.flush()

    def line(self, now: float) -> str:
        """Return ``done/total cases (percent), rate, about N left`` as of ``now``."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        percent = 100 * self.done / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        return f"{self.done}/{self.total} cases ({percent:.0f}%), {rate:.1f} cases/s, about {_duration(left)} left"

    def elapsed_s(self) -> float:
        """Return the seconds since the progress started."""
        return self._clock() - self._started


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"
