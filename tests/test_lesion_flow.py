"""Following a spot through the real web process and the fake Bot API, on SQLite and PostgreSQL: a patient follows
a mole from its result, gets the beat's reminder, sends a new photo with the coin, and reads what was measured; a
health worker does the same for their patient; pausing, resuming, stopping; forged and stale buttons, hostile
names; erasure ending the reminders."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.texts import t
from tests.bot_harness import PatientPhone, services, start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import lesion_photo
from tests.test_outreach import _invite, _join, _new_patient
from tests.tracking_world import config, jpeg, model
from triage import pipeline, tracking
from triage.models import Case, Outbox, TrackedLesion

pytestmark = pytest.mark.slow
CLINICIANS = -1001


@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path, CLINICIAN_CHAT_ID=str(CLINICIANS),
                             LESION_COIN_NAME="a US quarter (25 cents)", LESION_COIN_DIAMETER_MM="24.26")
    yield client
    await client.close()


async def _analyse(web: TestClient[Any, Any], case_id: int) -> None:
    """The worker's part, in a thread as a worker would run it: model, measurement, rules, outcome."""
    svc = services(web)
    outcome = await asyncio.to_thread(pipeline.analyze_case, svc.sessions, svc.images, model(), config(), case_id)
    assert outcome == "triaged"


def _latest_case(web: TestClient[Any, Any]) -> Case:
    with services(web).sessions() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        session.expunge(case)
        return case


def _lesion(web: TestClient[Any, Any]) -> TrackedLesion:
    with services(web).sessions() as session:
        lesion = session.scalars(select(TrackedLesion).order_by(TrackedLesion.id.desc())).first()
        assert lesion is not None
        session.expunge(lesion)
        return lesion


async def _answer_everything(phone: PatientPhone, *, mole: tuple[str, ...] = ()) -> list[str]:
    """From the photos' Continue to the sent case: every question still asked answered (none of the emergency
    signs or symptoms; the mole questions as `mole`), no words. Returns the questions asked."""
    await phone.tap(":done")
    asked = []
    while True:
        asked.append(await phone.expect(""))
        keyboard = str(phone.keyboard())
        if "cf:" in keyboard:
            break
        if "ft:" in keyboard:
            await phone.tap(":skip")
            continue
        step = next(b["callback_data"].split(":")[2] for b in phone.keyboard() if b["callback_data"].startswith("q:"))
        answers = {"age": ":age:adult", "body_sites": ":body_sites:back", "duration": ":duration:longer",
                   "extent": ":extent:single_spot", "pregnant": ":pregnant:no", "immunosuppressed":
                   ":immunosuppressed:no", "diabetes": ":diabetes:no", "skin_type": ":skin_type:III"}
        if step == "mole":
            for feature in mole:
                await phone.tap(f":mole:{feature}")
        if step in answers:
            await phone.tap(answers[step])
            if step == "body_sites":
                await phone.tap(":_done")
        else:
            await phone.tap(":_done")
    await phone.tap(":submit")
    await phone.expect("has been sent")
    return asked


async def _follow_a_mole(web: TestClient[Any, Any], phone: PatientPhone, name: str = "") -> int:
    """Consent, a mole's photo, the questions, the result; then **Follow this spot**, and `name` it (when given).
    Returns the case."""
    await phone.send("/start")
    await phone.tap("consent:yes:en")
    await phone.expect("10 cm")
    await phone.photo(jpeg(lesion_photo()))
    await phone.expect("received")
    asked = await _answer_everything(phone)
    assert {t("en", f"q.{step}") for step in ("age", "body_sites", "extent", "skin_type")} <= set(asked)
    case = _latest_case(web)
    await _analyse(web, case.id)
    result = await phone.expect("Routine")
    assert "Follow this spot" in str(phone.keyboard()) and f"lt:f:{case.id}" in str(phone.keyboard())
    assert "next photo" not in result.lower()  # not followed yet
    await phone.tap(f"lt:f:{case.id}")
    await phone.expect("What shall we call this spot")
    if name:
        await phone.send(name)
        await phone.expect("You now follow")
    return case.id


