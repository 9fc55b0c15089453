"""Wiring of the web process: the python-telegram-bot `Application` inside an aiohttp server.

The aiohttp server always runs (health check, Telegram webhook, later the clinician inbox). In webhook mode
Telegram posts updates to `/telegram/webhook`, checked against the secret token; in polling mode PTB's updater
fetches them. Either way updates go to `application.update_queue`, and the outbox sender runs beside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from sqlalchemy import text
from telegram import Update
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, ContextTypes, TypeHandler

import inbox
from bot import clinician, patient
from bot.metrics import render as render_metrics
from bot.ratelimit import RateLimiter
from bot.sender import OutboxSender
from bot.services import Services
from bot.telegram_http import AiohttpRequest
from bot.webhook_answers import AnsweringBot, CallbackAnswers
from triage.celery_app import create_celery
from triage.config import Settings
from triage.db import make_async_engine, make_engine, make_sessionmaker
from triage.images import ImageStore, load_keys

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
MAX_UPDATE_BYTES = 1024 * 1024

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
PTB = web.AppKey("ptb", Application)  # type: ignore[type-arg]


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Updates of different users run concurrently; each user's own updates run one at a time, in order."""

    def __init__(self, max_concurrent_updates: int, answers: CallbackAnswers | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # user -> (lock, updates holding or awaiting it)
        self._answers = answers

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = None
        if isinstance(update, Update):
            who = update.effective_user or update.effective_chat
            key = who.id if who is not None else None
        try:
            if key is None:
                await coroutine
                return
            lock, users = self._locks.get(key, (asyncio.Lock(), 0))
            self._locks[key] = (lock, users + 1)
            try:
                async with lock:
                    await coroutine
            finally:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]  # nobody else waits: forget this user
                else:
                    self._locks[key] = (lock, users - 1)
        finally:
            if self._answers is not None and isinstance(update, Update) and update.callback_query is not None:
                self._answers.give(update.callback_query.id, {})  # no handler answered: still stop the spinner

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure (no message content) and tell the patient that nothing is lost."""
    log.error("handler failed for update %s", getattr(update, "update_id", "?"), exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        from bot.texts import t

        with contextlib.suppress(Exception):
            await update.effective_chat.send_message(t("en", "error"))


async def _count_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.bot_data["services"].counters.updates += 1


def build_application(settings: Settings, services: Services) -> Application:  # type: ignore[type-arg]
    answers = CallbackAnswers()
    bot = AnsweringBot(
        settings.require_bot_token(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_api_file_url,
        request=AiohttpRequest(settings.telegram_connection_pool_size),
        get_updates_request=AiohttpRequest(1),
        rate_limiter=AIORateLimiter(overall_max_rate=settings.telegram_max_messages_per_s, max_retries=0),
        answers=answers,
    )
    builder = (
        Application.builder()
        .bot(bot)
        .concurrent_updates(PerUserUpdateProcessor(settings.max_concurrent_updates, answers))
    )
    if settings.telegram_mode == "webhook":
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data["services"] = services
    limiter = RateLimiter(burst=settings.rate_limit_burst, per_second=settings.rate_limit_per_s)
    application.add_handler(TypeHandler(Update, _count_update), group=-2)
    application.add_handler(TypeHandler(Update, limiter), group=-1)
    clinician.register(application)
    patient.register(application)
    application.add_error_handler(on_error)
    return application


def make_services(settings: Settings) -> Services:
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, pool_size=settings.max_concurrent_updates)
    keys = load_keys(settings.image_encryption_keys, settings.key_file)
    return Services(
        settings=settings,
        sessions=make_sessionmaker(engine),
        images=ImageStore(settings.image_dir, keys),
        celery=create_celery(settings),
        executor=ThreadPoolExecutor(max_workers=settings.max_concurrent_updates, thread_name_prefix="web-io"),
        db=make_async_engine(settings.resolved_database_url, pool_size=settings.max_concurrent_updates),
    )


async def telegram_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), settings.telegram_webhook_secret.encode()):
        return web.json_response({"error": "bad secret token"}, status=403)
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return web.json_response({"error": "update too large"}, status=413)
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "body is not JSON"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return web.json_response({"error": "not a Telegram update"}, status=400)
    application = request.app[PTB]
    try:
        update = Update.de_json(data, application.bot)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("malformed update %s: %s", data.get("update_id"), exc.__class__.__name__)
        return web.json_response({"error": "malformed update"}, status=400)
    query, bot = update.callback_query, application.bot
    if query is not None and isinstance(bot, AnsweringBot):  # the tap's answer rides in this response
        waiting = bot.callback_answers.expect(query.id)
        await application.update_queue.put(update)
        return web.json_response(await bot.callback_answers.wait(query.id, waiting) or {"ok": True})
    await application.update_queue.put(update)
    return web.json_response({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    def ping() -> None:
        with services.sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        await services.run(ping)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": exc.__class__.__name__}, status=503)
    return web.json_response({"status": "ok", "mode": request.app[SETTINGS].telegram_mode})


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await services.run(render_metrics, services.counters, services.sessions)
    return web.Response(text=body, content_type="text/plain", charset="utf-8")


async def _bot_lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    services = make_services(settings)
    app[SERVICES] = services
    application = build_application(settings, services)
    app[PTB] = application
    await application.initialize()
    await application.start()
    if settings.telegram_mode == "polling":
        assert application.updater is not None
        await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
    elif settings.telegram_webhook_url:
        await application.bot.set_webhook(
            settings.telegram_webhook_url.rstrip("/") + WEBHOOK_PATH,
            secret_token=settings.telegram_webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
    sender = asyncio.create_task(OutboxSender(services, application.bot).run(), name="outbox-sender")
    log.info("web process ready (%s mode)", settings.telegram_mode)
    try:
        yield
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        await application.stop()
        await application.shutdown()
        if services.db is not None:
            await services.db.dispose()
        services.executor.shutdown(wait=True)


def init_app(settings: Settings) -> web.Application:
    """The web process's aiohttp application for `settings`."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_bot_lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    inbox.setup(app, settings, services=lambda: app[SERVICES])
    if settings.telegram_mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, telegram_webhook)
    return app
