"""Logging for the web, worker and beat processes: no line carries a patient's words, a form field or a token.

Our own log calls pass ids and outcomes only. What could still leak is what other code puts into a line on an
error path: an exception's message (a database error quotes the row it refused, `ValueError` quotes the input it
could not parse), SQLAlchemy's statement parameters, Celery's `Task ... raised: ValueError('...')` line. So the
formatter writes a traceback as its frames and the exception classes only, never an exception's message, and
rewrites Celery's failure line the same way. Statement parameters are kept out by `hide_parameters=True` on every
engine (`triage.db`). For a PostgreSQL error the SQLSTATE code is kept: it says what went wrong and quotes nothing.

`tests/test_logs.py` forces errors carrying recognisable content through every process and reads every log.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers whose messages embed an exception's repr in the message itself, not as exc_info.
_REPR_IN_ARGS = {"celery.app.trace": ("exc",)}


def describe(exc: BaseException) -> str:
    """The exception's class, with the SQLSTATE of a database error; never its message."""
    name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or getattr(exc, "sqlstate", None)
    return f"{name} (SQLSTATE {code})" if isinstance(code, str) else name


def format_exception(exc: BaseException) -> str:
    """A traceback of `exc` and its causes: frames (file, line, function, source line) and classes only."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames]
        parts.append("\n".join(["Traceback (most recent call last):", *lines, describe(current)]))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n\nwhich happened while handling, or was raised from:\n".join(reversed(parts))


class ContentFreeFormatter(logging.Formatter):
    """A formatter that writes exceptions without their messages (see the module docstring)."""

    def formatException(self, ei: Any) -> str:
        exc = ei[1] if isinstance(ei, tuple) else None
        return format_exception(exc) if isinstance(exc, BaseException) else ""

    def format(self, record: logging.LogRecord) -> str:
        keys = _REPR_IN_ARGS.get(record.name)
        if keys and isinstance(record.args, dict):
            record.args = {**record.args, **{k: _class_only(record.args.get(k)) for k in keys if k in record.args}}
        return super().format(record)


def _class_only(value: object) -> str:
    if isinstance(value, BaseException):
        return describe(value)
    text = str(value)
    return text.split("(", 1)[0] if "(" in text else "an error"


def configure(level: str | int = "INFO") -> None:
    """Send every logger's records to standard error through the content-free formatter (replacing any handler)."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContentFreeFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL, and Bot API URLs contain the bot token. python-telegram-bot's DEBUG lines carry
    # the token too (its API URL) and every call's parameters (the texts sent to patients): never below INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(root.level, logging.INFO))
    # PTB's rate limiter logs every 429 as an ERROR ("Rate limit hit after maximum of 0 retries"), though the bot
    # handles each one (the outbox waits retry_after; a reply is queued); a Bot API slowdown filled the log with them.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """`sys.excepthook` for the CLIs: an uncaught error is reported without its message."""
    logging.getLogger("uncaught").error("uncaught %s", describe(exc), exc_info=(kind, exc, tb))
