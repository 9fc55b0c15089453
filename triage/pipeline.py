"""The case pipeline the worker runs: claim, call the model, assess, store the outcome and queue the messages.

Safe to run twice for the same case: the claim is a conditional UPDATE that hands out a fresh token, only the
holder of the current token may store the outcome, and every outgoing message has a unique dedupe key.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from model_server.api import (
    MAX_CONCEPT_TEXT_CHARS,
    AnalyzeRequest,
    AnalyzeResponse,
    ChatTurn,
    ConceptSpec,
    ConceptsRequest,
)
from triage import lesion_visits, outreach, patient_answer, tracking
from triage.concepts import CONCEPT_DESCRIPTIONS
from triage.db import transaction
from triage.images import ImageStore
from triage.model_client import ModelClient, ModelUnavailable
from triage.models import AuditEvent, Case, CaseStatus, Message, ModelResult, Patient, TriageDecision, utcnow
from triage.outbox import enqueue
from triage.rules import CONDITION_TIERS, Decision, Finding, about_a_lesion, assess, parse_case

log = logging.getLogger(__name__)

_QUALITY_ORDER = {"good": 0, "poor": 1, "not_skin": 2}
_CHAT_ROLES = {"patient", "assistant", "clinician"}


@dataclass(frozen=True)
class PipelineConfig:
    clinician_chat_id: int | None
    stuck_after_s: int
    # The evidence record (its id) that lets the model of this identity digest discharge a benign lesion, if any
    # (`triage.evidence.EvidenceCache.record_id`). None: no model is trusted to.
    evidence: Callable[[str], int | None] | None = None
    # Ask the model to read the patient's words too (`/v1/concepts`); its findings can only add.
    model_reads_words: bool = True
    # The diameter of the coin patients put beside a tracked lesion (`LESION_COIN_DIAMETER_MM`); None: sizes are
    # compared relative to the coin, whatever its size, without millimetres.
    coin_diameter_mm: float | None = None


@dataclass(frozen=True)
class LesionOutcome:
    """What a result says about a lesion: the visit of a tracked one measured (`visit`), or an offer to follow a
    spot, mole or growth that is not tracked yet (`trackable`)."""

    visit: lesion_visits.VisitMeasurement | None = None
    trackable: bool = False


@dataclass(frozen=True)
class CaseSnapshot:
    case_id: int
    patient_id: int
    chat_id: int
    language: str
    answers: dict[str, Any]
    patient_text: str
    image_keys: list[str]
    own_quality: list[str]
    history: list[tuple[str, str]]
    # A patient managed by a health worker: the answer goes to the worker (their chat, `chat_id`), worded for
    # them and labelled with their reference for the patient.
    worker_id: int | None = None
    patient_ref: str = ""
    lesion_id: int | None = None  # a visit of a tracked lesion (`triage.tracking`)

    def addressing(self) -> dict[str, Any]:
        """What a message about this case needs to say who it is for."""
        return {"audience": "chw", "patient_ref": self.patient_ref} if self.worker_id is not None else {}


def claim_case(
    factory: sessionmaker[Session], case_id: int, *, stuck_after_s: int, takeover: bool = False
) -> str | None:
    """Move a queued case to `analyzing` and return the claim token; None if someone else has it or it is done.

    With `takeover` (a redelivered task), a case already `analyzing` is taken over: the earlier claim's token
    stops being valid, so only one of the two runs can store an outcome.
    """
    token = str(uuid.uuid4())
    now = utcnow()
    stale = now - dt.timedelta(seconds=stuck_after_s)
    claimable = Case.status == CaseStatus.QUEUED
    if takeover:
        claimable = or_(claimable, Case.status == CaseStatus.ANALYZING)
    else:
        claimable = or_(claimable, (Case.status == CaseStatus.ANALYZING) & (Case.analysis_started_at < stale))
    with transaction(factory) as session:
        result = session.execute(
            update(Case)
            .where(Case.id == case_id, claimable)
            .values(
                status=CaseStatus.ANALYZING,
                analysis_token=token,
                analysis_started_at=now,
                analysis_attempts=Case.analysis_attempts + 1,
                updated_at=now,
            )
        )
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def load_snapshot(factory: sessionmaker[Session], case_id: int) -> CaseSnapshot:
    with factory() as session:
        case = session.get_one(Case, case_id)
        images = [img for img in case.images if img.deleted_at is None]
        return CaseSnapshot(
            case_id=case.id,
            patient_id=case.patient_id,
            chat_id=case.patient.chat_id,
            language=case.language,
            answers=dict(case.answers),
            patient_text=case.patient_text,
            image_keys=[img.storage_key for img in images],
            own_quality=[own_quality(str(img.quality.get("verdict", "good"))) for img in images],
            history=[(m.role, m.text) for m in case.messages][-20:],
            worker_id=case.patient.managed_by_id,
            patient_ref=case.patient.local_ref or "",
            lesion_id=case.lesion_id,
        )


def worst_quality(qualities: list[str]) -> str:
    """The worst of several photos' qualities (an unknown value counts as `not_skin`); `good` for none."""
    return max(qualities, key=lambda q: _QUALITY_ORDER.get(q, 2), default="good")


