"""Outreach through the real web process and the fake Bot API, on SQLite and PostgreSQL: clinics reached by deep
link or chosen from a list, health workers joining by invite (and every misuse of one), a health worker's whole
flow for several patients at once, a clinician's reply reaching the right health worker with the right reference,
one health worker trying to reach another's patient, and erasing one patient."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from tests.bot_harness import PatientPhone, services, start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from triage import accounts, outreach, pipeline, review
from triage.model_client import ModelClient
from triage.models import AuditEvent, Case, CaseImage, Invite, Outbox, Patient, PersonRole

pytestmark = pytest.mark.slow
NORTH_CHAT, SOUTH_CHAT = -1001, -1002


@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path, ORGANISATION="north", CLINICIAN_CHAT_ID="-999")
    sessions = services(client).sessions
    for code, chat in (("north", NORTH_CHAT), ("south", SOUTH_CHAT)):
        outreach.ensure_organisation(sessions, code, name=f"{code.title()} clinic")
        outreach.update_organisation(sessions, code, actor="test", public=True, clinician_chat_id=chat)
    yield client
    await client.close()


def _invite(web: TestClient[Any, Any], organisation: str = "north", **kwargs: Any) -> str:
    sessions = services(web).sessions
    admin = accounts.create_clinician(sessions, email=f"admin-{organisation}-{kwargs.get('label', 'x')}@x.org",
                                      display_name="Admin", role="admin", organisation=organisation,
                                      password="correct horse battery", actor="test")
    return outreach.create_invite(sessions, organisation_code=organisation, created_by=admin.id, actor="test",
                                  **{"label": "Amina, village 3", **kwargs})[1]


async def _join(phone: PatientPhone, code: str) -> None:
    await phone.send(f"/start {code}")
    await phone.expect("Health worker for")
    await phone.tap(f"chw:yes:{code}")
    await phone.expect("/newpatient")


def _model(answer: str = "") -> ModelClient:
    body = {"differential": [{"condition": "impetigo", "likelihood": 0.8}, {"condition": "other", "likelihood": 0.2}],
            "findings": [], "image_quality": ["good"], "answer": answer, "language": "en", "backend": "hf",
            "model_id": "m", "timings": {}}
    return ModelClient("http://model.test", timeout_s=5, max_attempts=1, backoff_s=0, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json=body if r.url.path == "/v1/analyze" else {"concepts": []})))


async def _new_patient(phone: PatientPhone, ref: str, *, age: str = ":age:child") -> None:
    await phone.send("/newpatient")
    await phone.expect("New patient")
    await phone.send(ref)
    await phone.expect("How old")
    await phone.tap(age)
    await phone.expect("Sex of the patient")
    await phone.tap(":sex:female")
    await phone.expect("react to the sun")
    await phone.tap(":skin:V")
    await phone.expect(f"Patient <b>{ref}</b>: did the patient")
    await phone.tap(":attest:yes")
    await phone.expect(f"Patient <b>{ref}</b>: please send")


async def _case_for(phone: PatientPhone, words: str = "") -> None:
    await phone.photo(skin_photo())
    await phone.expect("received")
    await phone.tap(":done")
    prompts = []
    while True:
        text = await phone.expect("")
        prompts.append(text)
        keyboard = str(phone.keyboard())
        if "ft:" in keyboard:
            break
        await phone.tap(":_skip" if "_skip" in keyboard else ":_done")
    assert not any("How old" in p or "react to the sun" in p for p in prompts)  # asked once, at the intake
    assert any("does the patient have" in p for p in prompts)  # worded for the health worker
    if words:
        await phone.send(words)
    else:
        await phone.tap(":skip")
    await phone.expect("check the case before sending")
    await phone.tap(":submit")
    await phone.expect("has been sent")


def _cases_of(web: TestClient[Any, Any], ref: str) -> list[Case]:
    with services(web).sessions() as session:
        rows = list(session.scalars(select(Case).join(Patient).where(Patient.local_ref == ref).order_by(Case.id)))
        session.expunge_all()
        return rows


async def _triage(web: TestClient[Any, Any], case_id: int) -> None:
    svc = services(web)
    config = pipeline.PipelineConfig(clinician_chat_id=-999, stuck_after_s=600)
    assert await asyncio.to_thread(pipeline.analyze_case, svc.sessions, svc.images, _model(), config,
                                   case_id) == "triaged"


async def test_a_patient_from_a_clinics_link_is_that_clinics_and_alerts_go_to_its_chat(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 5001)
    await phone.send("/start c-south")
    await phone.expect("Do you agree?")
    await phone.tap("consent:yes:en:south")
    await phone.expect("10 cm")
    with services(web).sessions() as session:
        assert session.scalar(select(Patient.organisation).where(Patient.telegram_user_id == 5001)) == "south"
    await phone.photo(skin_photo())
    await phone.expect("received")
    with services(web).sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.organisation == "south"
    # The case goes to south's clinicians only.
    with services(web).sessions.begin() as session:
        urgent = {"patient": {"age_years": 30}, "answers": {"symptoms": ["fever"], "extent": "most_of_body"}}
        session.execute(update(Case).values(status="queued", submitted_at=case.created_at, answers=urgent))
    await _triage(web, case.id)
    with services(web).sessions() as session:
        chats = set(session.scalars(select(Outbox.chat_id).where(Outbox.kind == "clinician_alert")))
    assert chats == {SOUTH_CHAT}
    # A clinic link nobody knows is refused plainly; a consent button forged for it falls back to the default.
    other = PatientPhone(web, telegram, 5002)
    await other.send("/start c-nowhere")
    await other.expect("This clinic link is not valid")


async def test_without_a_link_the_patient_chooses_among_the_public_clinics(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 5003)
    await phone.send("/start")
    await phone.expect("Which clinic")
    assert {b["callback_data"] for b in phone.keyboard()} == {"org:north", "org:south"}
    await phone.tap("org:north")
    await phone.expect("Do you agree?")
    await phone.tap("consent:yes:en:north")
    await phone.expect("10 cm")
    with services(web).sessions() as session:
        assert session.scalar(select(Patient.organisation).where(Patient.telegram_user_id == 5003)) == "north"


async def test_every_misuse_of_an_invite_is_refused_plainly(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    sessions = services(web).sessions
    forged = PatientPhone(web, telegram, 6001)
    await forged.send("/start chw-AAAAAAAAAAAAAAAAAAAAAAAA")
    await forged.expect("This invite link is not valid")
    await forged.tap_data("chw:yes:chw-AAAAAAAAAAAAAAAAAAAAAAAA")  # a forged button: refused the same way
    await forged.expect("This invite link is not valid")

    used = _invite(web, label="used")
    first = PatientPhone(web, telegram, 6002)
    await _join(first, used)
    second = PatientPhone(web, telegram, 6003)
    await second.send(f"/start {used}")
    await second.expect("already been used")

    expired = _invite(web, label="expired", ttl=dt.timedelta(seconds=-1))
    late = PatientPhone(web, telegram, 6004)
    await late.send(f"/start {expired}")
    await late.expect("has expired")

    revoked = _invite(web, label="revoked")
    with sessions.begin() as session:
        invite_id = session.scalars(select(Invite.id).where(Invite.label == "revoked")).one()
    outreach.revoke_invite(sessions, invite_id, organisation_code="north", actor="test")
    cancelled = PatientPhone(web, telegram, 6005)
    await cancelled.send(f"/start {revoked}")
    await cancelled.expect("was cancelled")

    south = _invite(web, "south", label="south")
    await first.send(f"/start {south}")  # already a health worker of north
    await first.expect("another organisation")

    patient = PatientPhone(web, telegram, 6006)  # a patient with cases of their own
    await patient.send("/start")
    await patient.tap("org:north")
    await patient.tap("consent:yes:en:north")
    await patient.expect("10 cm")
    await patient.photo(skin_photo())
    await patient.expect("received")
    fresh = _invite(web, label="fresh")
    await patient.send(f"/start {fresh}")
    await patient.expect("Health worker for")
    await patient.tap(f"chw:yes:{fresh}")
    await patient.expect("skin checks of its own")
    with sessions() as session:
        roles = dict(session.execute(select(Patient.telegram_user_id, Patient.role)
                                     .where(Patient.telegram_user_id.is_not(None))).all())
    assert roles[6002] == PersonRole.HEALTH_WORKER and roles[6006] == PersonRole.PATIENT
    assert 6001 not in roles and 6003 not in roles  # nothing stored for a refused invite


async def test_health_workers_submit_for_several_patients_and_replies_reach_the_right_one(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    amina, bo = PatientPhone(web, telegram, 7001), PatientPhone(web, telegram, 7002)
    await _join(amina, _invite(web, label="Amina"))
    await _join(bo, _invite(web, label="Bo"))
    await asyncio.gather(_new_patient(amina, "AM-1"), _new_patient(bo, "BO-1"))
    await asyncio.gather(_case_for(amina, "the child's arm"), _case_for(bo))
    await _new_patient(amina, "AM-2", age=":age:adult")
    await _case_for(amina)
    [a12], [b7], [a13] = _cases_of(web, "AM-1"), _cases_of(web, "BO-1"), _cases_of(web, "AM-2")
    assert a12.answers["patient"]["skin_type"] == "V" and a12.answers["patient"]["sex"] == "female"
    assert a12.organisation == "north"
    with services(web).sessions() as session:
        attested = session.scalars(select(AuditEvent).where(AuditEvent.action == "consent.attested")).all()
        assert len(attested) == 3 and all(e.details["version"] for e in attested)
    for case_id in (a12.id, b7.id, a13.id):
        await _triage(web, case_id)
    result = await amina.expect("Patient AM-1")
    assert "The patient should book" in result  # the advice worded for the health worker (routine, forwarded)
    await amina.expect("Patient AM-2")
    await bo.expect("Patient BO-1")
    assert not any("AM-1" in m or "AM-2" in m for m in bo.messages())  # Bo never hears of Amina's patients
    # A clinician replies about A12: it reaches Amina, labelled with her reference.
    sessions = services(web).sessions
    doctor = accounts.create_clinician(sessions, email="doc@north.org", display_name="Dr North", role="clinician",
                                       organisation="north", password="correct horse battery", actor="test")
    review.claim(sessions, doctor, a12.id)
    review.reply(sessions, doctor, a12.id, "Please bring the child to the clinic on Monday.")
    reply = await amina.expect("bring the child")
    assert reply.startswith("<b>Patient AM-1</b>") and "Dr North" in reply
    # The inbox says who sent it.
    detail = review.case_detail(sessions, doctor, a12.id)
    assert detail.submitted_by == "Amina · patient AM-1"
    queue = review.queue(sessions, doctor, review.QueueFilter.parse(None, "all", None, "health_workers"))
    assert {item.id for item in queue.items} >= {a12.id, a13.id}
    assert not review.queue(sessions, doctor, review.QueueFilter.parse(None, "all", None, "patients")).items


async def test_a_health_worker_cannot_reach_another_ones_patient_by_command_button_or_forgery(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    amina, bo = PatientPhone(web, telegram, 7101), PatientPhone(web, telegram, 7102)
    await _join(amina, _invite(web, label="Amina"))
    await _join(bo, _invite(web, label="Bo"))
    await _new_patient(amina, "SECRET-1")
    with services(web).sessions() as session:
        secret = session.scalars(select(Patient.id).where(Patient.local_ref == "SECRET-1")).one()
    await bo.send("/patients")
    await bo.expect("no patients yet")  # the command lists only their own
    for data in (f"pt:0:{secret}", f"pt:1:{secret}", f"pt:-1:{secret}", f"pm:0:ask:{secret}", "pm:0:del",
                 f"pt:0:{secret}0", "pt:0:٣"):
        await bo.tap_data(data)
    await bo.settle()
    assert all("SECRET-1" not in m for m in bo.messages())
    assert all("earlier message" in a for a in bo.alerts())
    with services(web).sessions() as session:
        bo_row = session.scalars(select(Patient).where(Patient.telegram_user_id == 7102)).one()
        assert bo_row.conversation_data.get("subject") is None
    # A patient of their own, then a button naming Amina's patient: still refused.
    await _new_patient(bo, "B1")
    await bo.send("/patients")
    await bo.expect("Your patients")
    nonce = bo.keyboard()[0]["callback_data"].split(":")[1]
    await bo.tap_data(f"pt:{nonce}:{secret}")
    await bo.settle()
    assert all("SECRET-1" not in m for m in bo.messages())


async def test_erasing_one_patient_of_a_health_worker_leaves_the_others(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    amina = PatientPhone(web, telegram, 7201)
    await _join(amina, _invite(web, label="Amina"))
    await _new_patient(amina, "KEEP")
    await _case_for(amina)
    await _new_patient(amina, "GONE")
    await _case_for(amina)
    [gone] = _cases_of(web, "GONE")
    await _triage(web, gone.id)
    await amina.send("/patients")
    await amina.expect("Your patients")
    await amina.tap(lambda data: data.startswith("pt:") and data.endswith(f":{_patient_id(web, 'GONE')}"))
    await amina.expect("Patient GONE")
    await amina.tap(":del")
    await amina.expect("Erase <b>everything</b>")
    await amina.tap(":yes")
    await amina.expect("Patient GONE was erased")
    with services(web).sessions() as session:
        refs = set(session.scalars(select(Patient.local_ref).where(Patient.managed_by_id.is_not(None))))
        images = session.scalar(select(func.count()).select_from(CaseImage))
        erased = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.erased")).one()
    assert refs == {"KEEP"} and images == 1 and erased.details["cases"] == 1
    assert _cases_of(web, "KEEP")


def _patient_id(web: TestClient[Any, Any], ref: str) -> int:
    with services(web).sessions() as session:
        return int(session.scalars(select(Patient.id).where(Patient.local_ref == ref)).one())


async def test_a_late_album_part_and_a_conversation_resumed_the_next_day(
    telegram: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    migrate(database_url)
    web = await start_web(telegram, database_url, tmp_path, ORGANISATION="north")
    amina = PatientPhone(web, telegram, 7301)
    await _join(amina, _invite(web, label="Amina"))
    await _new_patient(amina, "P1")
    await amina.photo(skin_photo())
    await amina.expect("received")
    await amina.tap(":done")
    await amina.expect("Where on the body")
    await amina.photo(skin_photo(), caption="second photo of the same arm")  # the album's late part
    await amina.expect("Photo 2 added")
    await web.close()  # the phone goes offline; the web process restarts overnight
    web = await start_web(telegram, database_url, tmp_path, ORGANISATION="north")
    amina.web = web
    await amina.send("/start")
    await amina.expect("Where on the body")  # resumed where it was
    [case] = _cases_of(web, "P1")
    assert "second photo of the same arm" in case.patient_text
    with services(web).sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseImage).where(CaseImage.case_id == case.id)) == 2
    await web.close()
