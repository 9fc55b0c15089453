"""A clinician's actions on a case's lesion: ask the patient to track it, set or stop the reminders' interval.

The work is in `triage.lesion_review` (organisation checks and audit rows there); a refused action shows the case
page again with the reason and what was typed, as every case action does (`case_views._act`).
"""

from __future__ import annotations

from aiohttp import web

from inbox import case_views
from inbox.context import form_of
from inbox.security import ascii_int, redisplays
from triage import lesion_review, tracking


def _days(request: web.Request) -> int:
    """The interval typed or chosen, in days; 0 (refused with the reason) when it is not a whole number."""
    return ascii_int(form_of(request).get("interval_days", "").strip(), maximum=tracking.MAX_DAYS * 10) or 0


@redisplays(case_views._refused)
async def track(request: web.Request) -> web.StreamResponse:
    form = form_of(request)
    return await case_views._act(request, "lesion_tracked", lesion_review.ask_to_track, form.get("name", ""),
                      form.get("site", ""), _days(request))


@redisplays(case_views._refused)
async def set_interval(request: web.Request) -> web.StreamResponse:
    return await case_views._act(request, "lesion_interval", lesion_review.set_interval, _days(request))


@redisplays(case_views._refused)
async def stop(request: web.Request) -> web.StreamResponse:
    return await case_views._act(request, "lesion_stopped", lesion_review.stop_reminders)