def own_quality(verdict: str) -> str:
    """Our own photo check in the model's vocabulary: too dark, blurred... are `poor`."""
    return verdict if verdict in ("good", "not_skin") else "poor"


def build_model_request(snapshot: CaseSnapshot, question: str | None = None) -> AnalyzeRequest:
    history = [ChatTurn(role=role, text=text[:4000])  # type: ignore[arg-type]  # filtered to the three roles
               for role, text in snapshot.history if role in _CHAT_ROLES]
    return AnalyzeRequest(
        answers=snapshot.answers,
        question=(snapshot.patient_text if question is None else question)[:4000],
        history=history,
        language=snapshot.language,
        candidates=sorted(CONDITION_TIERS),
    )


def triage_input(
    snapshot: CaseSnapshot, response: AnalyzeResponse | None, *, discharge_validated: bool = False
) -> dict[str, Any]:
    """The triage contract's case for this snapshot and model response (None: no model output).

    `discharge_validated`: the model of this response has an evidence record that counts
    (`model.lesion_discharge_validated`; CLINICAL.md "Lesions: self-care needs evidence").
    """
    case: dict[str, Any] = {
        "patient": snapshot.answers.get("patient", {}),
        "answers": snapshot.answers.get("answers", {}),
        "text": snapshot.patient_text,
    }
    if response is not None:
        qualities = list(response.image_quality) + snapshot.own_quality
        worst = worst_quality(qualities)
        case["model"] = {
            "differential": [{"condition": d.condition, "likelihood": d.likelihood} for d in response.differential],
            "image_quality": worst,
            "lesion_discharge_validated": discharge_validated,
        }
    return case


def identity_of(response: AnalyzeResponse | None) -> str:
    """The model server's identity digest for this answer ('' when it reported none)."""
    return response.identity.identity if response is not None and response.identity is not None else ""


def model_findings(client: ModelClient, text: str, language: str) -> tuple[Finding, ...]:
    """What the model reads in the patient's words, as findings that can only add to the rules' own; nothing
    when there are no words or the model cannot help (a model that cannot read text, or is away)."""
    if not text.strip():
        return ()
    try:
        concepts = [ConceptSpec(key=key, description=text) for key, text in CONCEPT_DESCRIPTIONS.items()]
        read = client.concepts(ConceptsRequest(text=text[:MAX_CONCEPT_TEXT_CHARS], language=language,
                                               concepts=concepts))
    except ModelUnavailable as exc:
        log.info("model did not read the words (%s); the rules' reading stands", exc)
        return ()
    return tuple(
        Finding(found.key, found.start, found.start + len(found.quote), found.quote, language, source="model")
        for found in read.concepts
        if text[found.start:found.start + len(found.quote)] == found.quote and found.key in CONCEPT_DESCRIPTIONS
    )


def stored_reasons(decision: Decision) -> list[dict[str, Any]]:
    """The decision's reasons as stored and queued: code, clinician text, tier, and the words behind each (a
    finding measured on the photos says so: `"source": "measured"`)."""
    stored = []
    for reason in decision.reasons:
        data = {**reason.to_dict(), "tier": reason.tier}
        if any(f.source == lesion_visits.MEASURED for f in reason.evidence):
            data["evidence"] = [{**f.to_dict(), **({"source": f.source} if f.source == lesion_visits.MEASURED
                                                   else {})} for f in reason.evidence]
        stored.append(data)
    return stored


def stored_findings(decision: Decision) -> list[dict[str, Any]]:
    return [{**finding.to_dict(), "source": finding.source} for finding in decision.findings]


