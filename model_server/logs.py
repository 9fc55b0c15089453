"""The model server's logging: no line carries a request's words, a photo's bytes or a header.

The server's own log calls name exception classes and request ids only. What could still leak is what other code
logs with a traceback: aiohttp logs a request it cannot parse ("Error handling request") with an exception whose
message quotes the offending request line or header, query string and all. So the formatter writes a traceback
as its frames and the exception classes only, never an exception's message. The web, worker and beat processes
do the same (`triage/logs.py`); the model server installs without the workflow packages, so it has its own.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def describe(exc: BaseException) -> str:
    """The exception's qualified class name; never its message."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")


def format_exception(exc: BaseException) -> str:
    """A traceback of `exc` and its causes: frames (file, line, function) and classes only."""
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
    """A formatter that writes exceptions without their messages."""

    def formatException(self, ei: Any) -> str:
        exc = ei[1] if isinstance(ei, tuple) else None
        return format_exception(exc) if isinstance(exc, BaseException) else ""


def configure(level: str | int = "INFO") -> None:
    """Send every logger's records to standard error through the content-free formatter (replacing any handler)."""
    handler = logging.StreamHandler()
    handler.setFormatter(ContentFreeFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
