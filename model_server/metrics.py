"""A tiny Prometheus registry: counters, histograms and callback gauges in the text exposition format 0.0.4.

Hand-rolled (about a hundred lines) so that the model server needs no extra dependency. One `Metrics` object
per app; nothing global. Thread-safe: the model thread and the event loop both record.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

LabelValues = tuple[str, ...]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: LabelValues, extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values: dict[LabelValues, float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            for labels, value in sorted(self._values.items()):
                lines.append(f"{self.name}{_labels(self.label_names, labels)} {_number(value)}")
        return lines


class Histogram:
    """Observations counted into cumulative buckets, with their sum and count."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[index] += 1
                    break
            else:
                self._counts[-1] += 1

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), self._counts, strict=True):
                cumulative += count
                lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}')
            lines.append(f"{self.name}_sum {_number(self._sum)}")
            lines.append(f"{self.name}_count {cumulative}")
        return lines


class Gauge:
    """A value read from a callback at scrape time (e.g. the queue depth)."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name, self.help, self._read = name, help_text, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {_number(self._read())}"]


class Metrics:
    """The model server's metrics. `render()` returns the whole exposition text."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self) -> None:
        self.requests = Counter("model_requests_total", "Analyze requests by HTTP status.", ["status"])
        self.concept_requests = Counter(
            "model_concepts_requests_total", "Concepts requests by HTTP status.", ["status"]
        )
        self.errors = Counter("model_errors_total", "Error answers by error code.", ["code"])
        self.batch_size = Histogram("model_batch_size", "Requests per model batch.", BATCH_BUCKETS)
        self.queue_seconds = Histogram("model_queue_seconds", "Time a request waited for the model.", LATENCY_BUCKETS)
        self.inference_seconds = Histogram(
            "model_inference_seconds", "Time the model spent on one batch.", LATENCY_BUCKETS
        )
        self.request_seconds = Histogram(
            "model_request_seconds", "Time from request received to answer.", LATENCY_BUCKETS
        )
        self._gauges: list[Gauge] = []

    def add_gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """Register a gauge read at scrape time."""
        self._gauges.append(Gauge(name, help_text, read))

    def render(self) -> str:
        families: list[Counter | Histogram | Gauge] = [
            self.requests,
            self.concept_requests,
            self.errors,
            self.batch_size,
            self.queue_seconds,
            self.inference_seconds,
            self.request_seconds,
            *self._gauges,
        ]
        return "\n".join(line for family in families for line in family.render()) + "\n"
