"""Server-side pages: the Jinja2 environment (autoescaping on), its filters, and `page()` to render one."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from inbox import lesion_format
from inbox.context import ASSETS, CLINICIAN, CSRF, TEMPLATES, Assets
from triage import patient_answer, review
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


def highlight(text: str, findings: list[dict[str, Any]]) -> Markup:
    """The patient's words, escaped, with each finding the rules read from them marked (`<mark>`, its concept as
    the title). A span that does not match its words (another text) is found by its words, or left unmarked."""
    spans: list[tuple[int, int, str]] = []
    for finding in findings:
        words, start = str(finding.get("text", "")), finding.get("start")
        if not words:
            continue
        if not (isinstance(start, int) and text[start:start + len(words)] == words):
            start = text.find(words)
            if start < 0:
                continue
        spans.append((start, start + len(words), str(finding.get("concept", "")).replace("_", " ")))
    out, at = [], 0
    for start, end, concept in sorted(spans):
        if start < at:
            continue  # overlapping: the first one stays marked
        out.append(escape(text[at:start]))
        out.append(Markup('<mark title="{}">{}</mark>').format(concept, text[start:end]))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def evidence_words(reason: dict[str, Any]) -> str:
    """The patient's words a reason was read from, quoted, or ''."""
    return "; ".join(f"“{e.get('text', '')}”" for e in reason.get("evidence") or []
                     if e.get("text") and e.get("source") != "measured")


def evidence_measured(reason: dict[str, Any]) -> list[str]:
    """What was measured on the photos of a tracked lesion that made a reason fire."""
    return [str(e.get("text", "")) for e in reason.get("evidence") or [] if e.get("source") == "measured"]


def model_answer_verdict(answer: str, language: str, tier: str | None) -> str:
    """Whether the model's answer reached the patient, as the worker decided (`triage.patient_answer`)."""
    verdict = patient_answer.check(answer, language, tier or "routine")
    return "shown to the patient" if verdict.shown else f"left out of the patient's message ({verdict.why})"


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
        highlight=highlight,
        evidence_words=evidence_words,
        evidence_measured=evidence_measured,
        estimate=lesion_format.estimate,
        measurement_rows=lesion_format.measurement_rows,
        measurement_problem=lesion_format.problem,
        change_rows=lesion_format.change_rows,
        svg_points=lesion_format.svg_points,
        interval_label=lesion_format.interval_label,
    )
    env.globals.update(model_answer_verdict=model_answer_verdict)
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
