"""Pushing closed cases to a FHIR server, once per version, with backoff, and 4xx recorded without retries.

No FHIR server can be installed on the build machines (HAPI FHIR's jar comes from Maven Central, which they do
not reach; no registry they reach ships one), so the server here is a real HTTP server on localhost that
stores what it is sent and answers as it is told: the push is tested over real HTTP, the bundle it receives is
checked with fhir.resources and HL7's R4 JSON schema, and the server's answers (2xx, 5xx, 4xx with an
OperationOutcome, no answer) are scripted. docs/interoperability.md says how to run it against HAPI FHIR.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.fhir.schema import schema_errors
from tests.fhir.world import referred
from tests.inbox.conftest import World
from tests.processes import free_port
from triage import cases, review
from triage.db import transaction
from triage.fhir import push
from triage.fhir.validate import validate_bundle
from triage.models import AuditEvent, Case, FhirPush, Patient, TaskDispatch, utcnow

CONFIG = push.PushConfig(max_attempts=3, backoff_s=30.0, photos=True)


@dataclass
class StandInServer:
    url: str
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def fhir_server() -> Iterator[StandInServer]:
    state = StandInServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.received.append((dict(self.headers), body))
            status, answer = state.answers.pop(0) if state.answers else (200, {
                "resourceType": "Bundle", "type": "transaction-response",
                "entry": [{"response": {"status": "200 OK"}} for _ in body.get("entry", [])]})
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/fhir"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _rows(factory: sessionmaker[Session]) -> list[FhirPush]:
    with factory() as session:
        return list(session.scalars(select(FhirPush).order_by(FhirPush.id)))


def _dispatch_keys(factory: sessionmaker[Session]) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(TaskDispatch.dedupe_key).where(TaskDispatch.task == push.TASK)
                                    .order_by(TaskDispatch.id)))


def _server(state: StandInServer, **kwargs: Any) -> push.FhirServer:
    return push.FhirServer(state.url, authorization="Bearer s3cret-token", timeout_s=5, **kwargs)


def test_a_closed_case_is_queued_once_per_version(world: World) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    assert push.queue_versions(factory) == 2  # the referred case, and the world's closed case
    first = [r for r in _rows(factory) if r.case_id == case_id]
    assert len(first) == 1 and first[0].status == "pending"
    assert f"fhir:{first[0].id}:0" in _dispatch_keys(factory)
    assert push.queue_versions(factory) == 0  # nothing changed: nothing new
    with transaction(factory) as session:  # a change that leaves the bundle as it was: seen, not queued
        session.execute(update(Case).where(Case.id == case_id).values(updated_at=utcnow()))
    assert push.queue_versions(factory) == 0
    with transaction(factory) as session:  # a change to the record: a new version; the waiting one is superseded
        session.execute(update(Case).where(Case.id == case_id)
                        .values(final_diagnosis="cellulitis", updated_at=utcnow() + dt.timedelta(seconds=1)))
    assert push.queue_versions(factory) == 1
    mine = [r for r in _rows(factory) if r.case_id == case_id]
    assert [r.status for r in mine] == ["superseded", "pending"]


def test_open_cases_are_not_pushed(world: World) -> None:
    factory = world.services.sessions
    with transaction(factory) as session:
        session.execute(update(Case).where(Case.id == world.cases["closed"]).values(status="claimed"))
    assert push.queue_versions(factory) == 0 and _rows(factory) == []


def test_a_version_is_pushed_as_a_valid_bundle_with_its_photos_and_auth(world: World,
                                                                      fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    outcome = push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG)
    assert outcome == "pushed"
    headers, bundle = fhir_server.received[0]
    assert headers["Authorization"] == "Bearer s3cret-token"
    assert headers["Content-Type"] == "application/fhir+json"
    validate_bundle(bundle)
    assert schema_errors(bundle) == []
    assert any(e["resource"].get("content", {}).get("data") for e in bundle["entry"])
    done = next(r for r in _rows(factory) if r.id == row.id)
    assert (done.status, done.attempts, done.last_status, done.last_error) == ("pushed", 1, 200, None)
    assert done.pushed_at is not None
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "skipped"
    assert len(fhir_server.received) == 1  # once per version
    with factory() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.exported")).all()
    assert [(a.actor, a.details["via"]) for a in audit] == [("worker", "push")]


def test_a_server_error_is_retried_with_backoff_then_pushed(world: World, fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    fhir_server.answers = [(503, {"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                                "code": "transient"}]})]
    before = utcnow()
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "retry"
    waiting = next(r for r in _rows(factory) if r.id == row.id)
    assert (waiting.status, waiting.attempts, waiting.last_status) == ("pending", 1, 503)
    assert waiting.next_attempt_at >= before + dt.timedelta(seconds=29)
    # Not due yet: neither the scan nor a stray task pushes it early.
    assert push.queue_versions(factory) == 0
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "skipped"
    later = waiting.next_attempt_at + dt.timedelta(seconds=1)
    assert push.queue_versions(factory, now=later) == 1
    assert f"fhir:{row.id}:1" in _dispatch_keys(factory)
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG, now=later) == "pushed"
    (_, first), (_, second) = fhir_server.received
    assert first["entry"] == second["entry"]  # the same version, the same bundle: only its timestamp differs


def test_no_answer_is_retried_and_the_last_try_gives_up(world: World) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    nobody = push.FhirServer(f"http://127.0.0.1:{free_port()}/fhir", timeout_s=2)
    now = utcnow()
    outcomes = []
    for _ in range(CONFIG.max_attempts):
        outcomes.append(push.push_one(factory, world.services.images, nobody, row.id, CONFIG, now=now))
        now = next(r for r in _rows(factory) if r.id == row.id).next_attempt_at
    assert outcomes == ["retry", "retry", "retry"]
    failed = next(r for r in _rows(factory) if r.id == row.id)
    assert failed.status == "failed" and failed.last_error is not None
    assert failed.last_error.startswith("gave up after 3 tries: ConnectError")
    assert push.queue_versions(factory, now=now + dt.timedelta(days=1)) == 0


def test_a_refusal_is_recorded_with_the_servers_words_and_not_retried(world: World,
                                                                     fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    fhir_server.answers = [(422, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "processing", "diagnostics": "Profile violation: Media.content.size"}]})]
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "failed"
    failed = next(r for r in _rows(factory) if r.id == row.id)
    assert (failed.status, failed.last_status) == ("failed", 422)
    assert failed.last_error == "HTTP 422: Profile violation: Media.content.size"
    far = utcnow() + dt.timedelta(days=30)
    assert push.queue_versions(factory, now=far) == 0
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG, now=far) == "skipped"
    assert len(fhir_server.received) == 1
    with transaction(factory) as session:  # the cause fixed, a person sends it again (docs/interoperability.md)
        session.execute(update(FhirPush).where(FhirPush.id == row.id).values(status="pending",
                                                                             next_attempt_at=utcnow()))
    assert push.queue_versions(factory) == 1
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "pushed"


def test_a_case_changed_after_queueing_is_not_pushed_as_the_old_version(world: World,
                                                                        fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    with transaction(factory) as session:
        session.execute(update(Case).where(Case.id == case_id).values(final_diagnosis="cellulitis"))
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG) == "superseded"
    assert fhir_server.received == []


def test_an_erased_patients_pushes_go_with_them(world: World, fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    referred(world)
    push.queue_versions(factory)
    ids = [r.id for r in _rows(factory)]
    with factory() as session:
        telegram_id = int(session.scalar(select(Patient.telegram_user_id)) or 0)
    cases.erase_patient(factory, world.services.images, telegram_id)
    assert _rows(factory) == []
    for push_id in ids:
        assert push.push_one(factory, world.services.images, _server(fhir_server), push_id, CONFIG) == "skipped"
    assert fhir_server.received == []
    with pytest.raises(review.CaseNotFound):
        from triage import case_snapshot

        case_snapshot.for_system(factory, world.cases["emergency"], actor="worker", action="case.exported")


@pytest.fixture
def store(tmp_path: Any) -> Any:
    """The world's image store, under the data folder and with the key the worker's settings name."""
    from triage.images import ImageStore

    return ImageStore(tmp_path / "images", [KEY])


KEY = b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="


def test_the_beat_task_queues_and_the_worker_task_pushes(world: World, database_url: str, tmp_path: Any,
                                                         fhir_server: StandInServer) -> None:
    """The Celery tasks themselves, run in this process: beat's scan, the dispatch rows it commits, and the
    worker's push task taking each row by its attempt's key."""
    from triage import dispatch, tasks
    from triage.celery_app import create_celery
    from triage.config import load_settings

    referred(world)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "IMAGE_ENCRYPTION_KEYS": KEY.decode()}
    tasks.CaseTask._resources = None
    try:
        idle = create_celery(load_settings(env))
        assert idle.tasks["triage.queue_fhir_pushes"].apply().get() == 0  # no FHIR_SERVER_URL: nothing to do
        assert _rows(world.services.sessions) == []
        tasks.CaseTask._resources = None
        app = create_celery(load_settings({**env, "FHIR_SERVER_URL": fhir_server.url,
                                           "FHIR_SERVER_AUTHORIZATION": "Bearer t0k"}))
        assert app.tasks["triage.queue_fhir_pushes"].apply().get() == 2
        outcomes: list[str] = []
        sent = dispatch.publish_due(world.services.sessions,
                                    lambda name, args: outcomes.append(app.tasks[name].apply(args=args).get()))
        assert sent == 2 and outcomes == ["pushed", "pushed"]
        assert [r.status for r in _rows(world.services.sessions)] == ["pushed", "pushed"]
        assert len(fhir_server.received) == 2
        assert {h["Authorization"] for h, _ in fhir_server.received} == {"Bearer t0k"}
        with world.services.sessions() as session:
            states = session.scalars(select(TaskDispatch.status).where(TaskDispatch.task == push.TASK)).all()
        assert states == ["done", "done"]
    finally:
        tasks.CaseTask._resources = None


def test_the_fhir_settings_are_checked_and_the_secret_read_from_a_file(tmp_path: Any) -> None:
    from triage.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="FHIR_SERVER_URL: must start with http"):
        load_settings({"FHIR_SERVER_URL": "ftp://fhir.example.org"})
    with pytest.raises(ConfigError, match="FHIR_SERVER_AUTHORIZATION: must be one line") as refused:
        load_settings({"FHIR_SERVER_AUTHORIZATION": "Bearer x\r\nX-Injected: 1"})
    assert "Injected" not in str(refused.value)  # a secret is never echoed
    secret = tmp_path / "fhir-auth"
    secret.write_text("Bearer from-a-file\n")
    settings = load_settings({"FHIR_SERVER_AUTHORIZATION_FILE": str(secret)})
    assert settings.fhir_server_authorization == "Bearer from-a-file"
    with pytest.raises(ConfigError, match="FHIR_PUSH_MAX_ATTEMPTS"):
        load_settings({"FHIR_PUSH_MAX_ATTEMPTS": "0"})


def test_a_push_whose_worker_died_is_taken_up_again_after_its_claim_lapses(world: World,
                                                                          fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    now = utcnow()
    with transaction(factory) as session:  # a worker claimed it, then died before recording anything
        session.execute(update(FhirPush).where(FhirPush.id == row.id).values(
            status="pushing", attempts=1, next_attempt_at=now + dt.timedelta(seconds=push.LEASE_S)))
    assert push.queue_versions(factory, now=now) == 0  # its claim still holds
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG, now=now) == "skipped"
    lapsed = now + dt.timedelta(seconds=push.LEASE_S + 1)
    assert push.queue_versions(factory, now=lapsed) == 1
    assert f"fhir:{row.id}:1" in _dispatch_keys(factory)
    assert push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG,
                         now=lapsed) == "pushed"
    assert next(r for r in _rows(factory) if r.id == row.id).attempts == 2


def test_a_newer_version_waits_while_an_older_one_is_on_its_way(world: World, fhir_server: StandInServer) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    push.queue_versions(factory)
    old = next(r for r in _rows(factory) if r.case_id == case_id)
    with transaction(factory) as session:
        session.execute(update(FhirPush).where(FhirPush.id == old.id).values(
            status="pushing", attempts=1, next_attempt_at=utcnow() + dt.timedelta(seconds=push.LEASE_S)))
        session.execute(update(Case).where(Case.id == case_id).values(
            final_diagnosis="cellulitis", updated_at=utcnow() + dt.timedelta(seconds=1)))
    push.queue_versions(factory)
    new = [r for r in _rows(factory) if r.case_id == case_id][-1]
    assert new.id != old.id and new.status == "pending"
    assert push.push_one(factory, world.services.images, _server(fhir_server), new.id, CONFIG) == "skipped"
    assert fhir_server.received == []


def test_the_logs_carry_ids_and_outcomes_never_the_bundle(world: World, fhir_server: StandInServer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    factory = world.services.sessions
    case_id = referred(world)
    caplog.set_level("DEBUG", logger="triage")
    push.queue_versions(factory)
    row = next(r for r in _rows(factory) if r.case_id == case_id)
    fhir_server.answers = [(400, {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "bad"}]})]
    push.push_one(factory, world.services.images, _server(fhir_server), row.id, CONFIG)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"case {case_id}" in logged and "HTTP 400" in logged
    for secret in ("eye clinic", "Bearer", "data:", "urn:uuid", "Dr Alice", "/9j/"):
        assert secret not in logged, secret
