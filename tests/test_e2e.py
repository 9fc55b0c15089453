"""End to end: a patient's /start, consent and photo go in through the real web process (webhook mode); a real
Celery worker calls the real model server running a tiny random-weight model; a triaged answer comes back and
the clinician chat is alerted. Telegram is the only fake: `tests.fake_telegram` at the HTTP level.

Runs on the embedded defaults (SQLite, a folder broker) and on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from tests.processes import Proc, celery_worker, free_port, python

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLINICIANS = -100777
PATIENT = 4242
SECRET = "e2e-secret_TOKEN"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the model extra is not installed: pip install -e '.[model]'")
    from model_server.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-gemma3", arch="gemma3")


@pytest.fixture(scope="module")
def model_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The model server process, shared by the tests of this module (it is stateless)."""
    port = free_port()
    env = {
        **os.environ,
        "MODEL_BACKEND": "hf",
        "MODEL_PATH": str(tiny_model),
        "MODEL_PORT": str(port),
        "MODEL_HOST": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "MODEL_MAX_NEW_TOKENS": "16",
    }
    proc = Proc("model", python("-m", "model_server"), env, tmp_path_factory.mktemp("model-logs"))
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def stack_env(request: pytest.FixtureRequest, tmp_path: Path, model_server: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CLINICIAN_CHAT_ID": str(CLINICIANS),
        "WEB_PORT": str(free_port()),
        "MODEL_SERVER_URL": model_server,
        "MODEL_MAX_ATTEMPTS": "2",
        "MODEL_RETRY_BACKOFF_S": "0.5",
        "OUTBOX_POLL_INTERVAL_S": "0.1",
        "LOG_LEVEL": "INFO",
    }
    if request.param == "services":
        env["DATABASE_URL"] = str(request.getfixturevalue("postgres_url"))
        env["BROKER_URL"] = str(request.getfixturevalue("redis_url"))
        env["CELERY_QUEUE"] = str(request.getfixturevalue("unique_queue"))
    return env


def _release(env: dict[str, str]) -> None:
    """The Procfile's release step, as a deploy runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


async def test_a_photo_goes_in_and_a_triaged_answer_comes_out(
    telegram: FakeBotAPI, stack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**stack_env, "TELEGRAM_API_BASE_URL": telegram.base_url, "TELEGRAM_API_FILE_URL": telegram.file_url}
    _release(env)
    logs = tmp_path / "logs"
    logs.mkdir()
    web_url = f"http://127.0.0.1:{env['WEB_PORT']}"
    web = Proc("web", python("-m", "bot"), env, logs)
    worker = Proc("worker", celery_worker(env.get("CELERY_QUEUE", "cases")), env, logs)
    try:
        # The fake Bot API runs on this event loop: wait in threads so it keeps answering.
        await asyncio.to_thread(web.wait_http, f"{web_url}/healthz", 60)
        await asyncio.to_thread(worker.wait_log, "ready", 60)
        async with httpx.AsyncClient(base_url=web_url, timeout=10) as client:

            async def post(update: dict[str, object], secret: str = SECRET) -> int:
                resp = await client.post(
                    "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
                )
                return resp.status_code

            assert await post(telegram.text_update(PATIENT, "/start"), secret="wrong") == 403
            assert await post(telegram.text_update(PATIENT, "/start")) == 200
            await telegram.wait_for(lambda calls: telegram.sent("sendMessage", PATIENT))
            consent = telegram.sent("sendMessage", PATIENT)[0]
            assert "not a diagnosis" in consent.params["text"]
            assert "consent:yes:en" in str(consent.params["reply_markup"])

            assert await post(telegram.callback_update(PATIENT, "consent:yes:en")) == 200
            await telegram.wait_for(lambda calls: len(telegram.sent("sendMessage", PATIENT)) >= 2)
            assert "photo" in telegram.sent("sendMessage", PATIENT)[1].params["text"]

            caption = "Fever since yesterday and the spots don't fade when I press a glass on them"
            assert await post(telegram.photo_update(PATIENT, skin_photo(), caption=caption)) == 200
            await telegram.wait_for(
                lambda calls: any(
                    "analysed" in str(c.params.get("text")) for c in telegram.sent("sendMessage", PATIENT)
                )
            )

            await telegram.wait_for(
                lambda calls: any(
                    "EMERGENCY" in str(c.params.get("text")) for c in telegram.sent("sendMessage", PATIENT)
                ),
                timeout=120,
            )
            await telegram.wait_for(lambda calls: telegram.sent("sendPhoto", CLINICIANS), timeout=60)
    except BaseException:
        print("--- web ---\n" + web.log_tail(60) + "\n--- worker ---\n" + worker.log_tail(60))
        raise
    finally:
        web.stop()
        worker.stop()

    answer = next(c for c in telegram.sent("sendMessage", PATIENT) if "EMERGENCY" in str(c.params.get("text")))
    assert "emergency number" in answer.params["text"]
    assert "not a diagnosis" in answer.params["text"]
    assert "dermatologist" in answer.params["text"]  # forwarded: a clinician will reply
    alert = telegram.sent("sendPhoto", CLINICIANS)[0]
    assert "EMERGENCY" in alert.params["caption"]
    assert alert.files["photo"][:2] == b"\xff\xd8"  # the stored, re-encoded JPEG
    assert b"PhoneMaker" not in alert.files["photo"]  # no camera or GPS metadata leaves the system
    assert len(telegram.sent("sendPhoto", CLINICIANS)) == 1
    results = [c for c in telegram.sent("sendMessage", PATIENT) if "EMERGENCY" in str(c.params.get("text"))]
    assert len(results) == 1
