"""A tracked lesion in the inbox, on SQLite and PostgreSQL: the timeline on the case page (photos with the outline
measured, each visit's measurements, answers and tier), asking a patient to track a lesion, setting and stopping
the reminders' interval, and what each of them refuses. (Every new route is also walked by test_access.py.)"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import lesion_render
from tests.images import lesion_photo
from tests.inbox.conftest import InboxClient, World
from tests.tracking_world import jpeg, submit, triage, two_visits
from triage import tracking
from triage.db import transaction
from triage.models import AuditEvent, Case, LesionStatus, Outbox, TrackedLesion

MakeClient = Callable[..., Awaitable[InboxClient]]
DAY = dt.timedelta(days=1)


@pytest.fixture
def tracked(world: World) -> dict[str, int]:
    """A north patient's mole followed over two visits: the second 30 % wider and partly darker, measured."""
    return two_visits(world.services.sessions, world.services.images, user=880001, organisation="north",
                      name="<i>mole</i> on back")


def _lesion(world: World, lesion_id: int) -> TrackedLesion:
    with world.services.sessions() as session:
        found = session.get_one(TrackedLesion, lesion_id)
        session.expunge(found)
        return found


def _notices(world: World) -> list[dict[str, Any]]:
    with world.services.sessions() as session:
        return [dict(p) for p in session.scalars(select(Outbox.payload).where(Outbox.kind == "lesion_notice")
                                                  .order_by(Outbox.id))]


async def test_the_case_page_shows_the_lesions_visits_side_by_side(make_client: MakeClient, world: World,
                                                                   tracked: dict[str, int]) -> None:
    alice = await make_client("alice")
    status, page = await alice.get(f"/inbox/cases/{tracked['visit']}")
    assert status == 200
    assert "Tracked lesion: &lt;i&gt;mole&lt;/i&gt; on back" in page and "<i>mole</i>" not in page
    section = page[page.index('id="lesion"'):page.index("</section>", page.index('id="lesion"'))]
    assert len(re.findall(r'<div class="visit( current)?">', section)) == 2 and "Visit 2 · this case" in section
    assert f'href="/inbox/cases/{tracked["first"]}#lesion">Visit 1 · case #{tracked["first"]}' in section
    # Each photo with the outline that was measured on it, and the numbers with their bands.
    assert section.count("<polygon points=") == 2 and section.count("<image href=\"/inbox/cases/") == 2
    assert re.search(r"Longest diameter</dt><dd>\d+ mm ± \d+ mm", section)
    assert re.search(r"Area</dt><dd>\d+ mm² ± \d+ mm²", section)
    assert "Change since visit 1" in section and re.search(r"size: changed</span> \+\d+ % ± \d+ %", section)
    assert re.search(r"colour: changed</span> -\d", section)
    assert "changing size: <b>no</b>" in section  # what the patient said, beside what was measured
    assert section.count('class="tier soon"') == 1 and section.count('class="tier routine"') == 1
    assert "measured on the photos: size +" in page  # the reason's evidence in the triage card
    # The visit's photos are served only through the inbox's checked route.
    first_image = re.search(rf'/inbox/cases/{tracked["first"]}/images/(\d+)', section)
    assert first_image is not None
    resp = await alice.client.get(first_image.group(0))
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    with world.services.sessions() as session:
        viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "lesion.viewed")).one()
    assert viewed.details == {"lesion": tracked["lesion"], "visits": [tracked["first"], tracked["visit"]]}


async def test_visits_in_another_organisations_inbox_are_counted_never_shown(make_client: MakeClient, world: World,
                                                                             tracked: dict[str, int]) -> None:
    with transaction(world.services.sessions) as session:
        session.execute(update(Case).where(Case.id == tracked["first"]).values(organisation="south"))
    alice = await make_client("alice")
    _, page = await alice.get(f"/inbox/cases/{tracked['visit']}")
    assert "1 more in another organisation's inbox" in page
    assert f"/inbox/cases/{tracked['first']}" not in page
    bob = await make_client("bob")  # south sees the first visit, and nothing of north's
    status, page = await bob.get(f"/inbox/cases/{tracked['first']}")
    assert status == 200 and f"/inbox/cases/{tracked['visit']}" not in page
    status, _ = await bob.get(f"/inbox/cases/{tracked['visit']}")
    assert status == 404


