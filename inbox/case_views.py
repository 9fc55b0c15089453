"""The queue, the case page, its photos, and the clinician's actions on a case.

All database work goes through `triage.review` (organisation checks and audit rows live there), run off the
event loop. A case the clinician may not see is a 404, exactly like a case that does not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from inbox.auth_views import redirect
from inbox.context import clinician_of, form_of, services_of
from inbox.render import page, sentence
from inbox.security import path_id, redisplays
from triage import lesion_review, review
from triage.rules import BODY_SITES

DONE_MESSAGES = {
    "claimed": "You have claimed this case.",
    "replied": "Your reply is on its way to the patient.",
    "tier": "The tier has been changed.",
    "outcome": "The diagnosis and disposition have been recorded.",
    "closed": "The case is closed.",
    "letter": "The letter is on its way to the patient.",
    "lesion_tracked": "The patient has been asked to follow this lesion with new photos.",
    "lesion_interval": "The reminder interval is set, and the patient has been told.",
    "lesion_stopped": "The reminders are stopped, and the patient has been told.",
}
FORM_FIELDS = ("reply", "tier", "reason", "diagnosis", "disposition", "name", "site", "interval_days")


NO_CASE = "There is no such case in your organisation's inbox."


def _case_id(request: web.Request) -> int:
    return path_id(request, "case_id", NO_CASE)


async def queue(request: web.Request) -> web.StreamResponse:
    """The organisation's cases, emergencies first, then the longest waiting; filters by tier/status/scope."""
    me = clinician_of(request)
    q = request.query
    flt = review.QueueFilter.parse(q.get("tier"), q.get("status"), q.get("scope"), q.get("source"))
    services = services_of(request)
    result = await services.run(review.queue, services.sessions, me, flt)
    return page(
        request,
        "queue.html",
        queue=result,
        statuses=list(review.STATUS_FILTERS),
        scopes=list(review.SCOPES),
        sources=list(review.SOURCES),
    )


async def _render_case(request: web.Request, *, status: int = 200, error: str = "", **form: Any) -> web.Response:
    me = clinician_of(request)
    services = services_of(request)
    try:
        detail = await services.run(review.case_detail, services.sessions, me, _case_id(request),
                                    ref=request.query.get("ref") if status == 200 else None)
    except review.CaseNotFound:
        raise web.HTTPNotFound(text=NO_CASE) from None
    except review.StaleReference:
        raise web.HTTPNotFound(text="This link is for a case that is no longer in the inbox (the patient may have "
                                    "erased it).") from None
    lesion = await services.run(lesion_review.timeline, services.sessions, me, detail.id)
    done = DONE_MESSAGES.get(request.query.get("done", "")) if status == 200 else None
    return page(
        request,
        "case.html",
        status=status,
        case=detail,
        held=detail.held_by(me),
        error=error,
        done=done,
        conditions=review.condition_choices(),
        dispositions=review.DISPOSITIONS,
        lesion=lesion,
        body_sites=BODY_SITES,
        intervals=lesion_review.INTERVAL_CHOICES,
        form={**dict.fromkeys(FORM_FIELDS, ""), **form},
    )


async def case_page(request: web.Request) -> web.StreamResponse:
    return await _render_case(request)


async def image(request: web.Request) -> web.StreamResponse:
    """One photo, decrypted from the image store; never cached, never a public link."""
    me = clinician_of(request)
    services = services_of(request)
    case_id, image_id = _case_id(request), path_id(request, "image_id", "There is no such photo.")
    try:
        key = await services.run(review.image_key, services.sessions, me, case_id, image_id)
        data = await services.run(services.images.get, key)
    except (review.CaseNotFound, FileNotFoundError):
        raise web.HTTPNotFound(text="There is no such photo.") from None
    return web.Response(
        body=data,
        content_type="image/jpeg",
        headers={"Content-Disposition": f'inline; filename="case-{case_id}-{image_id}.jpg"'},
    )


async def _act(request: web.Request, done: str, action: Any, *args: Any, **kwargs: Any) -> web.StreamResponse:
    """Run one review action; on success go back to the case page, else show it again with the reason."""
    me = clinician_of(request)
    services = services_of(request)
    case_id = _case_id(request)
    try:
        await services.run(action, services.sessions, me, case_id, *args, **kwargs)
    except review.CaseNotFound:
        raise web.HTTPNotFound(text=NO_CASE) from None
    except review.ReviewConflict as exc:
        return await _render_case(request, status=409, error=sentence(exc), **_kept(request))
    except review.InvalidReview as exc:
        return await _render_case(request, status=400, error=sentence(exc), **_kept(request))
    return redirect(f"/inbox/cases/{case_id}?done={done}")


def _kept(request: web.Request) -> dict[str, str]:
    """What the clinician typed, so a refused action does not lose it."""
    form = form_of(request)
    return {k: form.get(k, "") for k in FORM_FIELDS}


async def _refused(request: web.Request, message: str) -> web.StreamResponse:
    """The case page again, with why the form was refused and what was typed (cleaned)."""
    return await _render_case(request, status=400, error=message, **_kept(request))


@redisplays(_refused)
async def claim(request: web.Request) -> web.StreamResponse:
    take_over = form_of(request).get("take_over") == "1"
    return await _act(request, "claimed", review.claim, take_over=take_over)


@redisplays(_refused)
async def reply(request: web.Request) -> web.StreamResponse:
    return await _act(request, "replied", review.reply, form_of(request).get("reply", ""))


@redisplays(_refused)
async def change_tier(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    return await _act(request, "tier", review.change_tier, form.get("tier", ""), form.get("reason", ""))


@redisplays(_refused)
async def record_outcome(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    return await _act(request, "outcome", review.record_outcome, form.get("diagnosis", ""), form.get("disposition", ""))


@redisplays(_refused)
async def close(request: web.Request) -> web.StreamResponse:
    return await _act(request, "closed", review.close)
