"""The letter from the case page: downloaded by the case's clinicians only (audited), and the patient's copy sent
through the bot by the clinician who holds the case."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from tests.fhir.world import referred
from tests.inbox.conftest import InboxClient, WebProcess, World, sqlite_only
from tests.letters.pdf import read
from triage import cases, review
from triage.models import AuditEvent, Outbox, Patient

Client = Callable[..., Awaitable[InboxClient]]


def _audit(world: World, action: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    with world.services.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(r.actor, r.case_id, dict(r.details)) for r in rows]


async def test_the_referral_and_the_patients_copy_download_as_pdfs_and_are_audited(
    world: World, make_client: Client
) -> None:
    case_id = referred(world)
    alice = await make_client("alice")
    resp = await alice.client.get(f"/inbox/cases/{case_id}/letter.pdf")
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="case-{case_id}-referral-en.pdf"'
    text = "".join(p.text for p in read(await resp.read()))
    assert "Dermatology referral" in text and "Dr Alice" in text and "Please go to the eye clinic" in text
    resp = await alice.client.get(f"/inbox/cases/{case_id}/letter.pdf?copy=patient&lang=fr")
    assert resp.status == 200
    assert "Votre examen de la peau" in "".join(p.text for p in read(await resp.read()))
    me = f"clinician:{world.people['alice'].id}"
    assert _audit(world, "case.exported") == [(me, case_id, {"format": "pdf", "copy": "referral"}),
                                              (me, case_id, {"format": "pdf", "copy": "patient"})]
    page = await alice.get(f"/inbox/cases/{case_id}")
    assert f'href="/inbox/cases/{case_id}/letter.pdf"' in page[1] and f'/inbox/cases/{case_id}/fhir"' in page[1]


@sqlite_only
async def test_nobody_else_gets_a_letter_and_bad_choices_are_refused(world: World, make_client: Client) -> None:
    bob = await make_client("bob")
    north = world.cases["emergency"]
    assert (await bob.client.get(f"/inbox/cases/{north}/letter.pdf")).status == 404
    alice = await make_client("alice")
    for query, message in (("copy=both", "Choose copy=referral or copy=patient"),
                           ("lang=de", "The letter is written in en, es, fr"),
                           ("lang=%3Cscript%3E", "The letter is written in")):
        resp = await alice.client.get(f"/inbox/cases/{north}/letter.pdf?{query}")
        assert resp.status == 400 and message in await resp.text()
    with world.services.sessions() as session:
        telegram_id = int(session.scalar(select(Patient.telegram_user_id)) or 0)
    cases.erase_patient(world.services.sessions, world.services.images, telegram_id)
    assert (await alice.client.get(f"/inbox/cases/{north}/letter.pdf")).status == 404
    assert _audit(world, "case.exported") == []


@sqlite_only
async def test_only_the_holder_queues_the_patients_copy(world: World, make_client: Client) -> None:
    case_id = world.cases["emergency"]
    alice = await make_client("alice")
    await alice.get(f"/inbox/cases/{case_id}")
    resp = await alice.post(f"/inbox/cases/{case_id}/letter/send")
    assert resp.status == 409 and "Claim the case first" in await resp.text()
    review.claim(world.services.sessions, world.people["alice"], case_id)
    carol = await make_client("carol")
    await carol.get(f"/inbox/cases/{case_id}")
    resp = await carol.post(f"/inbox/cases/{case_id}/letter/send")
    assert resp.status == 409 and "claimed by Dr Alice" in await resp.text()
    bob = await make_client("bob")
    await bob.get("/inbox/")
    assert (await bob.post(f"/inbox/cases/{case_id}/letter/send")).status == 404
    assert (await alice.post(f"/inbox/cases/{case_id}/letter/send", csrf="forged")).status == 403
    resp = await alice.post(f"/inbox/cases/{case_id}/letter/send")
    assert resp.status == 303 and resp.headers["Location"] == f"/inbox/cases/{case_id}?done=letter"
    with world.services.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == "document")).all()
        assert [(r.chat_id, r.case_id, r.payload) for r in rows] == [
            (world.chat_id, case_id, {"audience": "patient", "language": "en", "clinician": "Dr Alice"})]
    assert _audit(world, "letter.sent") == [(f"clinician:{world.people['alice'].id}", case_id, {"language": "en"})]
    page = await alice.get(f"/inbox/cases/{case_id}?done=letter")
    assert "The letter is on its way to the patient." in page[1]


@sqlite_only
async def test_the_bot_sends_the_patients_copy_as_a_pdf_in_their_language(web_process: WebProcess) -> None:
    world = web_process.world
    services = web_process.services
    case_id = referred(world)
    with services.sessions.begin() as session:
        session.query(Patient).update({"language": "es"})
        from triage.models import Case

        session.query(Case).update({"language": "es"})
    alice = await web_process.user("alice")
    await alice.get(f"/inbox/cases/{case_id}")
    assert (await alice.post(f"/inbox/cases/{case_id}/letter/send")).status == 303
    calls = await web_process.telegram.wait_for(lambda _: web_process.telegram.sent("sendDocument"), timeout=30)
    call = next(c for c in calls if c.method == "sendDocument")
    assert int(call.params["chat_id"]) == world.chat_id
    assert call.params["caption"] == f"Una carta sobre su caso n.º {case_id} de Dr Alice."
    pdf = call.files["document"]
    assert "Su consulta de piel" in "".join(p.text for p in read(pdf))
    await alice.client.session.close()  # its own connections only: closing the TestClient stops the shared server
    for _ in range(200):  # the delivery is recorded just after Telegram answers
        with services.sessions() as session:
            if session.scalars(select(Outbox.status).where(Outbox.kind == "document")).one() == "sent":
                break
        await asyncio.sleep(0.05)
    else:
        with services.sessions() as session:
            row = session.scalars(select(Outbox).where(Outbox.kind == "document")).one()
            raise AssertionError(f"the letter's outbox row was not marked sent: {row.status} {row.attempts} "
                                 f"{row.last_error} {web_process.telegram.sent('sendDocument')}")


@sqlite_only
async def test_a_letter_queued_for_an_erased_patient_is_never_sent(web_process: WebProcess) -> None:
    world = web_process.world
    services = web_process.services
    case_id = referred(world)
    from triage.letters.sending import document_for

    with services.sessions() as session:
        telegram_id = int(session.scalar(select(Patient.telegram_user_id)) or 0)
    cases.erase_patient(services.sessions, services.images, telegram_id)
    assert document_for(services.sessions, services.images, case_id, {"language": "en"}) is None
    assert web_process.telegram.sent("sendDocument") == []


@sqlite_only
async def test_without_the_pdf_engine_the_letter_is_a_clear_503_and_the_rest_works(
    world: World, make_client: Client, monkeypatch: Any
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if Pango (or WeasyPrint) were missing
    alice = await make_client("alice")
    case_id = world.cases["emergency"]
    resp = await alice.client.get(f"/inbox/cases/{case_id}/letter.pdf")
    assert resp.status == 503 and "the PDF engine is missing" in await resp.text()
    assert (await alice.client.get(f"/inbox/cases/{case_id}/fhir")).status == 200
    assert (await alice.client.get(f"/inbox/cases/{case_id}")).status == 200