def analyze_case(
    factory: sessionmaker[Session],
    store: ImageStore,
    client: ModelClient,
    config: PipelineConfig,
    case_id: int,
    *,
    redelivered: bool = False,
    use_model: bool = True,
) -> str:
    """Run the whole analysis of one case. Returns what happened: `skipped`, `lost_claim`, `triaged`, `fallback`.

    `use_model=False`: earlier runs failed outright (`triage.tasks`), so nothing that reads the photos runs: the
    case is triaged on the patient's answers alone, as when the model server is down (never `self_care`,
    forwarded to the clinicians, the patient told)."""
    token = claim_case(factory, case_id, stuck_after_s=config.stuck_after_s, takeover=redelivered)
    if token is None:
        log.info("case %s: not claimable (already claimed or done)", case_id)
        return "skipped"
    snapshot = load_snapshot(factory, case_id)
    response: AnalyzeResponse | None = None
    error = "" if use_model else "the analysis failed on earlier runs; triaged on the answers alone"
    if use_model:
        try:
            images = [store.get(key) for key in snapshot.image_keys]
            response = client.analyze(build_model_request(snapshot), images)
        except ModelUnavailable as exc:
            error = str(exc)
            log.warning("case %s: no model output (%s); triaging on the answers alone", case_id, error)
    extra = model_findings(client, snapshot.patient_text, snapshot.language) if (
        response is not None and config.model_reads_words) else ()
    visit = lesion_visits.measure_visit(factory, store, case_id=case_id, lesion_id=snapshot.lesion_id,
                                        coin_mm=config.coin_diameter_mm) if (
        snapshot.lesion_id is not None and use_model) else None
    record_id = config.evidence(identity_of(response)) if config.evidence and identity_of(response) else None
    triage_case = parse_case(triage_input(snapshot, response, discharge_validated=record_id is not None))
    # A change measured on the photos is one more finding of the checklist: like the words', it can only add.
    extra += visit.findings if visit is not None else ()
    decision = assess(triage_case, extra_findings=extra)
    lesion = LesionOutcome(visit, trackable=visit is None and about_a_lesion(triage_case, extra))
    stored = store_outcome(factory, config, snapshot, token, response, decision, error, evidence_record_id=record_id,
                           lesion=lesion)
    if not stored:
        log.info("case %s: claim was taken over; this run's outcome is discarded", case_id)
        return "lost_claim"
    return "triaged" if response is not None else "fallback"


