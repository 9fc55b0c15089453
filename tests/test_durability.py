"""Nothing a patient does is lost to a fault: the webhook is answered only once an update's effect is stored,
replies Telegram cannot take now are delivered later in order, a submitted case reaches the broker whatever
fails after the commit, and the web process keeps serving while Telegram cannot be reached.

The real web process (aiohttp + PTB handlers) in-process, a real database, the folder broker, the fake Bot API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.app import SERVICES, TELEGRAM, init_app
from bot.services import Services
from tests.bot_harness import SECRET, PatientPhone, start_web, web_settings_env
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from tests.processes import ROOT, free_port
from triage.config import load_settings
from triage.models import Case, CaseStatus, DispatchStatus, Outbox, TaskDispatch

pytestmark = pytest.mark.slow
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> Any:
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path)
    yield client
    await client.close()


def _services(web: TestClient[Any, Any]) -> Services:
    return web.server.app[SERVICES]


async def _post(web: TestClient[Any, Any], update: dict[str, Any]) -> int:
    resp = await web.post("/telegram/webhook", json=update, headers=HEADERS)
    return resp.status


async def _until(condition: Any, timeout: float = 15) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not done in time"
        await asyncio.sleep(0.05)


class _StartingUp(Exception):
    sqlstate = "57P03"  # as asyncpg's CannotConnectNowError reaches SQLAlchemy: a plain DBAPIError with a SQLSTATE


@pytest.mark.parametrize("fault", [
    OperationalError("SELECT patients", {}, Exception("the database system is shutting down")),
    DBAPIError("connect", {}, _StartingUp("the database system is starting up")),
], ids=["psycopg-shutting-down", "asyncpg-starting-up"])
async def test_a_database_fault_mid_update_is_answered_503_and_the_redelivery_is_handled_once(
    web: TestClient[Any, Any], telegram: FakeBotAPI, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    services = _services(web)
    real = Services.get_patient
    faults = {"left": 1}

    async def flaky(self: Services, user_id: int) -> Any:
        if faults["left"]:
            faults["left"] -= 1
            raise fault
        return await real(self, user_id)

    monkeypatch.setattr(Services, "get_patient", flaky)
    update = telegram.text_update(801, "/start")
    assert await _post(web, update) == 503  # Telegram keeps the update and delivers it again
    assert telegram.sent("sendMessage", 801) == []
    assert await _post(web, update) == 200
    assert await _post(web, update) == 200  # a delivery Telegram repeats once more: handled once
    await asyncio.sleep(0.3)
    consent = [c for c in telegram.sent("sendMessage", 801) if "consent" in str(c.params.get("reply_markup"))]
    assert len(consent) == 1
    assert services.counters.updates >= 1


async def test_replies_during_a_bot_api_outage_arrive_later_in_order_and_the_patient_goes_on(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 802)
    await phone.send("/start")
    await phone.expect("?")
    telegram.fail("sendMessage", 502, times=3)  # Telegram's side is down for the next replies
    await phone.tap("consent:yes:en")  # handled: consent stored, "send photos" queued in the outbox
    await phone.photo(skin_photo())
    await phone.expect("10 cm")  # delivered once Telegram answers again...
    await phone.expect("Photo 1 received")  # ...and in the order they were written
    await phone.tap(":done")  # the patient goes on with the latest message's button
    await phone.expect("How old")
    rows = _rows(web)
    assert rows and all(r.status == "sent" for r in rows if r.kind == "text")


def _rows(web: TestClient[Any, Any]) -> list[Outbox]:
    with _services(web).sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


async def test_a_bot_api_failure_at_submit_still_sends_the_case_and_tells_the_patient(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 803)
    await phone.consent()
    await phone.photo(skin_photo())
    await phone.expect("received")
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.tap(":age:adult")
    while "ft:" not in str(phone.keyboard()):
        await phone.expect("?")
        keyboard = str(phone.keyboard())
        if "ft:" not in keyboard:
            await phone.tap(":_skip" if "_skip" in keyboard else ":_done")
    await phone.tap(":skip")
    await phone.expect("Please check")
    telegram.fail("sendMessage", 500, times=2)
    telegram.fail("sendChatAction", 500, times=2)
    await phone.tap(":submit")
    await phone.expect("being analysed")
    services = _services(web)

    def dispatched() -> bool:
        with services.sessions() as session:
            status = session.scalar(select(TaskDispatch.status).where(TaskDispatch.task == "triage.analyze_case"))
        return status == DispatchStatus.PUBLISHED

    await _until(dispatched)  # in the broker's queue, no recovery timer involved
    queue = Path(services.settings.data_dir) / "broker" / "queue"
    assert any(b"triage.analyze_case" in f.read_bytes() for f in queue.glob("*.msg"))  # not a message being written
    with services.sessions() as session:
        assert session.scalar(select(Case.status)) == CaseStatus.QUEUED


async def test_the_web_process_serves_while_telegram_is_unreachable_and_connects_when_it_answers(
    database_url: str, tmp_path: Path
) -> None:
    migrate(database_url)
    port = free_port()
    telegram = FakeBotAPI()
    env = web_settings_env(telegram, database_url, tmp_path)
    env |= {"TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
            "TELEGRAM_API_FILE_URL": f"http://127.0.0.1:{port}/file/bot"}
    client: TestClient[Any, Any] = TestClient(TestServer(init_app(load_settings(env))))
    await client.start_server()
    try:
        health = await (await client.get("/healthz")).json()
        assert health["status"] == "degraded" and health["telegram"] == "unreachable"
        assert (await client.get("/inbox/login")).status == 200  # clinicians can still work
        update = telegram.text_update(804, "/start")
        assert await _post(client, update) == 503  # not lost: Telegram delivers it again later
        await telegram.start(port=port)  # Telegram answers again
        await asyncio.wait_for(client.server.app[TELEGRAM].ready.wait(), 20)
        assert (await (await client.get("/healthz")).json())["telegram"] == "ok"
        assert await _post(client, update) == 200
        await telegram.wait_for(lambda _: telegram.sent("sendMessage", 804), timeout=10)
    finally:
        await client.close()
        await telegram.stop()


async def test_a_token_telegram_rejects_stops_the_web_process_with_one_line_and_status_2(
    telegram: FakeBotAPI, sqlite_url: str, tmp_path: Path
) -> None:
    migrate(sqlite_url)
    telegram.fail("getMe", 401)
    port = free_port()
    env = {**os.environ, **web_settings_env(telegram, sqlite_url, tmp_path), "WEB_PORT": str(port),
           "TELEGRAM_BOT_TOKEN": "123456:SECRET-TOKEN-VALUE"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", env=env, cwd=ROOT,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = output.decode()
    assert proc.returncode == 2, text
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in text
    assert "SECRET-TOKEN-VALUE" not in text and "Traceback" not in text


async def test_a_photo_telegram_could_not_hand_over_is_delivered_again_not_asked_for(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 806)
    await phone.consent()
    update = telegram.photo_update(806, skin_photo())
    telegram.fail("getFile", 502)  # Telegram's file service away for a moment
    assert await _post(web, update) == 503  # so Telegram keeps the photo and delivers it again
    telegram.fail("getFile", 429, retry_after=1)  # then busy: it asks the bot to wait
    assert await _post(web, update) == 503
    assert not [c for c in telegram.sent("sendMessage", 806) if "download" in str(c.params.get("text"))]
    assert await _post(web, update) == 200
    await phone.expect("Photo 1 received")
    with _services(web).sessions() as session:
        assert len(session.scalars(select(Case)).one().images) == 1


async def test_a_reply_whose_send_timed_out_is_sent_again_and_marked_perhaps_delivered(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 807)
    slow = {"left": 1}

    async def past_the_read_timeout() -> None:
        if slow["left"]:
            slow["left"] -= 1
            await asyncio.sleep(5.5)  # the bot's read timeout is 5 s: the request was written, the answer never read

    telegram.hold("sendMessage", lambda params: str(params.get("chat_id")) == "807", past_the_read_timeout)
    await phone.send("/start")
    await _until(lambda: any(r.delivery_uncertain and r.status == "sent" for r in _rows(web)), timeout=20)
    row = next(r for r in _rows(web) if r.delivery_uncertain)
    assert row.kind == "text" and "consent" in str(row.payload.get("markup"))  # the question, sent again
    consent = [c for c in telegram.sent("sendMessage", 807) if "consent" in str(c.params.get("reply_markup"))]
    assert consent  # the patient has the question (perhaps twice: the documented duplicate, never a lost one)
