"""Nothing personal in a log, in any process, on any error path.

Errors are forced to carry recognisable content, the way real ones do (a database error quotes the row it refused,
pydantic quotes the value it could not read, aiohttp quotes the request line it could not parse), and then every
line the process wrote is read:

- the web process (`python -m bot`, a real subprocess on PostgreSQL): a clinician's reply and a wrong sign-in whose
  rows a trigger refuses with the row in its message, query strings on every kind of route, a patient's update,
  and malformed requests that aiohttp logs with a traceback;
- the worker (`celery -A triage.worker worker`): a case whose stored answers are corrupt and quote the patient;
- the model server (`python -m model_server`): malformed requests and refused bodies carrying a patient's words;
- and the two content-free formatters (`triage/logs.py`, `model_server/logs.py`) on their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import update

from model_server import logs as model_logs
from tests.conftest import migrate
from tests.factories import make_case
from tests.fake_telegram import FakeBotAPI
from tests.inbox.conftest import CSRF_RE, PASSWORD, build_world
from tests.processes import Proc, celery_worker, free_port, python
from triage import accounts, logs
from triage.celery_app import create_celery
from triage.config import load_settings
from triage.db import make_engine, make_sessionmaker, transaction
from triage.images import ImageStore
from triage.models import Case

KEY = Fernet.generate_key().decode()
REPLY = "reply-words-Zq81 about the mole by her left ear"
TYPED_PASSWORD = "typed-password-Kx3"
QUERY = "query-words-Vb5"
HEADER = "header-words-Hh2"
PATIENT = "patient-words-Pp7 my rash spreads"
ANSWERS = "answer-words-Aa4 Mrs Example, 61, rash on the left thigh"


def _assert_clean(log: Path, *secrets: str) -> str:
    found = log.read_text(errors="replace")
    for secret in secrets:
        assert secret not in found, f"{secret!r} in {log.name}:\n{found[-3000:]}"
    return found


def _raw(port: int, request: bytes) -> bytes:
    """Send bytes no HTTP client would, and return the start of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(64)


MALFORMED = (
    f"POST /inbox/login?next={QUERY} HTTP/1.1\r\nHost: x\r\nX-Note: {HEADER}\x01\r\nContent-Length: 0\r\n\r\n",
    f"GET /healthz/{HEADER}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    f"GET /healthz?{QUERY * 800} HTTP/1.1\r\nHost: x\r\n\r\n",  # over aiohttp's 8190-byte line
)


# -- the formatters ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("formatter", [logs.ContentFreeFormatter(logs.FORMAT),
                                       model_logs.ContentFreeFormatter(model_logs.FORMAT)], ids=["triage", "model"])
def test_a_traceback_is_written_as_frames_and_classes_only(formatter: logging.Formatter) -> None:
    try:
        try:
            raise KeyError(PATIENT)
        except KeyError as inner:
            raise ValueError(f"could not store {REPLY}") from inner
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for case %s", (7,), (ValueError, exc,
                                                                                                  exc.__traceback__))
    line = formatter.format(record)
    assert "failed for case 7" in line and "ValueError" in line and "KeyError" in line
    assert "test_logs.py" in line and "raise ValueError" not in line  # frames, not source lines that may quote
    assert PATIENT not in line and REPLY not in line


def test_celerys_failure_line_keeps_the_class_only() -> None:
    exc = ValueError(f"bad answer {ANSWERS}")
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1,
                               "Task %(name)s[%(id)s] raised unexpected: %(exc)s",
                               ({"name": "triage.analyze_case", "id": "1", "exc": repr(exc)},), None)
    line = logs.ContentFreeFormatter(logs.FORMAT).format(record)
    assert "raised unexpected: ValueError" in line and ANSWERS not in line


# -- the web process ----------------------------------------------------------------------------------------------
REFUSE = """
CREATE FUNCTION test_refuse_row() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'refused row %%', row_to_json(NEW); END $$;
CREATE TRIGGER test_refuse_reply BEFORE INSERT ON outbox FOR EACH ROW
  WHEN (NEW.kind = 'clinician_reply') EXECUTE FUNCTION test_refuse_row();
CREATE TRIGGER test_refuse_failed_login BEFORE UPDATE ON clinicians FOR EACH ROW
  WHEN (NEW.failed_logins > OLD.failed_logins) EXECUTE FUNCTION test_refuse_row();
"""


async def _signed_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/inbox/login")
    token = CSRF_RE.search(page.text)
    assert token is not None
    return await client.post("/inbox/login", data={"csrf_token": token.group(1), "email": email,
                                                   "password": password, "next": "/inbox/"})


