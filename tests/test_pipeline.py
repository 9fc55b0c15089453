"""The worker's case pipeline on a real database (SQLite and PostgreSQL). The model server is reached over its
HTTP seam: canned responses and failures come from an `httpx.MockTransport`; the real server is exercised in
tests/model_server and tests/test_e2e.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from triage import pipeline
from triage.images import ImageStore
from triage.model_client import ModelClient
from triage.models import Case, CaseStatus, ModelResult, Outbox, TriageDecision, utcnow

CLINICIANS = -1001


def _response(differential: list[tuple[str, float]], quality: str = "good") -> dict[str, Any]:
    return {
        "differential": [{"condition": c, "likelihood": p} for c, p in differential],
        "findings": ["erythematous papules"],
        "image_quality": [quality],
        "answer": "It looks like acne.",
        "language": "en",
        "backend": "hf",
        "model_id": "tiny",
        "model_revision": "r1",
        "timings": {"queue_ms": 1, "inference_ms": 10, "total_ms": 11, "batch_size": 1},
    }


class Model:
    """Counts calls and answers with a canned body or a failure; `/v1/concepts` (reading the patient's words)
    answers with `concepts` (none by default)."""

    def __init__(self, *answers: Any, concepts: list[dict[str, Any]] | None = None) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.concept_requests: list[httpx.Request] = []
        self.concepts = concepts or []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/concepts":
            self.concept_requests.append(request)
            return httpx.Response(200, json={"concepts": self.concepts, "backend": "hf", "model_id": "tiny"})
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, json={"error": {"code": "x", "message": "y"}})
        return httpx.Response(200, json=answer)

    def client(self, attempts: int = 3) -> ModelClient:
        return ModelClient(
            "http://model.test",
            timeout_s=5,
            max_attempts=attempts,
            backoff_s=1.0,
            transport=httpx.MockTransport(self.handler),
            sleep=self.sleeps.append,
        )


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", [Fernet.generate_key()])


def _queued_case(sessions: sessionmaker[Session], store: ImageStore, text: str = "itchy spots",
                 answers: dict[str, Any] | None = None, user: int = 77) -> int:
    return make_case(sessions, store, user=user, text=text, answers=answers)


CONFIG = pipeline.PipelineConfig(clinician_chat_id=CLINICIANS, stuck_after_s=600)


def _outbox(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def test_a_confident_low_risk_case_is_triaged_and_not_forwarded(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    case_id = _queued_case(sessions, store)
    model = Model(_response([("acne", 0.9), ("other", 0.1)]))
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id) == "triaged"
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.tier, case.forwarded) == (CaseStatus.TRIAGED, "self_care", False)
        assert session.scalar(select(func.count()).select_from(ModelResult)) == 1
        decision = session.scalar(select(TriageDecision))
        assert decision is not None and decision.reasons and decision.model_used
    rows = _outbox(sessions)
    assert [r.kind for r in rows] == ["patient_result"]
    assert rows[0].payload["tier"] == "self_care"
    # The image went to the model as multipart bytes, decrypted; the case text as the question.
    body = model.requests[0].content
    assert b"\xff\xd8" in body and b"itchy spots" in body


def test_the_patients_words_raise_the_tier_and_forward_with_an_alert(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    case_id = _queued_case(sessions, store, text="my lips are swelling and I can't breathe")
    model = Model(_response([("acne", 0.95), ("other", 0.05)]))
    pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id)
    rows = _outbox(sessions)
    assert {r.kind for r in rows} == {"patient_result", "clinician_alert"}
    assert all(r.payload["tier"] == "emergency" for r in rows)
    alert = next(r for r in rows if r.kind == "clinician_alert")
    assert alert.chat_id == CLINICIANS and alert.priority == 0


def test_running_twice_stores_one_result_and_one_message(sessions: sessionmaker[Session], store: ImageStore) -> None:
    case_id = _queued_case(sessions, store)
    model = Model(_response([("melanoma", 0.6), ("other", 0.4)]))
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id) == "triaged"
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id) == "skipped"
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id, redelivered=True) == "skipped"
    assert len(model.requests) == 1
    assert [r.dedupe_key for r in _outbox(sessions)] == [f"case:{case_id}:result", f"case:{case_id}:alert"]


def test_a_taken_over_claim_cannot_store_an_outcome(sessions: sessionmaker[Session], store: ImageStore) -> None:
    case_id = _queued_case(sessions, store)
    first = pipeline.claim_case(sessions, case_id, stuck_after_s=600)
    assert first is not None
    assert pipeline.claim_case(sessions, case_id, stuck_after_s=600) is None  # busy, not stale
    second = pipeline.claim_case(sessions, case_id, stuck_after_s=600, takeover=True)  # a redelivered task
    assert second is not None and second != first
    snapshot = pipeline.load_snapshot(sessions, case_id)
    from triage.rules import assess, parse_case

    decision = assess(parse_case(pipeline.triage_input(snapshot, None)))
    assert pipeline.store_outcome(sessions, CONFIG, snapshot, first, None, decision, "") is False
    assert _outbox(sessions) == []
    assert pipeline.store_outcome(sessions, CONFIG, snapshot, second, None, decision, "") is True
    assert len(_outbox(sessions)) == 2


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 500, 503])
def test_model_down_falls_back_to_the_answers_after_bounded_retries(
    sessions: sessionmaker[Session], store: ImageStore, failure: Any
) -> None:
    case_id = _queued_case(sessions, store)
    model = Model(failure)
    assert pipeline.analyze_case(sessions, store, model.client(attempts=3), CONFIG, case_id) == "fallback"
    assert len(model.requests) == 3
    assert model.sleeps == [1.0, 2.0]
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert case.status == CaseStatus.FAILED_MODEL and case.forwarded
        assert case.tier in ("emergency", "urgent", "soon", "routine")
    rows = _outbox(sessions)
    assert {r.kind for r in rows} == {"patient_result", "clinician_alert"}
    assert rows[0].payload["model_used"] is False


def test_a_refused_request_is_not_retried(sessions: sessionmaker[Session], store: ImageStore) -> None:
    case_id = _queued_case(sessions, store)
    model = Model(400)
    assert pipeline.analyze_case(sessions, store, model.client(attempts=3), CONFIG, case_id) == "fallback"
    assert len(model.requests) == 1


def test_a_malformed_model_answer_counts_as_no_answer(sessions: sessionmaker[Session], store: ImageStore) -> None:
    case_id = _queued_case(sessions, store)
    bad = _response([("acne", 0.9)])
    bad["differential"][0]["likelihood"] = 7
    model = Model(bad)
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id) == "fallback"


def test_stuck_cases_are_found_for_requeueing(sessions: sessionmaker[Session], store: ImageStore) -> None:
    fresh = _queued_case(sessions, store, user=1)
    old = _queued_case(sessions, store, user=2)
    with sessions.begin() as session:
        session.execute(update(Case).where(Case.id == old).values(submitted_at=utcnow() - dt.timedelta(hours=1)))
    assert pipeline.requeue_stuck_cases(sessions, stuck_after_s=600) == [old]
    assert fresh != old


def test_the_request_carries_every_canonical_condition(sessions: sessionmaker[Session], store: ImageStore) -> None:
    case_id = _queued_case(sessions, store)
    model = Model(_response([("acne", 0.9), ("other", 0.1)]))
    pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id)
    body = model.requests[0].content.decode("latin-1")
    request = json.loads(body.split('name="request"', 1)[1].split("\r\n\r\n", 1)[1].split("\r\n--", 1)[0])
    from triage.rules import CONDITION_TIERS

    assert set(request["candidates"]) == set(CONDITION_TIERS)
    assert "images" not in request


def test_the_model_reading_the_words_can_add_a_red_flag_never_remove_one(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    text = "there's a weird heaviness in my chest when i go up stairs"  # no rule reads this as breathing trouble
    quote = "heaviness in my chest"
    model = Model(_response([("urticaria", 0.9), ("other", 0.1)]),
                  concepts=[{"key": "difficulty_breathing", "quote": quote, "start": text.index(quote)},
                            {"key": "fever", "quote": "a fever I never mentioned", "start": 0}])  # not in the words
    case_id = _queued_case(sessions, store, text=text)
    assert pipeline.analyze_case(sessions, store, model.client(), CONFIG, case_id) == "triaged"
    assert len(model.concept_requests) == 1
    with sessions() as session:
        case = session.get_one(Case, case_id)
        decision = session.scalar(select(TriageDecision))
        assert decision is not None
        assert case.tier == "emergency"  # difficulty breathing with a rash
        found = {f["concept"]: f for f in decision.findings}
        assert found["difficulty_breathing"]["text"] == quote and found["difficulty_breathing"]["source"] == "model"
        assert "fever" not in found  # a claim without the patient's words behind it is dropped
    # A model that finds nothing takes nothing away: the rules' own reading stands.
    quiet = Model(_response([("urticaria", 0.9), ("other", 0.1)]))
    second = _queued_case(sessions, store, text="my lips are swelling and I can't breathe", user=78)
    pipeline.analyze_case(sessions, store, quiet.client(), CONFIG, second)
    with sessions() as session:
        assert session.get_one(Case, second).tier == "emergency"
