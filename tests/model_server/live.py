"""The model server on a real port, served from its own event loop in a background thread, for synchronous
clients (schemathesis, hypothesis tests, `triage.model_client`)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from model_server.app import init_app
from model_server.backends.base import BackendBase

from .conftest import make_settings


class LiveServer:
    """`with LiveServer(backend, **settings) as url:` serves the app at `url` until the block ends."""

    def __init__(self, backend: BackendBase, **settings: Any) -> None:
        self.app = init_app(make_settings(**settings), backend)
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-model-server", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        return self.url

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