@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_the_web_process_logs_no_reply_email_password_query_or_patient_words(
    telegram: FakeBotAPI, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str
) -> None:
    migrate(postgres_url)
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    engine = make_engine(postgres_url, pool_size=1)
    world = build_world(make_sessionmaker(engine), ImageStore(tmp_path / "data" / "images", [KEY.encode()]))
    with engine.begin() as conn:
        conn.exec_driver_sql(REFUSE)
    engine.dispose()
    alice = world.people["alice"]
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": postgres_url, "WEB_PORT": str(port),
           "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN", "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": "s3cret",
           "TELEGRAM_API_BASE_URL": telegram.base_url, "TELEGRAM_API_FILE_URL": telegram.file_url,
           "IMAGE_ENCRYPTION_KEYS": KEY, "ORGANISATION": "north", "INBOX_COOKIE_SECURE": "false",
           "CLINICIAN_CHAT_ID": "-100777", "LOG_LEVEL": level}
    web = Proc("web", python("-m", "bot"), env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(web.wait_http, f"{base}/healthz", 60)
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            assert (await _signed_in(client, alice.email, PASSWORD)).status_code == 303
            case = f"/inbox/cases/{world.cases['emergency']}"
            token = CSRF_RE.search((await client.get(case)).text)
            assert token is not None
            assert (await client.post(f"{case}/claim", data={"csrf_token": token.group(1)})).status_code == 303
            resp = await client.post(f"{case}/reply", data={"csrf_token": token.group(1), "reply": REPLY})
            assert resp.status_code == 500 and REPLY not in resp.text  # the trigger refused the row, quoting it
            for path in ("/inbox/", case, "/inbox/dashboard", "/healthz", "/metrics", "/nowhere", "/inbox/login"):
                resp = await client.get(f"{path}?tier={QUERY}&next=/inbox/{QUERY}")
                assert resp.status_code < 500, path
            update_ = telegram.text_update(5150, PATIENT)
            resp = await client.post(f"/telegram/webhook?x={QUERY}", json=update_,
                                     headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"})
            assert resp.status_code in (200, 503)
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            resp = await _signed_in(client, alice.email, TYPED_PASSWORD)
            assert resp.status_code == 500  # counting the failure: the trigger refused the account's row
        for request in MALFORMED:
            assert (await asyncio.to_thread(_raw, port, request.encode())).startswith(b"HTTP/1.")
    finally:
        web.stop()
    found = _assert_clean(web.log_path, REPLY, "reply-words", alice.email, "alice@", TYPED_PASSWORD, "$argon2",
                          QUERY, HEADER, PATIENT, "patient-words", "TEST-TOKEN")
    # The errors did happen, and were logged by their class and route.
    assert re.search(r"inbox: POST /inbox/cases/\{case_id\}/reply failed: .*SQLSTATE P0001", found, re.S), found
    assert "inbox: POST /inbox/login failed" in found
    assert "Error handling request" in found


# -- the worker -----------------------------------------------------------------------------------------------
@pytest.mark.services
@pytest.mark.e2e
def test_the_worker_logs_no_answers_or_words_of_a_case_that_fails_on_them(postgres_url: str, tmp_path: Path) -> None:
    migrate(postgres_url)
    engine = make_engine(postgres_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    store = ImageStore(tmp_path / "data" / "images", [KEY.encode()])
    case_id = make_case(sessions, store, user=6160, text=PATIENT)
    with transaction(sessions) as session:  # corrupt: an answer key no form makes, quoting the patient at length
        session.execute(update(Case).where(Case.id == case_id).values(answers={ANSWERS * 5: ANSWERS}))
    engine.dispose()
    queue = f"test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": postgres_url, "CELERY_QUEUE": queue,
           "IMAGE_ENCRYPTION_KEYS": KEY, "MODEL_SERVER_URL": f"http://127.0.0.1:{free_port()}",
           "MODEL_MAX_ATTEMPTS": "1", "CLINICIAN_CHAT_ID": "-100", "LOG_LEVEL": "INFO"}
    env.pop("BROKER_URL", None)  # the folder broker in DATA_DIR
    worker = Proc("worker", celery_worker(queue), env, tmp_path)
    try:
        worker.wait_log("ready", 90)
        settings = load_settings({k: v for k, v in env.items() if k in ("DATA_DIR", "CELERY_QUEUE")})
        create_celery(settings).send_task("triage.analyze_case", args=[case_id])
        worker.wait_log("raised unexpected", 90)
    finally:
        worker.stop()
    found = _assert_clean(worker.log_path, ANSWERS, "answer-words", "Mrs Example", PATIENT, "patient-words")
    assert "ValidationError" in found  # pydantic refused the answers, quoting them in its message


# -- the model server -------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_the_model_server_logs_no_request_content(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MODEL_BACKEND": "instant", "MODEL_PORT": str(port), "MODEL_HOST": "127.0.0.1",
           "MODEL_LOG_LEVEL": "DEBUG"}
    server = Proc("model", python("-m", "model_server"), env, tmp_path)
    bad_jpeg = b"\xff\xd8\xff\xe0" + PATIENT.encode() * 20
    try:
        server.wait_http(f"http://127.0.0.1:{port}/healthz", 120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            sends: list[Callable[[], Any]] = [
                lambda: client.post(f"/v1/analyze?x={QUERY}", json={"question": PATIENT, "images": [PATIENT]}),
                lambda: client.post("/v1/analyze", files={"images": ("a.jpg", bad_jpeg, "image/jpeg")},
                                    data={"request": json.dumps({"question": PATIENT, "answers": PATIENT})}),
                lambda: client.post("/v1/concepts", json={"text": PATIENT, "concepts": [{"key": PATIENT}]}),
                lambda: client.post("/v1/analyze", content=b'{"question": "' + PATIENT.encode() + b'\xff"}',
                                    headers={"Content-Type": "application/json"}),
            ]
            for send in sends:
                assert send().status_code < 500
        for request in MALFORMED:
            assert _raw(port, request.replace("/inbox/login", "/v1/analyze").encode()).startswith(b"HTTP/1.")
    finally:
        server.stop()
    found = _assert_clean(server.log_path, QUERY, HEADER, PATIENT, "patient-words")
    assert "Error handling request" in found and "BadHttpMessage" in found  # logged, by class