def store_outcome(
    factory: sessionmaker[Session],
    config: PipelineConfig,
    snapshot: CaseSnapshot,
    token: str,
    response: AnalyzeResponse | None,
    decision: Decision,
    error: str,
    *,
    evidence_record_id: int | None = None,
    lesion: LesionOutcome | None = None,
) -> bool:
    """In one transaction: the model result, the decision, the new status and the outgoing messages; for a visit of
    a tracked lesion its measurement and the lesion's next due photo (`tracking.record_visit`).

    The model's own answer goes to the patient only when `triage.patient_answer` allows it (their language,
    readable, no certainty, no reassurance at a serious tier); the clinician always sees it.
    """
    lesion = lesion or LesionOutcome()
    now = utcnow()
    forward = decision.forward_to_clinician or response is None
    if response is None:
        status = CaseStatus.FAILED_MODEL
    else:
        status = CaseStatus.FORWARDED if forward else CaseStatus.TRIAGED
    with transaction(factory) as session:
        result = session.execute(
            update(Case)
            .where(Case.id == snapshot.case_id, Case.status == CaseStatus.ANALYZING, Case.analysis_token == token)
            .values(
                status=status,
                tier=decision.tier,
                forwarded=forward,
                triaged_at=now,
                updated_at=now,
                analysis_token=None,
                **({"lesion_measurement": lesion.visit.record} if lesion.visit is not None else {}),
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        reasons = stored_reasons(decision)
        tracked = tracking.record_visit(session, snapshot.lesion_id, snapshot.case_id, tier=decision.tier,
                                        measured_change=lesion.visit.changed, now=now) if (
            snapshot.lesion_id is not None and lesion.visit is not None) else None
        session.add(
            TriageDecision(
                case_id=snapshot.case_id,
                tier=decision.tier,
                forward_to_clinician=forward,
                reasons=reasons,
                ruleset_version=decision.ruleset_version,
                model_used=response is not None,
                findings=stored_findings(decision),
                text_read=snapshot.patient_text,
                evidence_record_id=evidence_record_id,
            )
        )
        if response is not None:
            session.add(
                ModelResult(
                    case_id=snapshot.case_id,
                    backend=response.backend,
                    model_id=response.model_id,
                    model_revision=response.model_revision,
                    differential=[d.model_dump() for d in response.differential],
                    findings=response.findings,
                    image_quality=list(response.image_quality),
                    answer_text=response.answer,
                    latency_ms=response.timings.total_ms,
                    model_identity=identity_of(response),
                )
            )
            if response.answer:
                session.add(Message(case_id=snapshot.case_id, role="assistant", text=response.answer))
        answer = patient_answer.check(response.answer, snapshot.language, decision.tier) if response else None
        payload = {
            "tier": decision.tier,
            "forwarded": forward,
            "model_used": response is not None,
            "reasons": reasons,
            "differential": [d.model_dump() for d in response.differential[:3]] if response else [],
            "findings": response.findings[:5] if response else [],
            # The model's words, only when the patient may read them; the clinician sees them in the inbox.
            "answer": response.answer.strip() if response is not None and answer and answer.shown else "",
            "answer_left_out": answer.why if response is not None and answer and not answer.shown else "",
            "language": snapshot.language,
            **snapshot.addressing(),
            **_lesion_payload(tracked, lesion, snapshot.case_id),
        }
        queue_decision(
            session,
            config,
            case_id=snapshot.case_id,
            chat_id=snapshot.chat_id,
            payload=payload,
            key_suffix="",
            alert=forward,
        )
        # The person waiting for this answer (the patient, or their health worker, if still on this case) can now
        # ask follow-up questions about it.
        waiting = session.get(Patient, snapshot.worker_id or snapshot.patient_id)
        if (waiting is not None and waiting.conversation_state == "waiting_result"
                and (waiting.conversation_data or {}).get("case_id") == snapshot.case_id):
            carried = {k: v for k, v in (waiting.conversation_data or {}).items() if k in ("subject", "ref")}
            waiting.conversation_state = "result"
            waiting.conversation_data = {**carried, "case_id": snapshot.case_id}
            waiting.updated_at = now
        session.add(
            AuditEvent(
                actor="worker",
                action="case.triaged",
                case_id=snapshot.case_id,
                details={"tier": decision.tier, "forwarded": forward, "model_error": error[:200]},
            )
        )
    return True


def _lesion_payload(tracked: dict[str, Any] | None, lesion: LesionOutcome, case_id: int) -> dict[str, Any]:
    """What the result and the alert say about the lesion: the tracked lesion's visit and what was measured, or the
    offer to follow it (the case's id, for the button)."""
    if tracked is not None and lesion.visit is not None:
        change = lesion.visit.record.get("change") or {}
        return {"lesion": {**tracked, "changes": {k: v.get("verdict") for k, v in change.items()}}}
    return {"trackable": case_id} if lesion.trackable else {}


def queue_decision(
    session: Session,
    config: PipelineConfig,
    *,
    case_id: int,
    chat_id: int,
    payload: dict[str, Any],
    key_suffix: str,
    alert: bool,
) -> None:
    """Queue the patient's answer and, when `alert`, the clinicians' alert (to the chat of the case's organisation,
    else the deployment's `CLINICIAN_CHAT_ID`), most urgent first.

    Keys: `case:<id>:result` and `case:<id>:alert` (plus `key_suffix` for a later decision on the same case).
    """
    priority = _priority(str(payload["tier"]))
    organisation = session.scalar(select(Case.organisation).where(Case.id == case_id)) or ""
    clinicians = outreach.clinician_chat(session, organisation, config.clinician_chat_id)
    enqueue(
        session,
        kind="patient_result",
        chat_id=chat_id,
        case_id=case_id,
        dedupe_key=f"case:{case_id}:result{key_suffix}",
        payload=payload,
        priority=priority,
    )
    if alert and clinicians is not None:
        enqueue(
            session,
            kind="clinician_alert",
            chat_id=clinicians,
            case_id=case_id,
            dedupe_key=f"case:{case_id}:alert{key_suffix}",
            payload=payload,
            priority=priority,
        )


def _priority(tier: str) -> int:
    """Lower is sent first: emergencies before everything else."""
    return {"emergency": 0, "urgent": 1, "soon": 2, "routine": 3}.get(tier, 4)


def requeue_stuck_cases(
    factory: sessionmaker[Session], *, stuck_after_s: int, now: dt.datetime | None = None
) -> list[int]:
    """Cases queued or analyzing for longer than `stuck_after_s`: their ids, for the beat job to send again."""
    now = now or utcnow()
    stale = now - dt.timedelta(seconds=stuck_after_s)
    with factory() as session:
        rows = session.scalars(
            select(Case.id).where(
                or_(
                    (Case.status == CaseStatus.QUEUED) & (Case.submitted_at < stale),
                    (Case.status == CaseStatus.ANALYZING) & (Case.analysis_started_at < stale),
                )
            )
        )
        return list(rows)
