"""Follow-up questions about a triaged case: answered by the model with the case's photos and conversation, and
re-assessed, because a patient's new words ("now my lips are swelling") can raise the tier, never lower it."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from model_server.api import AnalyzeResponse
from triage import patient_answer
from triage.db import transaction
from triage.images import ImageStore
from triage.model_client import ModelClient, ModelUnavailable
from triage.models import AuditEvent, Case, Message, ModelResult, Outbox, TriageDecision, utcnow
from triage.outbox import enqueue
from triage.pipeline import (
    CaseSnapshot,
    PipelineConfig,
    build_model_request,
    load_snapshot,
    queue_decision,
    stored_findings,
    stored_reasons,
    worst_quality,
)
from triage.rules import TIERS, Decision, assess, parse_case

log = logging.getLogger(__name__)


def _latest_model_case(session: Session, case: Case, text: str) -> dict[str, object]:
    result = session.scalar(select(ModelResult).where(ModelResult.case_id == case.id).order_by(ModelResult.id.desc()))
    data: dict[str, object] = {
        "patient": case.answers.get("patient", {}),
        "answers": case.answers.get("answers", {}),
        "text": text,
    }
    if result is not None:
        worst = worst_quality(list(result.image_quality))
        data["model"] = {"differential": result.differential, "image_quality": worst}
    return data


def answer_followup(
    factory: sessionmaker[Session],
    store: ImageStore,
    client: ModelClient,
    config: PipelineConfig,
    case_id: int,
    message_id: int,
) -> str:
    """Answer one follow-up question. Safe to run twice: the answer's dedupe key is the question's id.

    Returns `answered`, `unavailable` (the model failed; the patient is told), or `skipped`.
    """
    key = f"msg:{message_id}:answer"
    with factory() as session:
        question = session.get(Message, message_id)
        if question is None or question.case_id != case_id or question.role != "patient":
            return "skipped"
        if session.scalar(select(Outbox.id).where(Outbox.dedupe_key == key)) is not None:
            return "skipped"
        question_text = question.text
    snapshot = load_snapshot(factory, case_id)
    response: AnalyzeResponse | None = None
    try:
        images = [store.get(k) for k in snapshot.image_keys]
        response = client.analyze(build_model_request(snapshot, question_text), images)
    except ModelUnavailable as exc:
        log.warning("case %s: follow-up %s unanswered (%s)", case_id, message_id, exc)
    with transaction(factory) as session:
        case = session.get_one(Case, case_id)
        patient_words = "\n".join(
            m.text
            for m in session.scalars(select(Message).where(Message.case_id == case_id, Message.role == "patient"))
        )
        decision = assess(parse_case(_latest_model_case(session, case, patient_words)))
        answer = response.answer if response is not None else ""
        if answer:
            session.add(Message(case_id=case_id, role="assistant", text=answer))
        tier = max((decision.tier, case.tier or decision.tier), key=lambda t: -TIERS.index(t))
        verdict = patient_answer.check(answer, snapshot.language, tier) if answer else None
        shown = answer.strip() if verdict is not None and verdict.shown else ""
        added = enqueue(
            session,
            kind="followup_answer",
            chat_id=snapshot.chat_id,
            case_id=case_id,
            dedupe_key=key,
            payload={"answer": shown, "failed": response is None, "language": snapshot.language,
                     "left_out": verdict.why if verdict is not None and not verdict.shown else "",
                     **snapshot.addressing()},
        )
        if added and case.tier is not None and TIERS.index(decision.tier) < TIERS.index(case.tier):
            _raise_tier(session, config, case, decision, snapshot, message_id, patient_words)
    return "answered" if response is not None else "unavailable"


def _raise_tier(
    session: Session,
    config: PipelineConfig,
    case: Case,
    decision: Decision,
    snapshot: CaseSnapshot,
    message_id: int,
    text_read: str,
) -> None:
    """The patient's new words put the case in a higher tier: tell them at once and alert the clinicians."""
    previous = case.tier
    session.execute(
        update(Case).where(Case.id == case.id).values(tier=decision.tier, forwarded=True, updated_at=utcnow())
    )
    reasons = stored_reasons(decision)
    session.add(
        TriageDecision(
            case_id=case.id,
            tier=decision.tier,
            forward_to_clinician=True,
            reasons=reasons,
            ruleset_version=decision.ruleset_version,
            model_used=True,
            findings=stored_findings(decision),
            text_read=text_read,
        )
    )
    payload = {
        "tier": decision.tier,
        "forwarded": True,
        "model_used": True,
        "reasons": reasons,
        "differential": [],
        "findings": [],
        "answer": "",
        "language": snapshot.language,
        "raised_from": previous,
        **snapshot.addressing(),
    }
    queue_decision(
        session,
        config,
        case_id=case.id,
        chat_id=snapshot.chat_id,
        payload=payload,
        key_suffix=f":raised:{message_id}",
        alert=True,
    )
    session.add(
        AuditEvent(
            actor="worker",
            action="case.tier_raised",
            case_id=case.id,
            details={"from": previous, "to": decision.tier, "by": "patient follow-up"},
        )
    )