async def test_a_patient_follows_a_mole_gets_a_reminder_and_sees_the_measured_change(
        web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 7001)
    first = await _follow_a_mole(web, phone)
    await phone.send("x" * 61)  # too long: asked again, nothing stored
    await phone.expect("up to 60 letters")
    await phone.send("mole on my <b>back</b>")
    followed = await phone.expect("You now follow")  # the site came from the answers: not asked
    assert "mole on my &lt;b&gt;back&lt;/b&gt;" in followed
    lesion = _lesion(web)
    assert lesion.body_site == "back" and lesion.interval_days == tracking.INTERVALS["routine"]
    assert lesion.next_due_at is not None
    await phone.send("/lesions")
    listing = await phone.expect("Spots you follow")
    assert "photos: 1" in listing and "(Back of body)" in listing and "next reminder" in listing
    assert {f"lt:p:{lesion.id}", f"lt:z:{lesion.id}", f"lt:s:{lesion.id}"} <= {
        b["callback_data"] for b in phone.keyboard()}

    # The beat job, on a clock moved to the due time: one reminder, sent by the web process's outbox sender.
    svc = services(web)
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at) == [lesion.id]
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at + dt.timedelta(hours=1)) == []
    reminder = await phone.expect("Time for a new photo")
    assert "photo 2" in reminder
    await phone.tap(f"lt:p:{lesion.id}")
    guide = await phone.expect("same distance")
    assert "a US quarter (25 cents)" in guide and "daylight" in guide

    # The new photo: the spot 30 % wider and partly darker, the same coin beside it. The patient notices nothing.
    await phone.photo(jpeg(lesion_photo(radius=143, dark_patch=0.2)))
    await phone.expect("received")
    asked = await _answer_everything(phone)
    # Known from the first photo, not asked again: age, where, how much skin, skin type. The mole questions are.
    known = [t("en", f"q.{step}") for step in ("age", "body_sites", "extent", "skin_type")]
    assert [text for text in asked if text in known] == []
    assert t("en", "q.mole") in asked and t("en", "q.symptoms") in asked
    visit = _latest_case(web)
    assert visit.lesion_id == lesion.id and visit.id != first
    await _analyse(web, visit.id)
    result = await phone.expect("photo 2")
    assert "within 2 weeks" in result and "Size: <b>changed</b>" in result and "Colour: <b>changed</b>" in result
    assert "Next photo" in result and "Follow this spot" not in str(phone.keyboard())
    with svc.sessions() as session:
        alert = session.scalars(select(Outbox).where(Outbox.case_id == visit.id,
                                                     Outbox.kind == "clinician_alert")).one()
    caption = await telegram.wait_for(lambda calls: [c for c in calls if c.method == "sendPhoto"
                                                      and "Tracked lesion, visit 2" in str(c.params.get("caption"))])
    assert caption and alert.payload["lesion"]["visit"] == 2
    assert _lesion(web).interval_days == tracking.CHANGED_DAYS  # a measured change: the next photo in 4 weeks


async def test_pause_resume_and_stop_from_lesions_and_the_reminder(web: TestClient[Any, Any],
                                                                   telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 7002)
    await _follow_a_mole(web, phone, "arm spot")
    lesion = _lesion(web)
    svc = services(web)
    await phone.tap_data(f"lt:z:{lesion.id}")
    await phone.expect("are paused")
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at) == []
    await phone.send("/lesions")
    await phone.expect("reminders paused")
    await phone.tap(f"lt:r:{lesion.id}")
    await phone.expect("on again")
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at) == [lesion.id]
    await phone.expect("Time for a new photo")
    await phone.tap(f"lt:z:{lesion.id}")  # the reminder's own Pause button
    await phone.expect("are paused")
    await phone.tap_data(f"lt:s:{lesion.id}")
    await phone.expect("no longer follow")
    await phone.tap_data(f"lt:p:{lesion.id}")  # an old reminder's button, after stopping
    await phone.expect("not followed any more")
    await phone.send("/lesions")
    await phone.expect("You follow no spot yet")


