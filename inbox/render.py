"""Server-side pages: the Jinja2 environment (autoescaping on), its filters, and `page()` to render one."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from inbox.context import ASSETS, CLINICIAN, CSRF, TEMPLATES, Assets
from triage import review
from triage.rules import TIERS

TIER_LABELS = {
    "emergency": "Emergency",
    "urgent": "Urgent",
    "soon": "Soon (2 weeks)",
    "routine": "Routine",
    "self_care": "Self-care",
}
STATUS_LABELS = {
    "collecting": "collecting",
    "queued": "queued",
    "analyzing": "analysing",
    "triaged": "triaged",
    "forwarded": "waiting",
    "claimed": "claimed",
    "closed": "closed",
    "failed_model": "waiting (no model)",
    "withdrawn": "withdrawn",
}


def duration(value: dt.timedelta | None) -> str:
    """A waiting time as people say it: `45 min`, `3 h 05 min`, `2 d 4 h`."""
    if value is None:
        return "–"
    minutes = max(0, int(value.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def when(value: dt.datetime | None) -> str:
    """A timestamp in UTC, to the minute."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def tier_label(tier: str | None) -> str:
    return TIER_LABELS.get(tier or "", "Not triaged")


def sentence(error: Exception) -> str:
    """An error's message as a sentence: a capital first letter and a full stop (names keep their case)."""
    text = str(error).strip()
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith('.') else '.'}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("inbox", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=duration,
        when=when,
        tier_label=tier_label,
        status_label=lambda s: STATUS_LABELS.get(s, s),
        condition_label=review.condition_label,
        disposition_label=lambda d: review.DISPOSITIONS.get(d, d),
        percent=percent,
    )
    env.globals.update(TIERS=TIERS, TIER_LABELS=TIER_LABELS)
    return env


def load_assets() -> Assets:
    css = resources.files("inbox").joinpath("static/inbox.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return Assets(css=css, css_sha256=digest)


def content_security_policy(assets: Assets) -> str:
    """No scripts at all, the one inlined stylesheet, images from the inbox itself."""
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{assets.css_sha256}'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render `template` with the signed-in clinician, the CSRF token and the stylesheet."""
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(
        me=request.get(CLINICIAN),
        csrf_token=request.get(CSRF, ""),
        css=request.app[ASSETS].css,
        path=request.path,
        **context,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
