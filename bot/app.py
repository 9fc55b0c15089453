"""Wiring of the web process: the python-telegram-bot `Application` inside an aiohttp server.

The aiohttp server always runs (health check, Telegram webhook, the clinician inbox), also while Telegram cannot
be reached: the connection to Telegram is made in the background and retried with backoff (`/healthz` says so);
a token that Telegram rejects stops the process with one line and exit status 2.

In webhook mode Telegram posts updates to `/telegram/webhook`, checked against the secret token, and each update
is handled within its request: Telegram gets its 200 only once the update's effect is stored (a reply sent, or
queued in the outbox), and a 503 when a database or network fault interrupted it, so Telegram delivers it again
instead of it being lost with a crashed process. In polling mode PTB's updater fetches updates into
`application.update_queue`. The outbox sender and the task dispatcher run beside them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web
from sqlalchemy import text
from telegram import Update
from telegram.error import InvalidToken, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, ContextTypes, TypeHandler

import inbox
from bot import clinician, conversation, webhook_answers
from bot.dispatcher import TaskDispatcher
from bot.metrics import render as render_metrics
from bot.ratelimit import RateLimiter
from bot.sender import OutboxSender, listen_for_due_rows
from bot.services import Services
from bot.telegram_http import AiohttpRequest
from bot.update_shape import check_shape
from bot.webhook_answers import AnsweringBot, CallbackAnswers
from triage import logs
from triage.celery_app import create_celery
from triage.config import Settings
from triage.db import is_passing_db_error, make_async_engine, make_engine, make_sessionmaker
from triage.images import ImageStore, load_keys
from triage.untrusted import TooDeep, clean_json

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
MAX_UPDATE_BYTES = 1024 * 1024

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
PTB = web.AppKey("ptb", Application)  # type: ignore[type-arg]


# RetryAfter: Telegram's 429 (it asks the bot to wait), not a NetworkError in python-telegram-bot's classes.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (NetworkError, RetryAfter, ConnectionError, TimeoutError)
RECENT_UPDATES = 10_000  # update ids remembered, so that a delivery Telegram repeats is not handled twice


def is_transient(exc: BaseException) -> bool:
    """A fault that passes (the database or Telegram away for a moment): the update should be delivered again.
    The database's are `triage.db.is_passing_db_error`'s (asyncpg's "starting up" included)."""
    return isinstance(exc, TRANSIENT_ERRORS) or is_passing_db_error(exc)


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
    """Log the failure (no message content). A fault that passes is left to Telegram's delivering the update again
    (webhook mode); anything else is a bug, and the patient is told that nothing is lost."""
    error = context.error
    update_id = getattr(update, "update_id", None)
    if isinstance(update_id, int) and error is not None:
        context.bot_data.setdefault("failed_updates", {})[update_id] = error
    if error is not None and is_transient(error):
        log.warning("update %s: interrupted by %s; Telegram will deliver it again", update_id, logs.describe(error))
        return
    log.error("handler failed for update %s", update_id, exc_info=error)
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
    conversation.register(application)
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
        # one connection more than the updates at once: the outbox listener holds one (bot.sender)
        db=make_async_engine(settings.resolved_database_url, pool_size=settings.max_concurrent_updates + 1),
    )


@web.middleware
async def last_resort(request: web.Request, handler: Any) -> web.StreamResponse:
    """Any error no handler expected is a plain 500 that says nothing of the request, logged without content."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        log.error("%s %s failed", request.method, request.rel_url.path[:100], exc_info=exc)
        return web.json_response({"error": "internal error; nothing you sent was kept half-done, try again"},
                                 status=500)


class TelegramLink:
    """Whether the web process has reached Telegram yet (getMe answered), and what went wrong if not."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.problem = "not tried yet"

    @property
    def state(self) -> str:
        return "ok" if self.ready.is_set() else "unreachable"


TELEGRAM = web.AppKey("telegram", TelegramLink)
EXIT_STATUS = web.AppKey("exit_status", list[int])


class RecentUpdates:
    """The ids of the updates handled lately: Telegram repeats a delivery whose answer it did not get."""

    def __init__(self, size: int = RECENT_UPDATES) -> None:
        self._order: collections.deque[int] = collections.deque(maxlen=size)
        self._ids: set[int] = set()

    def __contains__(self, update_id: int) -> bool:
        return update_id in self._ids

    def add(self, update_id: int) -> None:
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(update_id)
        self._ids.add(update_id)


RECENT = web.AppKey("recent_updates", RecentUpdates)


async def _handle(application: Application, update: Update) -> bool:  # type: ignore[type-arg]
    """Handle one update now, in order with the same user's others. Returns whether a fault that passes
    interrupted it (so Telegram should deliver it again)."""
    await application.update_processor.process_update(update, application.process_update(update))
    error = application.bot_data.get("failed_updates", {}).pop(update.update_id, None)
    return error is not None and is_transient(error)