async def test_a_clinician_asks_a_patient_to_track_a_lesion(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    case_id = world.cases["routine"]
    base = f"/inbox/cases/{case_id}"
    _, page = await alice.get(base)
    assert "Ask the patient to track it" in page and 'id="lesion"' not in page
    resp = await alice.post(f"{base}/lesion/track", {"name": "spot on face", "site": "face", "interval_days": "28"})
    assert resp.status == 303 and resp.headers["Location"] == f"{base}?done=lesion_tracked"
    with world.services.sessions() as session:
        lesion = session.scalars(select(TrackedLesion)).one()
        found = session.get_one(Case, case_id)
        assert found.lesion_id == lesion.id and found.triaged_at is not None
    assert lesion.interval_source == f"clinician:{world.people['alice'].id}" and lesion.interval_days == 28
    assert lesion.next_due_at == found.triaged_at + 28 * DAY  # four weeks after the photo the case was sent with
    [notice] = _notices(world)
    assert notice["event"] == "requested" and notice["clinician"] == "Dr Alice"
    text = lesion_render.notice(notice)
    assert "Dr Alice" in text and "spot on face" in text and "/lesions" in text
    _, page = await alice.get(f"{base}?done=lesion_tracked")
    assert "asked to follow this lesion" in page and "Tracked lesion: spot on face" in page
    resp = await alice.post(f"{base}/lesion/track", {"name": "again", "site": "", "interval_days": "28"})
    assert resp.status == 409 and "already tracked" in await resp.text()


@pytest.mark.parametrize(("form", "reason"), [
    ({"name": "", "site": "", "interval_days": "28"}, "name of 1 to 60 characters"),
    ({"name": "x" * 61, "site": "", "interval_days": "28"}, "name of 1 to 60 characters"),
    ({"name": "spot", "site": "elbow", "interval_days": "28"}, "body site from the list"),
    ({"name": "spot", "site": "", "interval_days": "3"}, "7 to 365 days"),
    ({"name": "spot", "site": "", "interval_days": "9999"}, "7 to 365 days"),
    ({"name": "spot", "site": "", "interval_days": "abc"}, "7 to 365 days"),
    ({"name": "spot", "site": "", "interval_days": "٢٨"}, "7 to 365 days"),
    ({"name": "spot", "site": "", "interval_days": "99999999999999999999"}, "7 to 365 days"),
    ({"name": "spot"}, "7 to 365 days"),
], ids=["empty", "long", "site", "short", "long-interval", "word", "arabic-digits", "huge", "missing"])
async def test_asking_to_track_refuses_bad_input_and_keeps_what_was_typed(
        make_client: MakeClient, world: World, form: dict[str, str], reason: str) -> None:
    alice = await make_client("alice")
    resp = await alice.post(f"/inbox/cases/{world.cases['routine']}/lesion/track", form)
    page = await resp.text()
    assert resp.status == 400 and reason in page
    if form.get("name") == "spot":
        assert 'value="spot"' in page
    with world.services.sessions() as session:
        assert session.scalars(select(TrackedLesion)).all() == []
    assert _notices(world) == []


async def test_setting_and_stopping_the_interval(make_client: MakeClient, world: World,
                                                 tracked: dict[str, int]) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{tracked['visit']}"
    before = _lesion(world, tracked["lesion"])
    assert before.interval_days == tracking.CHANGED_DAYS and before.interval_source == "decision"
    tracking.queue_due_reminders(world.services.sessions, now=before.next_due_at)  # a reminder is waiting
    resp = await alice.post(f"{base}/lesion/interval", {"interval_days": "14"})
    assert resp.status == 303 and resp.headers["Location"] == f"{base}?done=lesion_interval"
    after = _lesion(world, tracked["lesion"])
    assert after.interval_days == 14 and after.interval_source == f"clinician:{world.people['alice'].id}"
    assert after.last_visit_at is not None and after.next_due_at == max(after.last_visit_at + 14 * DAY,
                                                                         after.updated_at)
    with world.services.sessions() as session:  # the reminder of the old due time was taken back
        assert session.scalars(select(Outbox).where(Outbox.kind == "lesion_reminder")).all() == []
    assert [n["event"] for n in _notices(world)] == ["interval"]
    _, page = await alice.get(base)
    assert "a new photo every 2 weeks (set by a clinician)" in page

    carol = await make_client("carol")  # any clinician of the organisation: no claim needed
    resp = await carol.post(f"{base}/lesion/stop", {})
    assert resp.status == 303 and _lesion(world, tracked["lesion"]).status == LesionStatus.STOPPED
    assert [n["event"] for n in _notices(world)] == ["interval", "stopped"]
    assert "stopped the reminders" in lesion_render.notice(_notices(world)[-1])
    resp = await carol.post(f"{base}/lesion/stop", {})
    assert resp.status == 409 and "already stopped" in await resp.text()
    _, page = await carol.get(base)
    assert "reminders stopped" in page and "Restart the reminders" in page
    resp = await carol.post(f"{base}/lesion/interval", {"interval_days": "91"})
    restarted = _lesion(world, tracked["lesion"])
    assert resp.status == 303 and restarted.status == LesionStatus.ACTIVE and restarted.interval_days == 91
    with world.services.sessions() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("lesion.%"),
                                                                       AuditEvent.action != "lesion.viewed")
                                       .order_by(AuditEvent.id)))
    assert actions[-4:] == ["lesion.interval_set", "lesion.stopped", "lesion.resumed", "lesion.interval_set"]


