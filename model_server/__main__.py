"""`python -m model_server`: read the settings, load the model, serve HTTP.

Exit status 2 (with a one-line message on stderr) when a setting is wrong or the backend cannot start.
"""

from __future__ import annotations

import logging
import os
import sys

from aiohttp import web

from model_server import logs
from model_server.app import init_app
from model_server.backends import BackendError, create_backend
from model_server.settings import SettingsError, load_settings


def main() -> int:
    """Run the server until interrupted; returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"model_server: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)  # tracebacks without exception messages: they can quote a request
    try:
        backend = create_backend(settings)
        backend.load()  # before listening: /healthz answers only once the model is ready
    except BackendError as exc:
        print(f"model_server: cannot start the {settings.backend} backend: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        init_app(settings, backend),
        host=settings.host,
        port=settings.port,
        handler_cancellation=True,
        access_log=None,
        print=lambda line: logging.getLogger("model_server").info("%s", line.strip()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
