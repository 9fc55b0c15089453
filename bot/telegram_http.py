"""The Bot API transport: python-telegram-bot's `BaseRequest` over an aiohttp client session.

PTB's default transport is httpx. Under load its connection pool dominated the web process's CPU profile (every
request scans every pooled connection; see docs/performance.md), while aiohttp's client, with its C HTTP parser,
is already in the process for the web server. This class is the one place that talks HTTP to Telegram.

Errors map to PTB's own: a timeout before the request could be written (waiting for a pooled connection or
connecting) is `TimedOut` saying the request was *not* sent, any other timeout is a plain `TimedOut` (it may or may
not have reached Telegram), and a transport failure is `NetworkError`. Bodies without files go as JSON; bodies
with files as multipart form data, as the Bot API accepts both.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

NOT_SENT = "Connection timeout: the request was not sent to Telegram."


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """One aiohttp `ClientSession` with a bounded connection pool, created in `initialize`."""

    __slots__ = ("_connect", "_media_write", "_pool", "_pool_size", "_proxies", "_proxy_by_origin", "_read",
                 "_session", "_write")

    def __init__(
        self,
        connection_pool_size: int = 8,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 30.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] = {}
        self._proxy_by_origin: dict[tuple[str, str], str | None] = {}

    def _proxy(self, url: str) -> str | None:
        parts = urllib.parse.urlsplit(url)
        origin = (parts.scheme, parts.hostname or "")
        if origin not in self._proxy_by_origin:
            bypass = not self._proxies or bool(urllib.request.proxy_bypass(origin[1]))
            self._proxy_by_origin[origin] = None if bypass else self._proxies.get(origin[0])
        return self._proxy_by_origin[origin]

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}, json_serialize=json.dumps,
                cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies: skip the jar on every request
            )
            # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as httpx honoured them (where Telegram needs a proxy), read once:
            # aiohttp's trust_env reads the whole environment again on every request, ~7 % of the web process's CPU.
            self._proxies = urllib.request.getproxies_environment()
            self._proxy_by_origin = {}

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data is not None and request_data.contains_files else None
        read = _seconds(read_timeout, self._read)
        write = _seconds(write_timeout, self._media_write if files else self._write)
        connect = _seconds(connect_timeout, self._connect)
        pool = _seconds(pool_timeout, self._pool)
        # aiohttp has no write timeout: the whole exchange is bounded by the sum of the parts, getting a connection
        # (from the pool, or a new one) by pool + connect, and waiting for the answer by the read timeout.
        parts = (pool, connect, write, read)
        total = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
        getting = None if pool is None or connect is None else pool + connect
        timeout = aiohttp.ClientTimeout(total=total, connect=getting, sock_read=read)
        kwargs: dict[str, Any] = {}
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in request_data.json_parameters.items() if request_data else ():
                form.add_field(name, value)
            for name, field in files.items():
                filename, content = field[0], field[1]
                content_type = field[2] if len(field) > 2 else "application/octet-stream"
                form.add_field(name, content, filename=filename, content_type=content_type)
            kwargs["data"] = form
        elif request_data is not None:
            kwargs["data"] = json.dumps(request_data.parameters).encode()
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            kwargs["proxy"] = self._proxy(url)
            async with self._session.request(method, url, timeout=timeout, **kwargs) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut(NOT_SENT) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
