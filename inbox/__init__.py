"""The clinician web inbox: the queue, case pages, actions, dashboard and account management.

Mounted under `/inbox` in the web process (`bot/app.py`) by `setup()`; see `inbox/README.md`.
"""

from inbox.app import create_inbox_app, setup
from inbox.config import InboxConfig
from inbox.context import InboxServices

__all__ = ["InboxConfig", "InboxServices", "create_inbox_app", "setup"]
