"""Wiring of the worker and beat processes: `celery -A triage.worker worker` / `celery -A triage.worker beat`."""

from __future__ import annotations

import sys

from triage.celery_app import create_celery
from triage.config import ConfigError

try:
    app = create_celery()
except ConfigError as exc:
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
