"""The inbox's settings, taken from the one settings object (`triage.config.Settings`, variables `INBOX_*`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from triage.config import Settings


class InboxConfig(BaseModel):
    """How the inbox signs clinicians in and what it accepts."""

    model_config = ConfigDict(frozen=True)

    #: Send the session cookie over HTTPS only. Leave on in production; tests on plain http turn it off.
    cookie_secure: bool = True
    #: A session ends this long after sign-in, whatever happens (a long shift).
    session_max_age_s: int = 12 * 3600
    #: ... or after this long without a request.
    session_idle_s: int = 2 * 3600
    #: The largest form body accepted (a reply is at most 3000 characters).
    max_form_bytes: int = 64 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxConfig:
        return cls(cookie_secure=settings.inbox_cookie_secure, session_max_age_s=settings.inbox_session_max_age_s,
                   session_idle_s=settings.inbox_session_idle_s, max_form_bytes=settings.inbox_max_form_bytes)
