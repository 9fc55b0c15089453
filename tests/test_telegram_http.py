"""The Bot API transport (`bot.telegram_http.AiohttpRequest`) under a real PTB `Bot`, against a real HTTP server:
bodies as Telegram expects them, files, downloads, and every failure mapped to the PTB error the outbox sender
and the handlers rely on (a 429 stays `RetryAfter`, a pool timeout says the request was not sent)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut

from bot.telegram_http import NOT_SENT, AiohttpRequest
from tests.processes import free_port

TOKEN = "1:TRANSPORT"


class Server:
    """A tiny Bot API stand-in whose answers each test chooses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.reply: tuple[int, bytes] | None = None
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self.method)
        app.router.add_get("/file/bot{token}/{path:.*}", self.file)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def method(self, request: web.Request) -> web.Response:
        entry: dict[str, Any] = {"method": request.match_info["method"], "content_type": request.content_type}
        if request.content_type == "application/json":
            entry["params"] = json.loads(await request.read())
        elif request.content_type == "multipart/form-data":
            form = await request.post()
            entry["params"] = {k: v if isinstance(v, str) else v.file.read() for k, v in form.items()}
            entry["filenames"] = {k: v.filename for k, v in form.items() if not isinstance(v, str)}
        self.requests.append(entry)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.reply is not None and entry["method"] != "getMe":
            return web.Response(status=self.reply[0], body=self.reply[1], content_type="application/json")
        result: Any = True
        if entry["method"] in ("sendMessage", "sendPhoto"):
            result = {"message_id": len(self.requests), "date": 0, "chat": {"id": 7, "type": "private"},
                      "text": entry["params"].get("text", "")}
        if entry["method"] == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "Derma", "username": "derma_bot"}
        if entry["method"] == "getFile":
            result = {"file_id": "f", "file_unique_id": "u", "file_size": 5, "file_path": "photos/p.jpg"}
        return web.json_response({"ok": True, "result": result})

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=b"\xff\xd8abc")

    def bot(self, request: AiohttpRequest) -> Bot:
        return Bot(TOKEN, base_url=f"http://127.0.0.1:{self.port}/bot",
                   base_file_url=f"http://127.0.0.1:{self.port}/file/bot", request=request,
                   get_updates_request=AiohttpRequest(1))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.start()
    yield srv
    assert srv.runner is not None
    await srv.runner.cleanup()


async def test_json_body_keeps_nested_objects(server: Server) -> None:
    async with server.bot(AiohttpRequest(4)) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="consent:yes:en")]])
        message = await bot.send_message(7, "<b>héllo</b>", parse_mode="HTML", reply_markup=markup)
    sent = server.requests[-1]
    assert sent["method"] == "sendMessage" and sent["content_type"] == "application/json"
    assert sent["params"]["text"] == "<b>héllo</b>" and sent["params"]["chat_id"] == 7
    assert sent["params"]["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "consent:yes:en"}]]}
    assert message.message_id == len(server.requests)


async def test_files_go_as_multipart_with_the_other_fields(server: Server) -> None:
    async with server.bot(AiohttpRequest(4)) as bot:
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Claim", callback_data="claim:3")]])
        await bot.send_photo(7, InputFile(b"\xff\xd8jpeg-bytes", filename="case-3.jpg"), caption="case 3",
                             reply_markup=markup)
    sent = server.requests[-1]
    assert sent["content_type"] == "multipart/form-data"
    assert sent["params"]["photo"] == b"\xff\xd8jpeg-bytes" and sent["filenames"]["photo"] == "case-3.jpg"
    assert sent["params"]["caption"] == "case 3" and sent["params"]["chat_id"] == "7"
    assert json.loads(sent["params"]["reply_markup"]) == {"inline_keyboard": [[{"text": "Claim",
                                                                                "callback_data": "claim:3"}]]}


async def test_downloads_a_file(server: Server) -> None:
    async with server.bot(AiohttpRequest(4)) as bot:
        file = await bot.get_file("f")
        assert bytes(await file.download_as_bytearray()) == b"\xff\xd8abc"


async def test_telegram_errors_keep_their_meaning(server: Server) -> None:
    async with server.bot(AiohttpRequest(4)) as bot:
        server.reply = (429, b'{"ok": false, "error_code": 429, "description": "Too Many Requests",'
                             b' "parameters": {"retry_after": 7}}')
        with pytest.raises(RetryAfter) as retry:
            await bot.send_message(7, "x")
        assert retry.value.retry_after in (7, dt.timedelta(seconds=7))
        server.reply = (502, b"<html>Bad Gateway</html>")
        with pytest.raises(NetworkError):
            await bot.send_message(7, "x")
        server.reply = (200, b"not json at all")
        with pytest.raises(TelegramError, match="Invalid server response"):
            await bot.send_message(7, "x")


async def test_a_slow_answer_is_a_timeout_that_may_have_been_sent(server: Server) -> None:
    async with server.bot(AiohttpRequest(4, read_timeout=0.2, write_timeout=0.1, connect_timeout=0.1,
                                         pool_timeout=0.1)) as bot:
        server.delay_s = 2.0
        with pytest.raises(TimedOut) as timed_out:
            await bot.send_message(7, "x")
    assert NOT_SENT not in str(timed_out.value)
    # it did reach the server: the outbox sender must treat it as ambiguous
    assert [r["method"] for r in server.requests] == ["getMe", "sendMessage"]


async def test_a_full_pool_is_a_timeout_that_was_not_sent(server: Server) -> None:
    async with server.bot(AiohttpRequest(1, read_timeout=5, pool_timeout=0.2, connect_timeout=0.1)) as bot:
        server.delay_s = 1.5
        first = asyncio.create_task(bot.send_message(7, "first"))
        await asyncio.sleep(0.3)  # the only connection is busy with the first request
        with pytest.raises(TimedOut) as timed_out:
            await bot.send_message(7, "second")
        assert NOT_SENT in str(timed_out.value)
        await first
    assert [r["params"].get("text") for r in server.requests] == [None, "first"]  # getMe, then only the first


async def test_nobody_listening_is_a_network_error() -> None:
    request = AiohttpRequest(2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.post(f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()


def test_bad_construction_and_use() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpRequest(0)
    request = AiohttpRequest(1)
    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(request.do_request("http://127.0.0.1:9/x", "POST"))


async def test_honours_https_proxy_from_the_environment(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where Telegram is reachable only through a proxy, HTTPS_PROXY/HTTP_PROXY route the Bot API requests."""
    proxied: list[str] = []

    async def proxy(request: web.Request) -> web.Response:  # a plain-HTTP forward proxy sees the absolute URL
        proxied.append(str(request.url))
        return web.json_response({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Via proxy"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        request = AiohttpRequest(1)
        await request.initialize()
        try:
            bot = Bot(TOKEN, base_url="http://api.telegram.invalid/bot", request=request,
                      get_updates_request=AiohttpRequest(1))
            me = await bot.get_me()
        finally:
            await request.shutdown()
    finally:
        await runner.cleanup()
    assert me.first_name == "Via proxy"
    assert proxied and "api.telegram.invalid" in proxied[0]


async def test_no_proxy_hosts_are_reached_directly(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with server.bot(AiohttpRequest(2)) as bot:
        assert (await bot.send_message(7, "direct")).message_id == len(server.requests)
