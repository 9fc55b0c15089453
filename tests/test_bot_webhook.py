"""The web process in-process: the real aiohttp app and PTB handlers, a real database, the folder broker, and
the fake Bot API at the HTTP level. Hostile input at the webhook door and in the conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import SERVICES, init_app
from tests.bot_harness import connected
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from triage.config import load_settings
from triage.models import Case, CaseImage, Patient

SECRET = "s3cret-token"
USER = 501


@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    migrate(database_url)
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
            "TELEGRAM_BOT_TOKEN": "1:TEST",
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "TELEGRAM_API_FILE_URL": telegram.file_url,
            "MAX_IMAGE_BYTES": str(5 * 1024 * 1024),
        }
    )
    client = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    await connected(client)
    yield client
    await client.close()


async def _post(web: TestClient[Any, Any], update: Any, secret: str | None = SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    resp = await web.post("/telegram/webhook", json=update, headers=headers)
    return resp.status


def _texts(telegram: FakeBotAPI, chat: int = USER) -> list[str]:
    return [str(c.params.get("text", "")) for c in telegram.sent("sendMessage", chat)]


async def _reply_count(telegram: FakeBotAPI, n: int) -> list[str]:
    await telegram.wait_for(lambda calls: len(telegram.sent("sendMessage", USER)) >= n, timeout=15)
    return _texts(telegram)


def _count(web: TestClient[Any, Any], model: Any) -> int:
    services = web.server.app[SERVICES]
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_webhook_refuses_a_wrong_or_missing_secret(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    update = telegram.text_update(USER, "/start")
    assert await _post(web, update, secret="nope") == 403
    assert await _post(web, update, secret=None) == 403
    assert await _post(web, update, secret=SECRET + "x") == 403
    assert telegram.sent("sendMessage") == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"', b'{"message": {}}', b'{"update_id": "7"}', b"\xff\xfe", b""],
    ids=["broken", "list", "string", "no-update-id", "string-id", "binary", "empty"],
)
async def test_the_webhook_answers_garbage_with_400(web: TestClient[Any, Any], body: bytes) -> None:
    resp = await web.post(
        "/telegram/webhook",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert "error" in await resp.json()


async def test_the_webhook_refuses_an_oversized_body(web: TestClient[Any, Any]) -> None:
    resp = await web.post(
        "/telegram/webhook",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )
    assert resp.status == 413


async def test_health_check_touches_the_database(web: TestClient[Any, Any]) -> None:
    resp = await web.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["status"] == "ok"


async def test_declining_consent_stores_nothing(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    await _post(web, telegram.text_update(USER, "/start"))
    await _post(web, telegram.callback_update(USER, "consent:no:en"))
    texts = await _reply_count(telegram, 2)
    assert "Nothing has been stored" in texts[1]
    assert _count(web, Patient) == 0


async def test_a_photo_before_consent_is_not_stored(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    await _post(web, telegram.photo_update(USER, skin_photo()))
    texts = await _reply_count(telegram, 1)
    assert "/start" in texts[0]
    assert _count(web, CaseImage) == 0


async def test_delete_erases_every_store_after_confirmation(
    web: TestClient[Any, Any], telegram: FakeBotAPI, tmp_path: Path
) -> None:
    await _post(web, telegram.text_update(USER, "/start"))
    await _post(web, telegram.callback_update(USER, "consent:yes:en"))
    await _post(web, telegram.photo_update(USER, skin_photo(), caption="a mole"))
    texts = await _reply_count(telegram, 3)
    assert "Photo 1 received" in texts[2], texts
    assert list((tmp_path / "images").rglob("*.bin"))
    await _post(web, telegram.text_update(USER, "/delete"))
    texts = await _reply_count(telegram, 4)
    assert "cannot be undone" in texts[3]
    await _post(web, telegram.callback_update(USER, "delete:no"))
    texts = await _reply_count(telegram, 5)
    assert "Nothing was deleted" in texts[4] and _count(web, Case) == 1
    await _post(web, telegram.callback_update(USER, "delete:yes"))
    texts = await _reply_count(telegram, 6)
    assert "have been deleted" in texts[5]
    assert _count(web, Patient) == 0 and _count(web, Case) == 0 and _count(web, CaseImage) == 0
    assert not list((tmp_path / "images").rglob("*.bin"))
    await _post(web, telegram.callback_update(USER, "delete:yes"))  # an old button pressed again
    texts = await _reply_count(telegram, 7)
    assert "store nothing" in texts[6]


async def test_metrics_count_updates_cases_and_messages_without_content(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    await _post(web, telegram.text_update(USER, "/start"))
    await _post(web, telegram.callback_update(USER, "consent:yes:en"))
    await _reply_count(telegram, 2)
    resp = await web.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    body = await resp.text()
    assert "dermatriage_updates_total 2" in body
    assert 'dermatriage_cases{status="collecting"} 1' in body
    assert str(USER) not in body and "Patient" not in body


def test_the_web_process_runs_on_uvloop_and_falls_back_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import sys

    from bot.__main__ import new_event_loop

    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    loop = new_event_loop()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop) and not type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


# -- a button's answer in the webhook response (bot/webhook_answers.py) ----------------------------------------
async def _tap(web: TestClient[Any, Any], telegram: FakeBotAPI, data: str) -> tuple[dict[str, Any], dict[str, Any]]:
    update = telegram.callback_update(USER, data)
    resp = await web.post("/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert resp.status == 200
    return update, await resp.json()


async def test_a_tap_is_answered_in_the_webhook_response(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    assert await _post(web, telegram.text_update(USER, "/start")) == 200
    await _reply_count(telegram, 1)
    update, body = await _tap(web, telegram, "consent:yes:en")  # acknowledged at once: the spinner stops
    assert body == {"method": "answerCallbackQuery", "callback_query_id": update["callback_query"]["id"]}
    update, body = await _tap(web, telegram, "q:99:age:adult")  # not the current question: a pop-up
    assert body["method"] == "answerCallbackQuery"
    assert body["callback_query_id"] == update["callback_query"]["id"]
    assert body["show_alert"] is True and "earlier message" in body["text"]
    await _reply_count(telegram, 2)
    assert telegram.sent("answerCallbackQuery") == []  # no request of its own


async def test_a_tap_no_handler_answers_still_stops_the_spinner(telegram: FakeBotAPI) -> None:
    """E.g. a tap dropped by the per-patient rate limit: once its processing ends, the webhook gets an empty answer."""
    from telegram import Update

    from bot.app import PerUserUpdateProcessor
    from bot.webhook_answers import CallbackAnswers

    answers = CallbackAnswers()
    processor = PerUserUpdateProcessor(4, answers)
    update = Update.de_json(telegram.callback_update(USER, "anything"), None)
    assert update is not None and update.callback_query is not None
    waiting = answers.expect(update.callback_query.id)

    async def handled_without_answering() -> None:
        return None

    await processor.do_process_update(update, handled_without_answering())
    assert answers.collect(update.callback_query.id, waiting) == {
        "method": "answerCallbackQuery", "callback_query_id": update.callback_query.id}


async def test_an_answer_too_late_for_the_response_is_sent_as_a_request(
    web: TestClient[Any, Any], telegram: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.webhook_answers

    monkeypatch.setattr(bot.webhook_answers, "WAIT_S", 0.0)  # the webhook returns before any handler answers
    assert await _post(web, telegram.text_update(USER, "/start")) == 200
    await _reply_count(telegram, 1)
    update, body = await _tap(web, telegram, "q:99:age:adult")
    assert body == {"ok": True}
    calls = await telegram.wait_for(lambda calls: telegram.sent("answerCallbackQuery"), timeout=15)
    answer = telegram.sent("answerCallbackQuery")[0]
    assert calls and not answer.in_webhook_response
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    assert "earlier message" in answer.params["text"]
