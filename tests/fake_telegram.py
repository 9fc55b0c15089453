"""A fake Telegram Bot API at the HTTP level: the real bot code talks to it as it would to api.telegram.org.

It answers the methods the bot uses, stores files for `getFile` and downloads, queues updates for
`getUpdates` (polling mode), records every call, and can be told to fail (429 with `retry_after`, 500) or to
answer slowly, as the real API does over the internet. It also builds the updates a patient's phone would cause.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {
    "id": 999000,
    "is_bot": True,
    "first_name": "Derma",
    "username": "derma_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    files: dict[str, bytes] = field(default_factory=dict)
    in_webhook_response: bool = False  # made by returning it from a webhook delivery, not by a request


class FakeBotAPI:
    def __init__(self, *, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.failures: list[tuple[str, int, int]] = []  # (method, http status, retry_after)
        self.outage: tuple[int, int] | None = None  # (http status, retry_after): every method fails while set
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        # chat id -> queue of that chat's calls, for load tests that follow thousands of chats cheaply
        self.listeners: dict[int, asyncio.Queue[Call]] = {}
        self.runner: web.AppRunner | None = None
        self.port = 0
        # (method, predicate over the params, awaitable): a matching call waits for the awaitable before it is
        # answered, e.g. a send held up by Telegram's group limit, or something a test does while a call is in flight
        self.holds: list[tuple[str, Any, Any]] = []

    # -- server ---------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- test controls --------------------------------------------------------------------------------------
    def add_file(self, data: bytes) -> tuple[str, str]:
        """Store a file as Telegram would; returns (file_id, file_unique_id)."""
        n = next(self._file_ids)
        file_id = f"file-{n}"
        self.files[file_id] = data
        return file_id, f"uniq-{n}"

    def hold(self, method: str, predicate: Any, wait: Any) -> None:
        """Calls of `method` whose params satisfy `predicate` are answered only after `await wait()`."""
        self.holds.append((method, predicate, wait))

    def fail(self, method: str, status: int, *, times: int = 1, retry_after: int = 0) -> None:
        self.failures.extend([(method, status, retry_after)] * times)

    async def restart(self, *, after_s: float) -> None:
        """Telegram unreachable: the port refuses connections for `after_s` seconds, then serves again."""
        await self.stop()
        await asyncio.sleep(after_s)
        await self.start(port=self.port)

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if (method is None or c.method == method)
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Call]:  # noqa: ASYNC109
        """Wait until `predicate(calls)` is truthy; returns the calls. Raises TimeoutError with what was seen."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not predicate(self.calls):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, c.params.get("chat_id"), str(c.params.get("text", ""))[:60]) for c in self.calls]
                    raise TimeoutError(f"condition not met in {timeout}s; calls: {seen[-15:]}")
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    pass
        return self.calls

    # -- update builders ------------------------------------------------------------------------------------
    def _user(self, user_id: int, language: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Patient", "language_code": language}

    def _message(self, user_id: int, language: str, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Patient"},
                "from": self._user(user_id, language),
                **content,
            },
        }

    def text_update(self, user_id: int, text: str, *, language: str = "en") -> dict[str, Any]:
        entities = (
            [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        )
        return self._message(user_id, language, text=text, entities=entities)

    def photo_update(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str = "",
        language: str = "en",
        width: int = 1280,
        height: int = 960,
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data)
        sizes = [
            {
                "file_id": f"{file_id}-thumb",
                "file_unique_id": f"{unique}-t",
                "width": 90,
                "height": 68,
                "file_size": 1000,
            },
            {"file_id": file_id, "file_unique_id": unique, "width": width, "height": height, "file_size": len(data)},
        ]
        extra = {"caption": caption} if caption else {}
        return self._message(user_id, language, photo=sizes, **extra)

    def document_update(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str,
        mime_type: str,
        language: str = "en",
        declared_size: int | None = None,
    ) -> dict[str, Any]:
        file_id, unique = self.add_file(data)
        doc = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": declared_size if declared_size is not None else len(data),
        }
        return self._message(user_id, language, document=doc)

    def callback_update(self, user_id: int, data: str, *, language: str = "en") -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._update_ids)),
                "from": self._user(user_id, language),
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": {"id": user_id, "type": "private"},
                    "text": "...",
                },
            },
        }

    # -- handlers -------------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.read()
            return (json.loads(body) if body else {}), files
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                    continue
                try:
                    params[key] = json.loads(value)
                except (ValueError, TypeError):
                    params[key] = value
        params.update({k: v for k, v in request.query.items()})
        return params, files

    def _message_result(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id", 0)
        chat_type = "private" if int(chat_id) > 0 else "supergroup"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": chat_type},
            "from": BOT_USER,
            **extra,
        }

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await self._params(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        for name, predicate, wait in list(self.holds):
            if name == method and predicate(params):
                await wait()
        outage = [(method, *self.outage)] if self.outage is not None else []
        for i, (name, status, retry_after) in enumerate(outage or self.failures):
            if name == method:
                if not outage:
                    del self.failures[i]
                async with self._changed:
                    self.calls.append(Call(f"{method}!{status}", params, files=files))
                    self._changed.notify_all()
                body: dict[str, Any] = {"ok": False, "error_code": status, "description": f"fake failure {status}"}
                if status == 429:
                    body["parameters"] = {"retry_after": retry_after}
                    body["description"] = f"Too Many Requests: retry after {retry_after}"
                return web.json_response(body, status=status)
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        result = self._answer(method, params, files)
        call = Call(method, params, files=files)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        listener = self.listeners.get(_chat(params))
        if listener is not None:
            listener.put_nowait(call)
        if result is None:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: not found"}, status=400
            )
        return web.json_response({"ok": True, "result": result})

    async def webhook_reply(self, body: Any) -> None:
        """What Telegram does with a webhook response that carries a method call: make the call (unanswered)."""
        if not isinstance(body, dict) or "method" not in body:
            return
        params = {key: value for key, value in body.items() if key != "method"}
        call = Call(str(body["method"]), params, in_webhook_response=True)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _answer(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("sendMessage", "editMessageText"):
            return self._message_result(params, text=str(params.get("text", "")))
        if method in ("editMessageMedia", "editMessageCaption"):
            return self._message_result(params, caption=str(params.get("caption", "")))
        if method == "sendPhoto":
            size = len(files.get("photo", b""))
            photo = [
                {"file_id": "sent-photo", "file_unique_id": "sent-u", "width": 100, "height": 100, "file_size": size}
            ]
            return self._message_result(params, photo=photo, caption=str(params.get("caption", "")))
        if method == "sendDocument":
            document = {"file_id": "sent-document", "file_unique_id": "sent-d",
                        "file_size": len(files.get("document", b""))}
            return self._message_result(params, document=document, caption=str(params.get("caption", "")))
        if method in (
            "sendChatAction",
            "answerCallbackQuery",
            "setWebhook",
            "deleteWebhook",
            "setMyCommands",
            "editMessageReplyMarkup",
            "deleteMessage",
        ):
            return True
        if method == "getFile":
            file_id = str(params.get("file_id", ""))
            if file_id not in self.files:
                return None
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}.jpg",
            }
        return None

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        timeout = float(params.get("timeout", 0) or 0)
        batch: list[dict[str, Any]] = []
        try:
            batch.append(await asyncio.wait_for(self.updates.get(), timeout=max(timeout, 0.05)))
        except TimeoutError:
            return []
        while not self.updates.empty():
            batch.append(self.updates.get_nowait())
        return batch

    async def _file(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        file_id = path.rsplit("/", 1)[-1].removesuffix(".jpg")
        data = self.files.get(file_id)
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")


def _chat(params: dict[str, Any]) -> int:
    try:
        return int(params.get("chat_id", 0))
    except (TypeError, ValueError):
        return 0
