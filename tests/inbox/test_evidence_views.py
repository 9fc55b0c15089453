"""What the clinician sees of the evidence: the patient's words the rules read (marked on the case page, quoted
under each reason), whether the model's own answer reached the patient, the model on duty and its evidence
record on the dashboard, and agreement by skin type."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update

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
