"""No case lost: faults injected into real processes (Celery worker and beat, the model server, Redis, PostgreSQL)
on PostgreSQL + Redis. Each test checks that every case ends with exactly one answer queued for the patient."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import migrate
from tests.factories import make_case
from tests.fake_telegram import FakeBotAPI
from tests.processes import (
    PrivatePostgres,
    PrivateRedis,
    Proc,
    celery_beat,
    celery_worker,
    children,
    free_port,
    python,
)
from triage.db import make_engine, make_sessionmaker
from triage.images import ImageStore
from triage.models import Case, CaseStatus, ModelResult, Outbox, utcnow

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.e2e]

KEY = Fernet.generate_key().decode()
DONE = (CaseStatus.TRIAGED, CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL)


class Stack:
    """A database, a broker and the environment the worker and beat processes get."""

    def __init__(self, database_url: str, broker_url: str, queue: str, data_dir: Path, model_url: str) -> None:
        migrate(database_url)
        self.engine = make_engine(database_url, pool_size=2)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.store = ImageStore(data_dir / "images", [KEY.encode()])
        self.data_dir = data_dir
        self.queue = queue
        self.env = {
            **os.environ, "DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "BROKER_URL": broker_url,
            "CELERY_QUEUE": queue, "IMAGE_ENCRYPTION_KEYS": KEY, "MODEL_SERVER_URL": model_url,
            "MODEL_MAX_ATTEMPTS": "2", "MODEL_RETRY_BACKOFF_S": "0.2", "MODEL_TIMEOUT_S": "60",
            "CLINICIAN_CHAT_ID": "-100", "LOG_LEVEL": "INFO",
        }
        self.celery = Celery("client", broker=broker_url)
        self.celery.conf.task_default_queue = queue
        self.procs: list[Proc] = []

    def start(self, name: str, args: list[str], **env: str) -> Proc:
        proc = Proc(name, args, {**self.env, **env}, self.data_dir)
        self.procs.append(proc)
        return proc

    def worker(self, **env: str) -> Proc:
        proc = self.start(f"worker{len(self.procs)}", celery_worker(self.queue), **env)
        proc.wait_log("ready", 60)
        return proc

    def send(self, case_id: int) -> None:
        self.celery.send_task("triage.analyze_case", args=[case_id], queue=self.queue)

    def case(self, case_id: int) -> Case:
        with self.sessions() as session:
            case = session.get_one(Case, case_id)
            session.expunge(case)
            return case

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        logs = "\n".join(f"--- {p.name} ---\n{p.log_tail(30)}" for p in self.procs)
        raise AssertionError(f"{what} did not happen in {timeout}s\n{logs}")

    def wait_done(self, case_id: int, timeout: float = 90) -> Case:
        self.wait(lambda: self.case(case_id).status in DONE, timeout, f"case {case_id} answered")
        return self.case(case_id)

    def answers(self, case_id: int) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.case_id == case_id, Outbox.kind == "patient_result")) or 0)

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.celery.close()
        self.engine.dispose()


@pytest.fixture
def stack(postgres_url: str, redis_url: str, unique_queue: str, tmp_path: Path, model_server: Proc) -> Iterator[Stack]:
    s = Stack(postgres_url, redis_url, unique_queue, tmp_path, model_server.url)
    yield s
    s.close()


def test_a_worker_killed_mid_analysis_is_redelivered_and_finished(stack: Stack, tiny_model: Path) -> None:
    port = free_port()
    model = stack.start("model", python("-m", "model_server"), MODEL_BACKEND="hf", MODEL_PATH=str(tiny_model),
                        MODEL_PORT=str(port), MODEL_MAX_NEW_TOKENS="8")
    model.wait_http(f"http://127.0.0.1:{port}/healthz", 180)
    worker = stack.worker(MODEL_SERVER_URL=f"http://127.0.0.1:{port}")
    case_id = make_case(stack.sessions, stack.store, user=1)
    model.kill(signal.SIGSTOP)  # the analysis hangs inside the model call
    try:
        stack.send(case_id)
        stack.wait(lambda: stack.case(case_id).status == CaseStatus.ANALYZING, 30, "analysis started")
        for child in children(worker.popen.pid):
            os.kill(child, signal.SIGKILL)  # the pool process dies mid-task, unacknowledged
    finally:
        model.kill(signal.SIGCONT)
    case = stack.wait_done(case_id)
    assert case.analysis_attempts == 2
    assert stack.answers(case_id) == 1
    with stack.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ModelResult)) == 1


def test_with_the_model_server_down_the_case_is_triaged_on_the_answers(stack: Stack) -> None:
    stack.worker(MODEL_SERVER_URL=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    case_id = make_case(stack.sessions, stack.store, user=2)
    stack.send(case_id)
    case = stack.wait_done(case_id, timeout=60)
    assert case.status == CaseStatus.FAILED_MODEL and case.forwarded
    assert case.tier in ("emergency", "urgent", "soon", "routine")
    with stack.sessions() as session:
        kinds = sorted(session.scalars(select(Outbox.kind).where(Outbox.case_id == case_id)))
        payload = session.scalar(select(Outbox.payload).where(Outbox.kind == "patient_result"))
    assert kinds == ["clinician_alert", "patient_result"]
    assert payload is not None and payload["model_used"] is False


def test_a_stuck_case_is_recovered_by_the_beat_job(stack: Stack) -> None:
    queued_lost = make_case(stack.sessions, stack.store, user=3)  # its task message was never sent
    dead_worker = make_case(stack.sessions, stack.store, user=4)
    long_ago = utcnow().replace(year=2020)
    with stack.sessions.begin() as session:
        session.execute(update(Case).where(Case.id == queued_lost).values(submitted_at=long_ago))
        session.execute(update(Case).where(Case.id == dead_worker).values(
            status=CaseStatus.ANALYZING, analysis_started_at=long_ago, analysis_token="dead"))
    stack.worker(STUCK_CASE_AFTER_S="5")
    stack.start("beat", celery_beat(stack.data_dir), RECOVERY_INTERVAL_S="1", STUCK_CASE_AFTER_S="5")
    for case_id in (queued_lost, dead_worker):
        stack.wait_done(case_id)
        assert stack.answers(case_id) == 1


def test_redis_restarted_during_a_run_loses_no_case(postgres_url: str, unique_queue: str, tmp_path: Path) -> None:
    """Redis killed while the worker holds a task (unacknowledged, mid-analysis) and started again empty: the
    worker reconnects (celery/kombu 5.7.0 died here instead), and every case is answered once, with the default
    timers."""
    try:
        server = PrivateRedis()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    port = free_port()
    stack = Stack(postgres_url, server.url, unique_queue, tmp_path, f"http://127.0.0.1:{port}")
    try:
        model = stack.start("model", python("-m", "model_server"), MODEL_BACKEND="instant", MODEL_PORT=str(port),
                            MODEL_INSTANT_DELAY_S="3")
        model.wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        worker = stack.worker()
        stack.start("beat", celery_beat(stack.data_dir))
        before = make_case(stack.sessions, stack.store, user=5)
        stack.send(before)
        stack.wait_done(before)
        held = make_case(stack.sessions, stack.store, user=6)
        stack.send(held)
        stack.wait(lambda: stack.case(held).status == CaseStatus.ANALYZING, 30, "analysis started")
        server.kill()  # Redis goes away with the worker's unacknowledged task, and comes back empty
        during = make_case(stack.sessions, stack.store, user=7)  # submitted while Redis is down: no message
        server.start()
        after = make_case(stack.sessions, stack.store, user=8)
        stack.send(after)
        for case_id in (before, held, during, after):
            stack.wait_done(case_id, timeout=120)
            assert stack.answers(case_id) == 1
        assert worker.popen.poll() is None, worker.log_tail()
        assert "Unrecoverable error" not in worker.log_path.read_text(errors="replace")
    finally:
        stack.close()
        server.close()


async def test_postgres_connections_dropped_web_and_worker_recover(stack: Stack, postgres_admin: Engine) -> None:
    def drop() -> None:
        with postgres_admin.connect() as conn:
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :db AND pid <> "
                "pg_backend_pid()"), {"db": stack.engine.url.database}).scalar()
        assert killed >= 2  # the worker's and the web process's pooled connections were among them

    await _survives_postgres_fault(stack, drop)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot run a private PostgreSQL server here: {exc}")
    yield server
    server.close()


async def test_postgres_restarted_web_and_worker_recover(private_postgres: PrivatePostgres, redis_url: str,
                                                         unique_queue: str, tmp_path: Path,
                                                         model_server: Proc) -> None:
    """A real restart of the server (its own, so the machine's shared one is left alone): every pooled connection
    in the web and worker processes dies at once, and both carry on without a failed request or a lost case."""
    stack = Stack(private_postgres.url, redis_url, unique_queue, tmp_path, model_server.url)
    try:
        await _survives_postgres_fault(stack, private_postgres.restart)
    finally:
        stack.close()


async def _survives_postgres_fault(stack: Stack, fault: Callable[[], None]) -> None:
    telegram = FakeBotAPI()
    await telegram.start()
    try:
        await asyncio.to_thread(_postgres_fault, stack, telegram, fault)
    finally:
        await telegram.stop()


def _postgres_fault(stack: Stack, telegram: FakeBotAPI, fault: Callable[[], None]) -> None:
    stack.worker()
    port = free_port()
    web = stack.start("web", python("-m", "bot"), TELEGRAM_BOT_TOKEN="1:T", TELEGRAM_MODE="webhook",
                      TELEGRAM_WEBHOOK_SECRET="s", WEB_PORT=str(port), TELEGRAM_API_BASE_URL=telegram.base_url,
                      TELEGRAM_API_FILE_URL=telegram.file_url)
    health = f"http://127.0.0.1:{port}/healthz"
    web.wait_http(health, 60)
    first = make_case(stack.sessions, stack.store, user=8)
    stack.send(first)
    stack.wait_done(first)
    web.wait_http(health, 10)

    def start_and_get_consent_question(times: int) -> None:  # an update through the patient handlers' pool
        assert httpx.post(f"http://127.0.0.1:{port}/telegram/webhook", json=telegram.text_update(10, "/start"),
                          headers={"X-Telegram-Bot-Api-Secret-Token": "s"}, timeout=10).status_code == 200
        stack.wait(lambda: sum("agree" in str(c.params.get("text", "")) for c in telegram.sent("sendMessage", 10))
                   == times, 30, f"consent question number {times}")

    start_and_get_consent_question(1)  # so the web process holds pooled connections the fault will kill
    fault()
    after_fault = web.log_path.stat().st_size  # while the server was down, the outbox sender may log a failed tick
    # The very first update after the fault is handled: the pool replaces dead connections at checkout.
    start_and_get_consent_question(2)
    web.wait_http(health, 30)
    second = make_case(stack.sessions, stack.store, user=9)
    stack.send(second)
    assert stack.wait_done(second).status in DONE
    assert stack.answers(second) == 1
    # The web process's outbox sender reconnected too: both answers reach the patients.
    stack.wait(lambda: len(telegram.sent("sendMessage", 9)) == 1 and len(telegram.sent("sendMessage", 8)) == 1,
               30, "both answers sent")
    log = web.log_path.read_bytes()[after_fault:].decode(errors="replace")
    assert "Traceback" not in log and "handler failed" not in log, log
