"""Everything Telegram: the bot application, the patient conversation, clinician alerts and the outbox sender."""

import os

# Opt in to PTB's future `RetryAfter.retry_after` type (a timedelta) now, instead of a deprecation warning per 429.
os.environ.setdefault("PTB_TIMEDELTA", "true")
