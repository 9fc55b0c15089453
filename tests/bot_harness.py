"""Drive the real web process in-process like a patient's phone would: updates in through the webhook, messages
and keyboards out through the fake Bot API. Used by the conversation tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, TELEGRAM, init_app
from bot.services import Services
from tests.fake_telegram import Call, FakeBotAPI
from triage.config import load_settings

SECRET = "s3cret-token"


def web_settings_env(telegram: FakeBotAPI, database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": "1:TEST",
        "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_SECRET": SECRET, "OUTBOX_POLL_INTERVAL_S": "0.05",
        "TELEGRAM_API_BASE_URL": telegram.base_url, "TELEGRAM_API_FILE_URL": telegram.file_url,
        "MAX_IMAGE_BYTES": str(5 * 1024 * 1024), "RATE_LIMIT_BURST": "1000", **extra,
    }


async def start_web(telegram: FakeBotAPI, database_url: str, data_dir: Path, **extra: str) -> TestClient[Any, Any]:
    settings = load_settings(web_settings_env(telegram, database_url, data_dir, **extra))
    client: TestClient[Any, Any] = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    await connected(client)
    return client


async def connected(web: TestClient[Any, Any], timeout: float = 15) -> None:  # noqa: ASYNC109
    """Wait until the web process has reached the (fake) Bot API: it connects in the background."""
    import asyncio

    await asyncio.wait_for(web.server.app[TELEGRAM].ready.wait(), timeout)


def services(web: TestClient[Any, Any]) -> Services:
    return web.server.app[SERVICES]


class PatientPhone:
    """One patient's Telegram chat with the bot."""

    def __init__(self, web: TestClient[Any, Any], telegram: FakeBotAPI, user_id: int, language: str = "en") -> None:
        self.web = web
        self.telegram = telegram
        self.user_id = user_id
        self.language = language
        self.seen = 0

    async def post(self, update: dict[str, Any]) -> None:
        resp = await self.web.post("/telegram/webhook", json=update,
                                   headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        body = await resp.text()
        assert resp.status == 200, body
        await self.telegram.webhook_reply(json.loads(body))  # a button's answer can come back in the response

    # -- what the patient does ----------------------------------------------------------------------------------
    async def send(self, text: str) -> None:
        await self.post(self.telegram.text_update(self.user_id, text, language=self.language))

    async def consent(self) -> None:
        """/start, agree (in English), and the request for photos."""
        await self.send("/start")
        await self.expect("?")
        await self.tap("consent:yes:en")
        await self.expect("10 cm")

    async def photo(self, data: bytes, caption: str = "") -> None:
        await self.post(self.telegram.photo_update(self.user_id, data, caption=caption, language=self.language))

    async def document(self, data: bytes, file_name: str, mime_type: str, declared_size: int | None = None) -> None:
        await self.post(self.telegram.document_update(self.user_id, data, file_name=file_name, mime_type=mime_type,
                                                      language=self.language, declared_size=declared_size))

    async def other(self, **content: Any) -> None:
        """Any other kind of message: a sticker, a voice note, a location..."""
        await self.post(self.telegram._message(self.user_id, self.language, **content))

    def keyboard(self) -> list[dict[str, Any]]:
        """The buttons of the latest message (or keyboard edit) in this chat."""
        for call in reversed(self._chat_calls()):
            markup = call.params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                return [button for row in markup["inline_keyboard"] for button in row]
        raise AssertionError("no keyboard in this chat")

    async def tap(self, match: str | Callable[[str], bool]) -> str:
        """Tap the latest keyboard's button whose callback data ends with `match`. Returns the data sent."""
        def ok(data: str) -> bool:
            return match(data) if callable(match) else data.endswith(match)

        buttons = [b for b in self.keyboard() if "callback_data" in b and ok(b["callback_data"])]
        assert buttons, f"no button {match!r} in {[b.get('callback_data') for b in self.keyboard()]}"
        await self.tap_data(buttons[0]["callback_data"])
        return str(buttons[0]["callback_data"])

    async def tap_data(self, data: str) -> None:
        await self.post(self.telegram.callback_update(self.user_id, data, language=self.language))

    # -- what the patient sees ----------------------------------------------------------------------------------
    def _chat_calls(self) -> list[Call]:
        return [c for c in self.telegram.calls if c.method in ("sendMessage", "editMessageReplyMarkup",
                                                               "editMessageText")
                and str(c.params.get("chat_id")) == str(self.user_id)]

    def messages(self) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.telegram.sent("sendMessage", self.user_id)]

    def alerts(self) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.telegram.sent("answerCallbackQuery")
                if c.params.get("show_alert")]

    async def expect(self, needle: str, timeout: float = 15) -> str:  # noqa: ASYNC109
        """Wait for a new message containing `needle`; returns it. Messages before it count as seen."""
        def found(_calls: list[Call]) -> bool:
            return any(needle in m for m in self.messages()[self.seen:])

        await self.telegram.wait_for(found, timeout=timeout)
        new = self.messages()
        index = next(i for i in range(self.seen, len(new)) if needle in new[i])
        self.seen = index + 1
        return new[index]

    async def settle(self) -> None:
        """Wait until the bot has answered everything sent so far (each update gets at least one reply)."""
        import asyncio

        await asyncio.sleep(0.3)
