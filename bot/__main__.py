"""`python -m bot`: the web process (Telegram webhook or polling, health check, outbox sender)."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from bot.app import EXIT_STATUS, init_app
from triage import logs
from triage.config import ConfigError, load_settings


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (a base dependency on Linux and macOS): the web process spends much of its CPU
    in the event loop and its transports, and uvloop does that work in C. The standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main() -> int:
    try:
        settings = load_settings()
        settings.require_bot_token()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    sys.excepthook = logs.excepthook
    app = init_app(settings)
    web.run_app(
        app,
        loop=new_event_loop(),
        host=settings.web_host,
        port=settings.web_port,
        print=None,
        access_log=None,
        handle_signals=True,
    )
    statuses: list[int] = app[EXIT_STATUS]
    return statuses[0] if statuses else 0  # 2 when Telegram rejected the token


if __name__ == "__main__":
    raise SystemExit(main())