async def telegram_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), settings.telegram_webhook_secret.encode()):
        return web.json_response({"error": "bad secret token"}, status=403)
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return web.json_response({"error": "update too large"}, status=413)
    if not request.app[TELEGRAM].ready.is_set():  # Telegram keeps the update and delivers it again
        return web.json_response({"error": "starting: Telegram not reached yet"}, status=503,
                                 headers={"Retry-After": "5"})
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        return web.json_response({"error": "body is not JSON"}, status=400)
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int) or isinstance(data["update_id"], bool):
        return web.json_response({"error": "not a Telegram update"}, status=400)
    application = request.app[PTB]
    try:
        # Control characters and lone surrogates would fail at the database: the patient's words lose them instead.
        # Fields of the wrong type would fail in a handler: python-telegram-bot checks none (bot/update_shape.py).
        update = Update.de_json(check_shape(clean_json(data)), application.bot)
    except TooDeep:
        return web.json_response({"error": "update nested too deeply"}, status=400)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        log.warning("malformed update %s: %s", data.get("update_id"), exc.__class__.__name__)
        return web.json_response({"error": "malformed update"}, status=400)
    recent = request.app[RECENT]
    if update.update_id in recent:
        return web.json_response({"ok": True, "duplicate": True})
    query, bot = update.callback_query, application.bot
    waiting = bot.callback_answers.expect(query.id) if query is not None and isinstance(bot, AnsweringBot) else None
    handling = asyncio.ensure_future(_handle(application, update))
    if waiting is not None and query is not None and isinstance(bot, AnsweringBot):
        # The tap's answer rides in the response when the handler is quick; a slow handler's goes out at once.
        done, _ = await asyncio.wait({handling}, timeout=webhook_answers.WAIT_S)
        if not done:
            held = bot.callback_answers.release(query.id, waiting)
            if held is not None:
                await bot.send_held(query.id, held)
    retry = await handling
    if retry:
        return web.json_response({"error": "interrupted; deliver again"}, status=503, headers={"Retry-After": "1"})
    recent.add(update.update_id)
    answer = None
    if waiting is not None and query is not None and isinstance(bot, AnsweringBot):
        answer = bot.callback_answers.collect(query.id, waiting)
    return web.json_response(answer or {"ok": True})


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    link = request.app[TELEGRAM]

    def ping() -> None:
        with services.sessions() as session:
            session.execute(text("SELECT 1"))

    try:
        await services.run(ping)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": logs.describe(exc), "telegram": link.state},
                                 status=503)
    body = {"status": "ok" if link.ready.is_set() else "degraded", "mode": request.app[SETTINGS].telegram_mode,
            "telegram": link.state}
    if not link.ready.is_set():
        body["telegram_problem"] = link.problem
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = await services.run(render_metrics, services.counters, services.sessions)
    return web.Response(text=body, content_type="text/plain", charset="utf-8")


CONNECT_BACKOFF_MAX_S = 60.0


async def _connect_telegram(app: web.Application, application: Application) -> None:  # type: ignore[type-arg]
    """Reach Telegram (getMe), retrying with backoff while it is unreachable; then register the webhook or start
    polling. A token Telegram rejects is one line and exit status 2: retrying cannot fix it."""
    settings, link = app[SETTINGS], app[TELEGRAM]
    delay, failures = 1.0, 0
    while True:
        try:
            await application.initialize()
            if settings.telegram_mode == "polling":
                assert application.updater is not None
                await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            elif settings.telegram_webhook_url:
                await application.bot.set_webhook(
                    settings.telegram_webhook_url.rstrip("/") + WEBHOOK_PATH,
                    secret_token=settings.telegram_webhook_secret,
                    allowed_updates=Update.ALL_TYPES,
                )
            break
        except InvalidToken:
            log.critical("Telegram rejected TELEGRAM_BOT_TOKEN: check the token with @BotFather; stopping")
            app[EXIT_STATUS].append(2)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        except (NetworkError, OSError) as exc:
            failures += 1
            link.problem = logs.describe(exc)
            if failures == 1 or failures % 10 == 0:
                log.warning("Telegram cannot be reached (%s); serving the inbox meanwhile and trying again every "
                            "%.0f s at most", link.problem, CONNECT_BACKOFF_MAX_S)
            await asyncio.sleep(delay)
            delay = min(CONNECT_BACKOFF_MAX_S, delay * 2)
    await application.start()
    link.ready.set()
    log.info("connected to Telegram after %d failed attempt(s); web process ready (%s mode)", failures,
             settings.telegram_mode)


async def _bot_lifecycle(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    services = make_services(settings)
    app[SERVICES] = services
    application = build_application(settings, services)
    app[PTB] = application
    dispatcher = TaskDispatcher(services)
    sender = OutboxSender(services, application.bot)
    services.wake_dispatcher, services.wake_sender = dispatcher.wake, sender.wake
    tasks = [asyncio.create_task(dispatcher.run(), name="task-dispatcher"),
             asyncio.create_task(_connect_telegram(app, application), name="telegram-connect")]

    async def send_when_connected() -> None:
        await app[TELEGRAM].ready.wait()
        await sender.run()

    tasks.append(asyncio.create_task(send_when_connected(), name="outbox-sender"))
    if services.db is not None:
        tasks.append(asyncio.create_task(listen_for_due_rows(services.db, sender.wake), name="outbox-listener"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        with contextlib.suppress(Exception):
            await application.shutdown()
        with contextlib.suppress(Exception):  # never initialised (Telegram unreachable): its HTTP sessions still are
            await application.bot.shutdown()
        if services.db is not None:
            await services.db.dispose()
        services.executor.shutdown(wait=True)


def init_app(settings: Settings) -> web.Application:
    """The web process's aiohttp application for `settings`."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES, middlewares=[last_resort])
    app[SETTINGS] = settings
    app[TELEGRAM] = TelegramLink()
    app[RECENT] = RecentUpdates()
    app[EXIT_STATUS] = []
    app.cleanup_ctx.append(_bot_lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    inbox.setup(app, settings, services=lambda: app[SERVICES])
    if settings.telegram_mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, telegram_webhook)
    return app
