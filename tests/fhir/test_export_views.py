"""`/inbox/cases/<id>/fhir`: the case's clinicians get a valid bundle, audited; nobody else gets anything."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from tests.fhir.schema import schema_errors
from tests.fhir.world import referred
from tests.inbox.conftest import InboxClient, World, sqlite_only
from triage import cases
from triage.fhir.validate import references, validate_bundle
from triage.models import AuditEvent, Patient

Client = Callable[..., Awaitable[InboxClient]]


def _exports(world: World) -> list[tuple[str, int | None, dict[str, Any]]]:
    with world.services.sessions() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.exported").order_by(AuditEvent.id))
        return [(r.actor, r.case_id, dict(r.details)) for r in rows]


async def test_a_clinician_of_the_case_gets_a_valid_bundle_and_it_is_audited(world: World, make_client: Client) -> None:
    case_id = referred(world)
    alice = await make_client("alice")
    resp = await alice.client.get(f"/inbox/cases/{case_id}/fhir")
    assert resp.status == 200
    assert resp.content_type == "application/fhir+json"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="case-{case_id}.fhir.json"'
    assert resp.headers["Cache-Control"] == "no-store"
    bundle = json.loads(await resp.read())
    validate_bundle(bundle)
    assert schema_errors(bundle) == []
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(ref in urls for e in bundle["entry"] for ref in references(e["resource"]))
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert {"ServiceRequest", "Condition", "Consent", "Media", "Provenance"} <= set(kinds)
    media = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Media")
    assert media["content"]["data"]  # the photo, decrypted from the store, inline
    text = json.dumps(bundle)
    assert "900001" not in text and str(world.chat_id) not in text  # no Telegram ids
    assert _exports(world) == [(f"clinician:{world.people['alice'].id}", case_id, {"format": "fhir", "via": "inbox"})]


@sqlite_only
async def test_another_organisation_an_unknown_case_or_an_erased_patient_gets_404_and_nothing(
    world: World, make_client: Client
) -> None:
    bob = await make_client("bob")
    north = world.cases["emergency"]
    for path in (f"/inbox/cases/{north}/fhir", "/inbox/cases/9999999/fhir", "/inbox/cases/9999999999/fhir"):
        resp = await bob.client.get(path)
        assert resp.status == 404, path
        assert "resourceType" not in await resp.text()
    alice = await make_client("alice")
    assert (await alice.client.get(f"/inbox/cases/{world.cases['south']}/fhir")).status == 404
    assert (await alice.client.get("/inbox/cases/-1/fhir")).status == 404
    assert (await alice.client.get("/inbox/cases/1e3/fhir")).status == 404
    with world.services.sessions() as session:
        telegram_id = session.scalar(select(Patient.telegram_user_id))
    assert cases.erase_patient(world.services.sessions, world.services.images, int(telegram_id or 0))
    resp = await alice.client.get(f"/inbox/cases/{north}/fhir")
    assert resp.status == 404
    assert _exports(world) == []


@sqlite_only
async def test_signed_out_gets_the_sign_in_page_not_the_bundle(world: World, make_client: Client) -> None:
    anonymous = await make_client()
    resp = await anonymous.client.get(f"/inbox/cases/{world.cases['emergency']}/fhir", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/inbox/login")


@sqlite_only
async def test_an_open_case_without_model_or_photo_exports_too(world: World, make_client: Client) -> None:
    alice = await make_client("alice")
    resp = await alice.client.get(f"/inbox/cases/{world.cases['urgent']}/fhir")
    assert resp.status == 200
    bundle = json.loads(await resp.read())
    assert schema_errors(bundle) == []
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert "Media" not in kinds and "Condition" not in kinds and "RiskAssessment" in kinds
    report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["status"] == "preliminary"
