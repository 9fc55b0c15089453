"""What the clinician sees of the evidence: the patient's words the rules read (marked on the case page, quoted
under each reason), whether the model's own answer reached the patient, the model on duty and its evidence
record on the dashboard, and agreement by skin type."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from tests.inbox.conftest import InboxClient, World
from triage import evidence
from triage.db import transaction
from triage.models import Case, ModelResult, TriageDecision

WORDS = "since yesterday my lips are swelling and I can't breathe well <b>"


def _with_findings(world: World, key: str) -> None:
    start = WORDS.index("lips are swelling")
    finding = {"concept": "swelling_face_lips_tongue", "text": "lips are swelling", "start": start,
               "end": start + len("lips are swelling"), "source": "words"}
    reason = {"code": "red_flag.angioedema_breathing", "text": "Swelling of the lips with difficulty breathing",
              "tier": "emergency", "evidence": [finding]}
    with transaction(world.services.sessions) as session:
        case_id = world.cases[key]
        session.execute(update(Case).where(Case.id == case_id).values(patient_text=WORDS))
        session.execute(update(TriageDecision).where(TriageDecision.case_id == case_id)
                        .values(reasons=[reason], findings=[finding], text_read=WORDS))
        session.execute(update(ModelResult).values(model_identity="f" * 64))  # the model that answered every case
        session.execute(update(ModelResult).where(ModelResult.case_id == case_id).values(
            answer_text="You have angioedema. Take an antihistamine and rest at home for a few days."))


async def test_the_case_page_marks_the_words_the_rules_read_and_says_what_the_patient_saw(
    world: World, make_client: Callable[..., Awaitable[InboxClient]]
) -> None:
    _with_findings(world, "emergency")
    alice = await make_client("alice")
    status, page = await alice.get(f"/inbox/cases/{world.cases['emergency']}")
    assert status == 200
    assert '<mark title="swelling face lips tongue">lips are swelling</mark>' in page
    assert "&lt;b&gt;" in page and "<b>\n" not in page  # the rest of the words stay escaped
    assert "from the patient's words: <mark dir=\"auto\">“lips are swelling”</mark>" in page
    assert "left out of the patient&#39;s message (claims certainty)" in page


async def test_the_dashboard_shows_the_model_on_duty_and_whether_its_evidence_counts(
    world: World, make_client: Callable[..., Awaitable[InboxClient]]
) -> None:
    _with_findings(world, "emergency")
    alice = await make_client("alice")
    _, page = await alice.get("/inbox/dashboard")
    assert "tiny-test-model" in page and "No evidence record counts for this model" in page
    counts: dict[str, Any] = {"lesion_cases": 300, "malignant_cases": 40, "malignant_caught": 39,
                              "self_care_cases": 100, "self_care_benign": 100, "errored_cases": 0,
                              "cases_without_model": 0, "models": 1}
    view = evidence.record(world.services.sessions, identity={"identity": "f" * 64, "model_id": "tiny-test-model"},
                           dataset="pad", split="holdout", ruleset_version="2026.12.0", figures={"counts": counts},
                           recorded_by="Dr Eval")
    _, page = await alice.get("/inbox/dashboard")
    assert f"Evidence record {view.id} lets this model send benign lesions home" in page
    assert "malignant caught 39 of 40" in page
    assert re.search(r"<th>not given</th><td>[^<]*</td><td>\d+</td>", page)  # agreement by skin type


async def test_an_admin_invites_health_workers_sees_their_activity_and_only_their_own_organisations(
    world: World, make_client: Callable[..., Awaitable[InboxClient]]
) -> None:
    root = await make_client("root")
    status, page = await root.get("/inbox/admin/outreach")
    assert status == 200 and "No health worker has joined yet" in page
    resp = await root.post("/inbox/admin/outreach/invites", {"label": "Amina <script>", "days": "7"})
    page = await resp.text()
    assert resp.status == 200 and "/start chw-" in page  # no bot username configured: the start payload itself
    assert "Amina &lt;script&gt;" in page and "<script>" not in page
    code = re.search(r"chw-[A-Za-z0-9_-]{24}", page)
    assert code is not None
    _, again = await root.get("/inbox/admin/outreach")
    assert code.group(0) not in again  # shown once: only its hash is kept
    assert (await root.post("/inbox/admin/outreach/invites", {"label": "x", "days": "365"})).status == 400
    from triage.models import Invite

    with world.services.sessions() as session:
        invite_id = session.scalars(select(Invite.id)).one()
    sam = await make_client("sam")  # the admin of the other organisation
    assert (await sam.post(f"/inbox/admin/outreach/invites/{invite_id}/revoke")).status == 404
    assert (await root.post(f"/inbox/admin/outreach/invites/{invite_id}/revoke")).status == 303
    _, page = await root.get("/inbox/admin/outreach")
    assert "cancelled" in page
    resp = await root.post("/inbox/admin/outreach/organisation",
                           {"name": "North clinic", "public": "1", "clinician_chat_id": "-100123"})
    assert resp.status == 303
    resp = await root.post("/inbox/admin/outreach/organisation", {"name": "x", "clinician_chat_id": "٣٣"})
    assert resp.status == 400
    from triage import outreach

    north = outreach.organisation(world.services.sessions, "north")
    assert north is not None and (north.name, north.public, north.clinician_chat_id) == ("North clinic", True,
                                                                                          -100123)


async def test_an_admin_can_save_the_organisation_before_ever_opening_the_outreach_page(
    make_client: Callable[..., Awaitable[InboxClient]], world: World,
) -> None:
    """The organisation's row is made the first time it is needed: saving its settings first is not a 500 (found
    by the inbox fuzzer)."""
    from triage import outreach

    root = await make_client("root")
    assert outreach.organisation(world.services.sessions, "north") is None
    resp = await root.post("/inbox/admin/outreach/organisation", {"name": "North clinic", "clinician_chat_id": ""})
    assert resp.status == 303
    north = outreach.organisation(world.services.sessions, "north")
    assert north is not None and north.name == "North clinic" and north.clinician_chat_id is None