async def test_forged_and_stale_buttons_change_nothing(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    owner = PatientPhone(web, telegram, 7003)
    case_id = await _follow_a_mole(web, owner)
    await owner.send("/cancel")  # while naming: the spot is not followed
    await owner.expect("is not followed")
    with services(web).sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackedLesion)) == 0
    await owner.tap_data(f"lt:f:{case_id}")
    await owner.expect("What shall we call")
    await owner.send("shoulder mole")
    await owner.expect("You now follow")
    lesion = _lesion(web)

    stranger = PatientPhone(web, telegram, 7004)
    await stranger.send("/start")
    await stranger.tap("consent:yes:en")
    await stranger.expect("10 cm")
    for data in (f"lt:f:{case_id}", f"lt:p:{lesion.id}", f"lt:z:{lesion.id}", f"lt:s:{lesion.id}"):
        await stranger.tap_data(data)
        await stranger.expect("not followed any more")
    for data in ("lt:p:abc", "lt:p:99999999999", "lt:x:1", "lt:site:1:back", "lt:site:x", "lt:p:-1", "lt:",
                 f"lt:p:{lesion.id}:extra", "lt:p:١٢"):
        await stranger.tap_data(data)
    await telegram.wait_for(lambda calls: len(stranger.alerts()) >= 9, timeout=15)
    assert all("earlier message" in alert for alert in stranger.alerts())
    assert _lesion(web).status == "active"
    await owner.tap_data(f"lt:f:{case_id}")  # following the same spot twice
    await owner.expect("already followed")


async def test_a_health_worker_follows_a_patients_spot(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    worker = PatientPhone(web, telegram, 7101)
    await _join(worker, _invite(web, "default", label="village9"))
    await _new_patient(worker, "A12", age=":age:adult")
    await worker.photo(jpeg(lesion_photo()))
    await worker.expect("received")
    await _answer_everything(worker)
    case = _latest_case(web)
    await _analyse(web, case.id)
    await worker.expect("Routine")
    await worker.tap(f"lt:f:{case.id}")
    await worker.expect("What shall we call")
    await worker.send("mole on left arm")
    followed = await worker.expect("is now followed")
    assert "Patient <b>A12</b>" in followed
    await _new_patient(worker, "B7", age=":age:adult")  # working on another patient now
    await worker.send("/lesions")
    listing = await worker.expect("Spots your patients follow")
    assert "A12" in listing and "mole on left arm" in listing
    lesion = _lesion(web)
    assert tracking.queue_due_reminders(services(web).sessions, now=lesion.next_due_at) == [lesion.id]
    reminder = await worker.expect("Time for a new photo")
    assert "Patient A12" in reminder.replace("<b>", "").replace("</b>", "")
    await worker.tap(f"lt:p:{lesion.id}")  # switches to patient A12
    guide = await worker.expect("same distance")
    assert "Patient <b>A12</b>" in guide
    await worker.photo(jpeg(lesion_photo(zoom=1.2)))
    await worker.expect("received")
    await _answer_everything(worker)
    visit = _latest_case(web)
    assert visit.lesion_id == lesion.id and visit.patient_id == case.patient_id
    await _analyse(web, visit.id)
    result = await worker.expect("photo 2")
    assert "Size: no clear change" in result and "A12" in result


async def test_delete_erases_followed_spots_and_ends_their_reminders(web: TestClient[Any, Any],
                                                                     telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 7005)
    await _follow_a_mole(web, phone, "neck mole")
    lesion = _lesion(web)
    svc = services(web)
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at) == [lesion.id]
    await phone.expect("Time for a new photo")
    await phone.send("/delete")
    await phone.tap("delete:yes")
    await phone.expect("have been deleted")
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackedLesion)) == 0
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.kind == "lesion_reminder")) == 0
    assert tracking.queue_due_reminders(svc.sessions, now=lesion.next_due_at + dt.timedelta(days=999)) == []
    await phone.send("/lesions")  # nothing is known about them any more
    await phone.expect("Please send /start first")
