"""Task dispatch rows (triage/dispatch.py) on both databases: a committed case always reaches a worker, whatever
fails after the commit, and a task is run by one worker at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from triage import cases, dispatch
from triage.images import ImageStore
from triage.models import DispatchStatus, TaskDispatch, utcnow

KEY = b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="


class Broker:
    """Records what is published; can be down."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self.down = False

    def __call__(self, task: str, args: list[Any]) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.append((task, args))


def _row(sessions: sessionmaker[Session], key: str) -> TaskDispatch:
    with sessions() as session:
        row = session.scalar(select(TaskDispatch).where(TaskDispatch.dedupe_key == key))
        assert row is not None
        session.expunge(row)
        return row


def _later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def test_a_submitted_case_has_its_task_row_from_the_same_transaction_and_it_is_sent_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    assert _row(sessions, dispatch.analyze_key(case_id)).status == DispatchStatus.PENDING
    broker = Broker()
    assert dispatch.publish_due(sessions, broker) == 1
    assert dispatch.publish_due(sessions, broker) == 0
    assert broker.sent == [("triage.analyze_case", [case_id])]
    assert _row(sessions, dispatch.analyze_key(case_id)).status == DispatchStatus.PUBLISHED


def test_with_the_broker_down_the_task_waits_and_goes_when_it_is_back(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    broker = Broker()
    broker.down = True
    assert dispatch.publish_due(sessions, broker) == 0
    assert _row(sessions, dispatch.analyze_key(case_id)).status == DispatchStatus.PENDING
    broker.down = False
    assert dispatch.publish_due(sessions, broker, now=_later(dispatch.SEND_LEASE_S + 1)) == 1
    assert broker.sent == [("triage.analyze_case", [case_id])]


def test_a_task_lost_by_the_broker_is_sent_again_and_one_started_is_not(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = ImageStore(tmp_path, [KEY])
    lost, started = make_case(sessions, store, user=1), make_case(sessions, store, user=2)
    broker = Broker()
    assert dispatch.publish_due(sessions, broker) == 2
    run = dispatch.start(sessions, dispatch.analyze_key(started))
    assert run is not None and run.tracked and not run.takeover
    broker.sent.clear()
    # Redis restarted empty: nobody ever started the first. After REPUBLISH_AFTER_S it goes again; the second,
    # running (its heartbeat fresh) and then finished, never does.
    assert dispatch.publish_due(sessions, broker, now=_later(dispatch.HEARTBEAT_LAPSE_S - 5)) == 0
    with dispatch.heartbeat(sessions, dispatch.analyze_key(started), run):
        pass
    assert dispatch.publish_due(sessions, broker, now=_later(dispatch.REPUBLISH_AFTER_S + 1)) == 1
    assert broker.sent == [("triage.analyze_case", [lost])]


def test_one_run_at_a_time_a_dead_runs_task_is_taken_over_and_a_done_one_never_runs_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    first = dispatch.start(sessions, key)
    assert first is not None
    assert dispatch.start(sessions, key) is None  # a duplicate from the broker while the first is alive
    later = _later(dispatch.HEARTBEAT_LAPSE_S + 1)  # the first run's worker was killed: no heartbeat
    broker = Broker()
    assert dispatch.publish_due(sessions, broker, now=later) == 1  # sent again at once
    second = dispatch.start(sessions, key, now=later)
    assert second is not None and second.takeover
    with dispatch.heartbeat(sessions, key, second):
        pass
    assert _row(sessions, key).status == DispatchStatus.DONE
    assert dispatch.start(sessions, key) is None
    assert dispatch.publish_due(sessions, broker, now=_later(3600)) == 0  # done: never again


def test_a_run_that_fails_lets_go_at_once_so_its_retry_can_take_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    assert dispatch.publish_due(sessions, Broker()) == 1
    run = dispatch.start(sessions, key, runner="celery-task-1:0")
    assert run is not None
    with pytest.raises(RuntimeError), dispatch.heartbeat(sessions, key, run):
        raise RuntimeError("the database went away")
    assert dispatch.start(sessions, key, runner="another-message:0", now=_later(0.01)) is None
    retry = dispatch.start(sessions, key, runner="celery-task-1:1", previous_attempt="celery-task-1:0",
                           now=_later(0.01))
    assert retry is not None and retry.takeover


def test_a_task_that_fails_every_time_is_sent_again_with_growing_waits_not_in_a_loop(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """A bug that fails one case's analysis on every run (found by the load test: 10,789 sends in two minutes, the
    worker's log growing by megabytes) must not turn into a busy loop between the web process and the workers."""
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    broker = Broker()
    waits = []
    clock = utcnow()
    for attempt in range(5):
        assert dispatch.publish_due(sessions, broker, now=clock) == 1
        run = dispatch.start(sessions, key, runner=f"message-{attempt}:0", now=clock)
        assert run is not None and run.sends == attempt + 1
        with pytest.raises(KeyError), dispatch.heartbeat(sessions, key, run):
            raise KeyError("a bug")
        again_at = _row(sessions, key).next_at
        wait = (again_at - utcnow()).total_seconds()
        waits.append(round(wait))
        assert dispatch.publish_due(sessions, broker, now=utcnow()) == 0  # not sent straight back
        clock = again_at + dt.timedelta(seconds=0.01)
    assert waits == [5, 10, 20, 40, 80]
    assert dispatch.failed_again_after(50) == dispatch.REPUBLISH_MAX_S
    assert len(broker.sent) == 5


def test_a_retry_takes_over_its_own_attempt_that_could_not_let_go(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is away when a run fails, so it cannot let go of its row either (the fault suite's
    postgres-fast): the retry of the same message, naming the attempt it retries, takes it over at once, not when
    its heartbeat lapses 20 s later; another message, or a second delivery of the same attempt, still may not."""
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    run = dispatch.start(sessions, key, runner="celery-task-1:0")
    assert run is not None
    real_set = dispatch._set

    def database_away(*args: object, **values: object) -> None:
        if values.get("status") is None:  # letting go (next_at only) fails; the heartbeat thread's own writes too
            raise OperationalError("UPDATE task_dispatches", {}, Exception("the database system is shutting down"))
        real_set(*args, **values)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch, "_set", database_away)
    with pytest.raises(RuntimeError), dispatch.heartbeat(sessions, key, run):
        raise RuntimeError("the database went away")
    monkeypatch.setattr(dispatch, "_set", real_set)
    assert _row(sessions, key).status == DispatchStatus.RUNNING  # still held by the failed attempt
    assert dispatch.start(sessions, key, runner="another-message:0", now=_later(0.01)) is None
    assert dispatch.start(sessions, key, runner="celery-task-1:0", now=_later(0.01)) is None  # a second delivery
    retry = dispatch.start(sessions, key, runner="celery-task-1:1", previous_attempt="celery-task-1:0",
                           now=_later(0.01))
    assert retry is not None and retry.takeover


def test_a_follow_up_question_has_its_task_row(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = ImageStore(tmp_path, [KEY])
    case_id = make_case(sessions, store, user=9)
    with sessions() as session:
        from triage.models import Case

        patient_id = session.get_one(Case, case_id).patient_id
    message_id = cases.add_followup(sessions, patient_id=patient_id, case_id=case_id, text="and now?")
    assert message_id is not None
    broker = Broker()
    dispatch.publish_due(sessions, broker)
    assert ("triage.answer_question", [case_id, message_id]) in broker.sent


def test_a_task_sent_without_a_row_runs_untracked(sessions: sessionmaker[Session]) -> None:
    run = dispatch.start(sessions, "analyze:424242")
    assert run is not None and not run.tracked


def test_a_worker_that_read_the_row_before_the_sender_marked_it_published_still_runs_the_task(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The broker hands the task to a worker at once, and the sender marks its row `published` just after: a
    worker that read `pending` and writes after that mark must run the task, not drop it until the re-send 30 s
    later (found by the load test: 17 of 171 answers waited 30 s)."""
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    engine = sessions.kw["bind"]
    marked: list[bool] = []

    def sender_marks_it_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not marked and statement.lstrip().upper().startswith("UPDATE TASK_DISPATCHES") and "runner" in statement:
            marked.append(True)
            with sessions() as other, other.begin():  # the web process's sender, on its own connection
                other.execute(update(TaskDispatch).where(TaskDispatch.dedupe_key == key)
                              .values(status=DispatchStatus.PUBLISHED, sends=1, next_at=_later(30)))

    event.listen(engine, "before_cursor_execute", sender_marks_it_first)
    try:
        run = dispatch.start(sessions, key)
    finally:
        event.remove(engine, "before_cursor_execute", sender_marks_it_first)
    assert marked, "the worker's write never happened"
    assert run is not None and run.tracked and not run.takeover
    assert _row(sessions, key).status == DispatchStatus.RUNNING


def test_only_failures_that_are_not_passing_faults_are_counted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    case_id = make_case(sessions, ImageStore(tmp_path, [KEY]))
    key = dispatch.analyze_key(case_id)
    run = dispatch.start(sessions, key, runner="m:0")
    assert run is not None and run.failures == 0
    with pytest.raises(OperationalError), dispatch.heartbeat(sessions, key, run, passing=(OperationalError,)):
        raise OperationalError("SELECT 1", {}, Exception("the database system is shutting down"))
    assert _row(sessions, key).failures == 0
    retry = dispatch.start(sessions, key, runner="m:1", previous_attempt="m:0")
    assert retry is not None
    with pytest.raises(KeyError), dispatch.heartbeat(sessions, key, retry, passing=(OperationalError,)):
        raise KeyError("a bug")
    assert _row(sessions, key).failures == 1
    again = dispatch.start(sessions, key, runner="n:0", now=_later(dispatch.REPUBLISH_MAX_S + 1))
    assert again is not None and again.failures == 1
