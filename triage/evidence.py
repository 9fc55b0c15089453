"""Evidence records: whether the running model has earned the right to send a benign lesion home.

CLINICAL.md, "Lesions: self-care needs evidence": a case whose top condition is a benign lesion may end in
`self_care` only when the running model (its identity: model, weights, backend, quantization) has an evaluation on
labelled lesion cases meeting the thresholds. `python -m triage.evaluate ... --record` stores such an evaluation
here, for the identity digest the model server reported; the worker asks `validating_record` for the identity of
each answer and passes `model.lesion_discharge_validated` to the rules only when a record counts. The figures are
checked again against the thresholds every time (`triage.evaluate.evidence`), so a stored record can never count
for more than its numbers show. Recording and revoking are audited.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage.db import transaction
from triage.evaluate.evidence import LesionEvidence, lesion_discharge_verdict
from triage.models import AuditEvent, EvidenceRecord, utcnow

CACHE_S = 30.0  # how long a worker trusts what it read about an identity (a revocation counts within this)


class EvidenceError(ValueError):
    """A record cannot be stored or changed as asked; the message says why."""


@dataclass(frozen=True)
class RecordView:
    id: int
    identity: str
    model_id: str
    backend: str
    quantization: str
    dataset: str
    split: str
    ruleset_version: str
    figures: dict[str, Any]
    meets: bool
    reasons: tuple[str, ...]
    recorded_by: str
    recorded_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revoke_reason: str | None

    @property
    def counts(self) -> bool:
        """Whether this record lets a benign lesion end in self-care now."""
        return self.meets and self.revoked_at is None


def _verdict(figures: Mapping[str, Any]) -> tuple[bool, tuple[str, ...]]:
    try:
        counts = figures["counts"]
        evidence = LesionEvidence(**{name: int(counts[name]) for name in LesionEvidence.__dataclass_fields__})
    except (KeyError, TypeError, ValueError):
        return False, ("the stored figures are incomplete",)
    verdict = lesion_discharge_verdict(evidence)
    return verdict.met, verdict.reasons


def _view(row: EvidenceRecord) -> RecordView:
    meets, reasons = _verdict(row.figures)
    return RecordView(row.id, row.identity, row.model_id, row.backend, row.quantization, row.dataset, row.split,
                      row.ruleset_version, dict(row.figures), meets and row.meets, reasons, row.recorded_by,
                      row.recorded_at, row.revoked_at, row.revoked_by, row.revoke_reason)


def record(
    factory: sessionmaker[Session], *, identity: Mapping[str, Any], dataset: str, split: str, ruleset_version: str,
    figures: Mapping[str, Any], recorded_by: str,
) -> RecordView:
    """Store an evaluation of the model `identity` (the model server's identity object) and audit it."""
    digest = str(identity.get("identity") or "")
    if len(digest) < 16:
        raise EvidenceError("the model server reported no identity: an evaluation can only be recorded for a "
                            "model that says exactly what it is")
    if not recorded_by.strip():
        raise EvidenceError("say who ran the evaluation (--recorded-by)")
    meets, _ = _verdict(figures)
    with transaction(factory) as session:
        row = EvidenceRecord(
            identity=digest, model_id=str(identity.get("model_id", ""))[:256],
            backend=str(identity.get("backend", ""))[:32], quantization=str(identity.get("quantization", "none"))[:8],
            weights_sha256=str(identity.get("weights_sha256", ""))[:64], dataset=dataset[:200], split=split[:16],
            ruleset_version=ruleset_version[:32], figures=dict(figures), meets=meets,
            recorded_by=recorded_by.strip()[:128], recorded_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.add(AuditEvent(actor=f"cli:{row.recorded_by}", action="evidence.recorded",
                               details={"record": row.id, "identity": digest, "meets": meets}))
        return _view(row)


def revoke(factory: sessionmaker[Session], record_id: int, *, by: str, reason: str) -> RecordView:
    """Revoke a record: from now on it lets nothing end in self-care. Audited. Raises EvidenceError."""
    if not reason.strip():
        raise EvidenceError("give the reason for revoking")
    with transaction(factory) as session:
        row = session.get(EvidenceRecord, record_id)
        if row is None:
            raise EvidenceError(f"there is no evidence record {record_id}")
        if row.revoked_at is not None:
            raise EvidenceError(f"evidence record {record_id} is already revoked")
        row.revoked_at, row.revoked_by, row.revoke_reason = utcnow(), by.strip()[:128], reason.strip()[:1000]
        session.add(AuditEvent(actor=f"cli:{row.revoked_by}", action="evidence.revoked",
                               details={"record": row.id, "identity": row.identity}))
        return _view(row)


def records(factory: sessionmaker[Session], identity: str | None = None) -> list[RecordView]:
    """Every record (of one identity), newest first."""
    with factory() as session:
        query = select(EvidenceRecord).order_by(EvidenceRecord.id.desc())
        if identity is not None:
            query = query.where(EvidenceRecord.identity == identity)
        return [_view(row) for row in session.scalars(query)]


def validating_record(factory: sessionmaker[Session], identity: str) -> RecordView | None:
    """The newest record of `identity` that lets a benign lesion end in self-care, or None."""
    if not identity:
        return None
    return next((view for view in records(factory, identity) if view.counts), None)


class EvidenceCache:
    """`validating_record` remembered for CACHE_S per identity: one query per identity and half-minute in a
    worker, not one per case. A revocation counts within CACHE_S."""

    def __init__(self, factory: sessionmaker[Session], ttl_s: float = CACHE_S) -> None:
        self._factory = factory
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, int | None]] = {}

    def record_id(self, identity: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            cached = self._known.get(identity)
            if cached is not None and now - cached[0] < self._ttl:
                return cached[1]
        view = validating_record(self._factory, identity)
        found = view.id if view is not None else None
        with self._lock:
            self._known[identity] = (now, found)
        return found