async def test_a_clinicians_interval_is_kept_at_the_next_visit(make_client: MakeClient, world: World,
                                                               tracked: dict[str, int]) -> None:
    alice = await make_client("alice")
    await alice.post(f"/inbox/cases/{tracked['visit']}/lesion/interval", {"interval_days": "182"})
    sessions, store = world.services.sessions, world.services.images
    with sessions() as session:
        patient_id = session.get_one(Case, tracked["visit"]).patient_id
    third = submit(sessions, store, patient_id=patient_id, lesion_id=tracked["lesion"], organisation="north",
                   photos=[jpeg(lesion_photo(radius=180))])
    assert triage(sessions, store, third) == "triaged"
    lesion = _lesion(world, tracked["lesion"])
    assert lesion.interval_days == 182 and lesion.next_due_at == lesion.last_visit_at + 182 * DAY  # type: ignore[operator]
    with sessions() as session:
        alert = session.scalars(select(Outbox).where(Outbox.case_id == third, Outbox.kind == "clinician_alert")).one()
    assert alert.payload["lesion"]["visit"] == 3
    from bot import render

    assert "Tracked lesion, visit 3" in render.clinician_alert(third, alert.payload, None, limit=1024)


async def test_interval_and_stop_need_a_tracked_lesion(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['routine']}"
    for action, form in (("interval", {"interval_days": "28"}), ("stop", {})):
        resp = await alice.post(f"{base}/lesion/{action}", form)
        assert resp.status == 409 and "not tracked" in await resp.text()
    resp = await alice.post(f"/inbox/cases/{world.cases['south']}/lesion/stop", {})
    assert resp.status == 404  # another organisation's case: as if it did not exist
    resp = await alice.post(f"/inbox/cases/{world.cases['routine']}/lesion/track",
                            {"name": "x", "site": "", "interval_days": "28"}, csrf="forged")
    assert resp.status == 403
