"""`GET /metrics` of the web process, in Prometheus' text format: counts only, never content or ids."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from triage.models import Case, Outbox


@dataclass
class WebCounters:
    """Counters the web process keeps in memory (reset at restart, as Prometheus counters may be)."""

    updates: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # outbox kind -> messages sent
    send_failures: Counter[str] = field(default_factory=Counter)  # error class -> failed attempts


def _gauges(factory: sessionmaker[Session]) -> tuple[dict[str, int], dict[str, int]]:
    with factory() as session:
        cases = dict(session.execute(select(Case.status, func.count()).group_by(Case.status)).all())  # type: ignore[arg-type]
        outbox = dict(session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())  # type: ignore[arg-type]
    return cases, outbox


def render(counters: WebCounters, factory: sessionmaker[Session]) -> str:
    """The metrics page. Blocking (it counts rows): run it off the event loop."""
    cases, outbox = _gauges(factory)
    lines = [
        "# HELP dermatriage_updates_total Telegram updates received by this web process.",
        "# TYPE dermatriage_updates_total counter",
        f"dermatriage_updates_total {counters.updates}",
        "# HELP dermatriage_messages_sent_total Outbox messages sent by this web process, by kind.",
        "# TYPE dermatriage_messages_sent_total counter",
        *(f'dermatriage_messages_sent_total{{kind="{k}"}} {n}' for k, n in sorted(counters.sent.items())),
        "# HELP dermatriage_send_failures_total Failed Bot API attempts, by error.",
        "# TYPE dermatriage_send_failures_total counter",
        *(f'dermatriage_send_failures_total{{error="{k}"}} {n}' for k, n in sorted(counters.send_failures.items())),
        "# HELP dermatriage_cases Cases by status.",
        "# TYPE dermatriage_cases gauge",
        *(f'dermatriage_cases{{status="{k}"}} {n}' for k, n in sorted(cases.items())),
        "# HELP dermatriage_outbox Outbox rows by status (pending rows are messages not yet delivered).",
        "# TYPE dermatriage_outbox gauge",
        *(f'dermatriage_outbox{{status="{k}"}} {n}' for k, n in sorted(outbox.items())),
    ]
    return "\n".join(lines) + "\n"
