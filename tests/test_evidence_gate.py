"""The evidence gate on both databases: a benign lesion ends in self-care only when the very model that assessed it
(its identity digest) has an evaluation record that meets CLINICAL.md's thresholds and nobody revoked; otherwise a
clinician confirms. Recording and revoking go through the real commands."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from triage import evidence, pipeline
from triage.images import ImageStore
from triage.model_client import ModelClient
from triage.models import AuditEvent, Case, EvidenceRecord, Outbox, TriageDecision

IDENTITY = {"identity": "a" * 64, "model_id": "derm-model", "backend": "hf", "quantization": "4bit",
            "weights_sha256": "b" * 64, "weights_hashed": True}
MEETS = {"counts": {"lesion_cases": 300, "malignant_cases": 40, "malignant_caught": 39, "self_care_cases": 100,
                    "self_care_benign": 100, "errored_cases": 0, "cases_without_model": 0, "models": 1}}
BELOW = {"counts": {**MEETS["counts"], "malignant_caught": 30}}  # 75 %: not enough


def _model(identity: dict[str, Any] | None = IDENTITY) -> ModelClient:
    body = {"differential": [{"condition": "melanocytic_nevus", "likelihood": 0.85},
                             {"condition": "other", "likelihood": 0.15}],
            "findings": [], "image_quality": ["good"], "answer": "", "language": "en", "backend": "hf",
            "model_id": "derm-model", "identity": identity, "timings": {}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body if request.url.path == "/v1/analyze" else {"concepts": []})

    return ModelClient("http://model.test", timeout_s=5, max_attempts=1, backoff_s=0,
                       transport=httpx.MockTransport(answer))


def _config(sessions: sessionmaker[Session]) -> pipeline.PipelineConfig:
    cache = evidence.EvidenceCache(sessions, ttl_s=0)  # every case asks again: a revocation counts at once
    return pipeline.PipelineConfig(clinician_chat_id=-5, stuck_after_s=600, evidence=cache.record_id)


def _decide(sessions: sessionmaker[Session], store: ImageStore, user: int, *, answers: dict[str, Any] | None = None,
            identity: dict[str, Any] | None = IDENTITY) -> tuple[Case, TriageDecision]:
    case_id = make_case(sessions, store, user=user, text="", answers=answers)
    assert pipeline.analyze_case(sessions, store, _model(identity), _config(sessions), case_id) == "triaged"
    with sessions() as session:
        case = session.get_one(Case, case_id)
        decision = session.scalars(select(TriageDecision).where(TriageDecision.case_id == case_id)).one()
        session.expunge_all()
        return case, decision


def _record(sessions: sessionmaker[Session], figures: dict[str, Any], identity: dict[str, Any] = IDENTITY) -> int:
    return evidence.record(sessions, identity=identity, dataset="pad-ufes-20", split="holdout",
                           ruleset_version="2026.12.0", figures=figures, recorded_by="tester").id


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", [Fernet.generate_key()])


def test_without_a_record_a_benign_mole_goes_to_a_clinician_who_confirms(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    case, decision = _decide(sessions, store, 1)
    assert (case.tier, case.forwarded) == ("routine", True)
    assert "lesion.benign_unvalidated_model" in [r["code"] for r in decision.reasons]
    assert decision.evidence_record_id is None
    with sessions() as session:
        result = session.scalars(select(Outbox).where(Outbox.kind == "patient_result")).one()
        assert result.payload["forwarded"] is True  # the patient is told a clinician will confirm


def test_a_record_below_the_thresholds_or_for_another_model_does_not_count(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    _record(sessions, BELOW)
    assert _decide(sessions, store, 2)[0].tier == "routine"
    _record(sessions, MEETS, identity={**IDENTITY, "identity": "c" * 64})  # another model (or its 8-bit version)
    assert _decide(sessions, store, 3)[0].tier == "routine"
    assert _decide(sessions, store, 4, identity=None)[0].tier == "routine"  # a model that does not say what it is


def test_a_record_that_meets_the_thresholds_lets_a_benign_mole_go_home_until_it_is_revoked(
    sessions: sessionmaker[Session], store: ImageStore
) -> None:
    record_id = _record(sessions, MEETS)
    case, decision = _decide(sessions, store, 5)
    assert (case.tier, case.forwarded) == ("self_care", False)
    assert decision.evidence_record_id == record_id
    # Unknown is not no: a skipped change or bleeding question keeps the lesion with a clinician even so.
    skipped = {"patient": {"age_years": 40}, "answers": {"symptoms": [], "skipped": ["bleeding"]}}
    assert _decide(sessions, store, 6, answers=skipped)[0].tier == "routine"
    evidence.revoke(sessions, record_id, by="Dr Audit", reason="weights replaced")
    assert _decide(sessions, store, 7)[0].tier == "routine"
    with sessions() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("evidence.%"))).all()
    assert actions == ["evidence.recorded", "evidence.revoked"]
    with pytest.raises(evidence.EvidenceError, match="already revoked"):
        evidence.revoke(sessions, record_id, by="x", reason="again")


def test_a_stored_record_counts_only_as_far_as_its_figures_show(sessions: sessionmaker[Session]) -> None:
    record_id = _record(sessions, MEETS)
    with sessions.begin() as session:  # someone edits the row by hand to make a weak model look good
        row = session.get_one(EvidenceRecord, record_id)
        row.figures = BELOW
    assert evidence.validating_record(sessions, IDENTITY["identity"]) is None


def test_the_inbox_command_lists_and_revokes_records(sessions: sessionmaker[Session],
                                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from inbox.cli import main

    record_id = _record(sessions, MEETS)
    monkeypatch.setenv("DATABASE_URL", str(sessions.kw["bind"].url.render_as_string(hide_password=False)))
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["list-evidence"], out=out) == 0
    assert f"{record_id}\t{'a' * 12}\tderm-model\thf/4bit\tholdout" in out.getvalue()
    assert "counts" in out.getvalue()
    out = io.StringIO()
    assert main(["revoke-evidence", "--id", str(record_id), "--by", "Dr A", "--reason", "retrained"], out=out) == 0
    assert "no longer sends benign lesions home" in out.getvalue()
    assert main(["revoke-evidence", "--id", "9999", "--by", "Dr A", "--reason", "x"], out=io.StringIO()) == 1
    assert evidence.validating_record(sessions, IDENTITY["identity"]) is None


def test_a_model_without_an_identity_cannot_be_recorded(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(evidence.EvidenceError, match="no identity"):
        _record(sessions, MEETS, identity={"model_id": "x"})
    with pytest.raises(evidence.EvidenceError, match="who ran"):
        evidence.record(sessions, identity=IDENTITY, dataset="d", split="all", ruleset_version="v", figures=MEETS,
                        recorded_by=" ")
