"""The dashboard page: cases per tier per day, waiting times, and agreement of triage with clinicians."""

from __future__ import annotations

from aiohttp import web

from inbox import stats
from inbox.charts import TIER_COLOURS, stacked_bars
from inbox.context import clinician_of, services_of
from inbox.render import page
from inbox.security import ascii_int
from triage import review


async def dashboard(request: web.Request) -> web.StreamResponse:
    me = clinician_of(request)
    days = ascii_int(request.query.get("days"), maximum=max(stats.WINDOWS)) or 14
    if days not in stats.WINDOWS:
        days = 14
    services = services_of(request)
    data = await services.run(stats.dashboard, services.sessions, me, days=days)
    return page(
        request,
        "dashboard.html",
        data=data,
        chart=stacked_bars(data.days, data.per_day),
        colours=TIER_COLOURS,
        windows=stats.WINDOWS,
        window=days,
        dispositions=review.DISPOSITIONS,
    )
