"""Tasks that a committed change needs, kept as rows until a worker has run them.

A case submitted, a follow-up question asked: the change and a `TaskDispatch` row are committed together, and the
task is sent to the broker from the row (`publish_due`: by the web process at once, and by beat every few seconds
as a backstop). A row stays until a worker finishes the task:
- `pending`: not yet in the broker (it was down, or the web process died right after the commit);
- `published`: in the broker's queue. If no worker has started it after `REPUBLISH_AFTER_S` (doubling each time),
  it is sent again: a broker that restarted empty lost it, or the queue is long and a duplicate is harmless;
- `running`: a worker has it and renews `next_at` every `HEARTBEAT_S`; if the heartbeat lapses (the worker died)
  it is sent again at once, and the new run takes the case over. A run that fails lets go of it: Celery's retry of
  a passing fault takes it over at once; a run that failed outright (a bug that fails it every time) is sent again
  after `FAILED_AGAIN_AFTER_S`, doubling with each send up to `REPUBLISH_MAX_S`, never in a loop;
- `done`.
Sending twice is safe: the case's claim and the outbox's dedupe keys make the effects happen once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from triage.db import transaction
from triage.models import DispatchStatus, TaskDispatch, utcnow

log = logging.getLogger(__name__)

SEND_LEASE_S = 10.0  # a row being sent: taken up again after this if the sender died mid-way
REPUBLISH_AFTER_S = 30.0
REPUBLISH_MAX_S = 600.0
HEARTBEAT_S = 5.0
HEARTBEAT_LAPSE_S = 20.0
FAILED_AGAIN_AFTER_S = 5.0
START_TRIES = 3

Publish = Callable[[str, list[Any]], None]


def analyze_key(case_id: int) -> str:
    return f"analyze:{case_id}"


def answer_key(message_id: int) -> str:
    return f"answer:{message_id}"


def queue_task(session: Session, task: str, args: list[Any], dedupe_key: str) -> None:
    """Add the task to send, in the caller's transaction; once per `dedupe_key`."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(TaskDispatch).values(
        task=task, args=args, dedupe_key=dedupe_key, status=DispatchStatus.PENDING, sends=0, next_at=utcnow(),
        created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def publish_due(factory: sessionmaker[Session], publish: Publish, *, limit: int = 200,
                now: dt.datetime | None = None) -> int:
    """Send every due row's task to the broker (`publish(task, args)`). Returns how many were sent.

    A row is claimed (its `sends` is the claim's token) before it is sent, so two senders never send the same
    claim; if `publish` fails the row is tried again after SEND_LEASE_S.
    """
    now = now or utcnow()
    with transaction(factory) as session:
        rows = list(session.execute(
            select(TaskDispatch.id, TaskDispatch.task, TaskDispatch.args, TaskDispatch.status, TaskDispatch.sends)
            .where(TaskDispatch.status != DispatchStatus.DONE, TaskDispatch.next_at <= now)
            .order_by(TaskDispatch.next_at).limit(limit)
        ))
        claimed = []
        for row in rows:
            # A lapsed run's row is let go of here: the run died, and a new one will take the task over.
            status = DispatchStatus.PUBLISHED if row.status == DispatchStatus.RUNNING else row.status
            done = session.execute(
                update(TaskDispatch).where(TaskDispatch.id == row.id, TaskDispatch.sends == row.sends,
                                           TaskDispatch.status == row.status)
                .values(sends=row.sends + 1, status=status, next_at=now + dt.timedelta(seconds=SEND_LEASE_S))
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(row)
    sent = []
    for row in claimed:
        try:
            publish(row.task, list(row.args))
        except Exception:
            log.warning("dispatch %s (%s): the broker refused it; trying again in %.0f s", row.id, row.task,
                        SEND_LEASE_S, exc_info=True)
            continue
        sent.append(row)
    if sent:  # one transaction for the whole round: a burst of submitted cases is not one commit per case
        with transaction(factory) as session:
            for row in sent:  # unless a worker has started it meanwhile
                wait = _doubling(REPUBLISH_AFTER_S, row.sends)
                session.execute(
                    update(TaskDispatch)
                    .where(TaskDispatch.id == row.id, TaskDispatch.sends == row.sends + 1,
                           TaskDispatch.status.in_((DispatchStatus.PENDING, DispatchStatus.PUBLISHED)))
                    .values(status=DispatchStatus.PUBLISHED, next_at=utcnow() + dt.timedelta(seconds=wait))
                )
    return len(sent)


def failed_again_after(sends: int) -> float:
    """Seconds before a task whose run failed outright is sent again, after it was sent `sends` times."""
    return _doubling(FAILED_AGAIN_AFTER_S, sends - 1)


def _doubling(first_s: float, times: int) -> float:
    return min(REPUBLISH_MAX_S, first_s * 2 ** max(0, times))


@dataclass(frozen=True)
class Run:
    """A worker's hold on a dispatched task. `takeover`: an earlier run held it and died or failed (it may have
    left the case claimed), so this run takes the case over."""

    runner: str | None
    takeover: bool
    sends: int = 0  # how many times the row had been sent when this run took it
    failures: int = 0  # how many runs before this one failed outright

    @property
    def tracked(self) -> bool:
        return self.runner is not None


def start(
    factory: sessionmaker[Session], dedupe_key: str, *, now: dt.datetime | None = None, redelivered: bool = False,
    runner: str | None = None, previous_attempt: str | None = None,
) -> Run | None:
    """Mark the task running for this run. None when it must not run: done already, or another run is alive
    with it (a duplicate from the broker). `redelivered`: the broker says the worker that had this very message
    died, so its run is over even if its heartbeat has not lapsed yet. `runner`: this attempt's own name (unique:
    it fences the row's later writes); `previous_attempt`: the name of this message's attempt before a retry. A row
    still held by it failed (on the database, say) before it could let go, so its run is over too. A task sent
    without a row (by hand, by an older release) runs untracked."""
    now = now or utcnow()
    runner = runner or str(uuid.uuid4())
    for _ in range(START_TRIES):
        with transaction(factory) as session:
            row = session.scalar(select(TaskDispatch).where(TaskDispatch.dedupe_key == dedupe_key))
            if row is None:
                return Run(None, takeover=False)
            if row.status == DispatchStatus.DONE:
                return None
            lapsed = row.status == DispatchStatus.RUNNING and (
                row.next_at <= now or redelivered or (previous_attempt is not None and row.runner == previous_attempt))
            if row.status == DispatchStatus.RUNNING and not lapsed:
                return None
            previous, sends, failures = row.runner, row.sends, row.failures
            same_runner = TaskDispatch.runner.is_(None) if previous is None else TaskDispatch.runner == previous
            # Not running yet: pending and published are the same to a worker. The sender marks the row published
            # just after the broker took the task, which can be after this worker read it: that is no reason to
            # drop the task (it would wait for the re-send).
            waiting = ((DispatchStatus.PENDING, DispatchStatus.PUBLISHED) if row.status != DispatchStatus.RUNNING
                       else (DispatchStatus.RUNNING,))
            taken = session.execute(
                update(TaskDispatch)
                .where(TaskDispatch.id == row.id, TaskDispatch.status.in_(waiting), same_runner)
                .values(status=DispatchStatus.RUNNING, runner=runner,
                        next_at=now + dt.timedelta(seconds=HEARTBEAT_LAPSE_S))
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                break
        # Changed between the read and the write (another run took it, or it lapsed meanwhile): read it again.
    else:
        return None
    # Any earlier run (dead, or failed and let go) may have left the case claimed: this run takes it over.
    return Run(runner, takeover=previous is not None, sends=sends, failures=failures)


def _set(factory: sessionmaker[Session], dedupe_key: str, runner: str, **values: Any) -> None:
    with transaction(factory) as session:
        session.execute(update(TaskDispatch).where(TaskDispatch.dedupe_key == dedupe_key,
                                                   TaskDispatch.runner == runner,
                                                   TaskDispatch.status == DispatchStatus.RUNNING).values(**values))


@contextmanager
def heartbeat(factory: sessionmaker[Session], dedupe_key: str, run: Run,
              passing: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """While the block runs, renew the hold every HEARTBEAT_S; then mark the task done. If the block raises,
    the hold is let go of: a retry (which names this attempt) takes it up at once, and a re-send comes after
    `failed_again_after`, so a task that fails every time is not sent round in a loop. A failure that is not one
    of the `passing` faults (a database or broker away for a moment) is counted in the row's `failures`."""
    if run.runner is None:
        yield
        return
    runner = run.runner
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                _set(factory, dedupe_key, runner, next_at=utcnow() + dt.timedelta(seconds=HEARTBEAT_LAPSE_S))
            except Exception:  # the database is away: the hold may lapse, and the task then runs again
                log.warning("dispatch %s: heartbeat not recorded", dedupe_key)

    thread = threading.Thread(target=beat, name=f"heartbeat-{dedupe_key}", daemon=True)
    thread.start()
    try:
        yield
    except BaseException as exc:
        stop.set()
        thread.join()
        values: dict[str, Any] = {"next_at": utcnow() + dt.timedelta(seconds=failed_again_after(run.sends))}
        if isinstance(exc, Exception) and not isinstance(exc, passing):
            values["failures"] = TaskDispatch.failures + 1
        try:
            _set(factory, dedupe_key, runner, **values)
        except Exception:
            log.warning("dispatch %s: could not let go of the task; it lapses by itself", dedupe_key)
        raise
    stop.set()
    thread.join()
    _set(factory, dedupe_key, runner, status=DispatchStatus.DONE, done_at=utcnow(), next_at=utcnow())
