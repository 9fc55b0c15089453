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
from pathlib import Path

import httpx
import pytest

from tests.bot_harness import SECRET as HARNESS_SECRET
from tests.bot_harness import PatientPhone
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from tests.processes import Proc, celery_worker, free_port, python

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLINICIANS = -100777
PATIENT = 4242
SECRET = HARNESS_SECRET


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def stack_env(request: pytest.FixtureRequest, tmp_path: Path, model_server: Proc) -> dict[str, str]:
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "CLINICIAN_CHAT_ID": str(CLINICIANS),
        "WEB_PORT": str(free_port()),
        "MODEL_SERVER_URL": model_server.url,
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


class _HttpWeb:
    """The web process over real HTTP, with the small interface `PatientPhone` drives."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, json: object, headers: dict[str, str]) -> _Resp:
        return _Resp(await self.client.post(path, json=json, headers=headers))


class _Resp:
    def __init__(self, resp: httpx.Response) -> None:
        self.status = resp.status_code
        self._text = resp.text

    async def text(self) -> str:
        return self._text


async def test_a_photo_goes_in_and_a_triaged_answer_comes_out(
    telegram: FakeBotAPI, stack_env: dict[str, str], tmp_path: Path, model_server: Proc
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
            wrong = await client.post("/telegram/webhook", json=telegram.text_update(PATIENT, "/start"),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert wrong.status_code == 403
            phone = PatientPhone(_HttpWeb(client), telegram, PATIENT)  # type: ignore[arg-type]
            await phone.send("/start")
            assert "not a diagnosis" in await phone.expect("Do you agree?")
            await phone.tap("consent:yes:en")
            await phone.expect("1 to 3 photos")
            await phone.photo(skin_photo(), caption="Spots on my legs since yesterday")
            await phone.expect("Photo 1 received")
            await phone.tap(":done")
            await phone.expect("How old")
            await phone.tap(":age:adult")
            for _ in range(3):  # where, how long, how much: skipped
                await phone.expect("?")
                await phone.tap(lambda data: data.endswith((":_skip", ":_done")))
            await phone.expect("Right now")
            await phone.tap(":emergency:fever")
            await phone.tap(":emergency:non_blanching_rash")
            await phone.tap(":_done")
            await phone.expect("suggest an emergency")  # at once, before any model call
            await phone.tap(":go")  # the patient chooses to finish the questions
            for _ in range(6):  # symptoms, mole, pregnant, immune system, diabetes, skin type
                await phone.expect("?")
                await phone.tap(lambda data: data.endswith((":_skip", ":_done")))
            await phone.expect("Anything else")
            await phone.send("The spots don't fade when I press a glass on them")
            await phone.expect("Please check your case")
            await phone.tap(":submit")
            await phone.expect("being analysed")
            answer = await phone.expect("EMERGENCY", timeout=120)
            await telegram.wait_for(lambda calls: telegram.sent("sendPhoto", CLINICIANS), timeout=60)
    except BaseException:
        print("--- web ---\n" + web.log_tail(60) + "\n--- worker ---\n" + worker.log_tail(60))
        raise
    finally:
        web.stop()
        worker.stop()

    assert "emergency number" in answer
    assert "not a diagnosis" in answer
    assert "dermatologist" in answer  # forwarded: a clinician will reply
    alert = telegram.sent("sendPhoto", CLINICIANS)[0]
    assert "EMERGENCY" in alert.params["caption"]
    assert alert.files["photo"][:2] == b"\xff\xd8"  # the stored, re-encoded JPEG
    assert b"PhoneMaker" not in alert.files["photo"]  # no camera or GPS metadata leaves the system
    assert len(telegram.sent("sendPhoto", CLINICIANS)) == 1
    assert sum("EMERGENCY" in m for m in phone.messages()) == 1
    # Privacy: no patient words, photo bytes or secrets in any process's log.
    for log in (web.log_path, worker.log_path, model_server.log_path):
        text = log.read_text(errors="replace")
        for secret in ("Spots on my legs", "press a glass", "TEST-TOKEN", SECRET, "PhoneMaker", "JFIF"):
            assert secret not in text, f"{secret!r} in {log.name}"
