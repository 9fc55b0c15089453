"""The dashboard: cases per tier per day, waiting times, and agreement of the triage tier with clinicians."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from inbox import stats
from inbox.charts import stacked_bars
from tests.inbox.conftest import InboxClient, World, sqlite_only
from triage import review
from triage.db import transaction
from triage.models import AuditEvent, Case, utcnow

MakeClient = Callable[..., Awaitable[InboxClient]]


def _decide(world: World, key: str, *, tier: str | None, diagnosis: str, disposition: str) -> None:
    factory, alice = world.services.sessions, world.people["alice"]
    review.claim(factory, alice, world.cases[key])
    if tier:
        review.change_tier(factory, alice, world.cases[key], tier, "looked at the photo")
    review.record_outcome(factory, alice, world.cases[key], diagnosis, disposition)


def test_the_numbers_of_an_organisation(world: World) -> None:
    factory = world.services.sessions
    now = utcnow()
    # The claim of the routine case comes 10 h after it was sent; the emergency's 30 min after.
    _decide(world, "routine", tier="urgent", diagnosis="cellulitis", disposition="seen_in_clinic")
    _decide(world, "emergency", tier=None, diagnosis="eczema_herpeticum", disposition="referred")
    data = stats.dashboard(factory, world.people["alice"], days=7, now=now)

    assert len(data.days) == 7 and data.days[-1] == now.date()
    assert data.totals == {"emergency": 1, "urgent": 1, "soon": 1, "routine": 1, "self_care": 0}  # north only
    assert sum(sum(day.values()) for day in data.per_day.values()) == 4
    assert data.per_day[(now - dt.timedelta(minutes=30)).date()]["emergency"] == 1  # sent half an hour ago
    assert data.median_wait["emergency"] is not None
    assert abs(data.median_wait["emergency"] - dt.timedelta(minutes=30)) < dt.timedelta(minutes=1)
    assert abs(data.median_wait["routine"] - dt.timedelta(hours=10)) < dt.timedelta(minutes=1)  # type: ignore[operator]
    assert data.median_wait["urgent"] is None and data.unclaimed_now["urgent"] == 1
    # Two decided cases: the emergency agreed, the routine one was raised to urgent.
    assert data.confusion == {("emergency", "emergency"): 1, ("routine", "urgent"): 1}
    assert (data.decided, data.agreed, data.agreement) == (2, 1, 0.5)
    assert data.dispositions == {("routine", "seen_in_clinic"): 1, ("emergency", "referred"): 1}
    # The model's first condition was eczema herpeticum for both: right once.
    assert data.model_top1 == (1, 2) and data.model_agreement == 0.5
    with factory() as session:
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.action == "dashboard.viewed")).all()


@sqlite_only
def test_old_cases_fall_outside_the_window(world: World) -> None:
    factory = world.services.sessions
    with transaction(factory) as session:
        case = session.get_one(Case, world.cases["routine"])
        case.submitted_at = utcnow() - dt.timedelta(days=20)
    data = stats.dashboard(factory, world.people["alice"], days=14)
    assert data.totals["routine"] == 0
    assert stats.dashboard(factory, world.people["alice"], days=30).totals["routine"] == 1


def test_the_chart_stacks_tiers_per_day_in_proportion() -> None:
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    per_day = {
        days[0]: {"emergency": 2, "urgent": 0, "soon": 0, "routine": 2, "self_care": 0},
        days[1]: {"emergency": 0, "urgent": 0, "soon": 0, "routine": 0, "self_care": 0},
    }
    chart = stacked_bars(days, per_day)
    assert [b.title for b in chart.bars] == ["2026-11-01: 2 emergency", "2026-11-01: 2 routine"]
    emergency, routine = chart.bars
    assert emergency.height == routine.height and emergency.y + emergency.height == chart.baseline
    assert routine.y + routine.height == emergency.y  # stacked on top
    assert [label.text for label in chart.y_labels][-1] == "4"


@sqlite_only
async def test_the_dashboard_page_draws_the_chart_and_tables(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    status, page = await alice.get("/inbox/dashboard?days=30")
    assert status == 200
    assert '<svg class="chart"' in page and "<script" not in page
    assert len(re.findall(r"<rect ", page)) >= 4  # one per tier and day that had cases
    assert "tier agreement" in page and "Median wait" in page
    for days in ("5", "x", "-1", "99999999999999999999"):
        status, page = await alice.get(f"/inbox/dashboard?days={days}")
        assert status == 200 and "<b>14 days</b>" in page
