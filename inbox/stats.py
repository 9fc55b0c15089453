"""The dashboard's numbers for one organisation over a window of days. Synchronous; run off the event loop.

- cases per day and tier (the tier the triage rules gave, by the day the case was submitted);
- median wait from submission to claim, per triage tier;
- agreement of the triage tier with the clinicians: for every case a clinician has decided on (an outcome
  recorded, or the tier changed), the triage tier against the tier the case ended with, as a confusion table
  and a share; the dispositions per triage tier; and how often the model's first condition was the final one;
- the same agreement by skin type (the patient's answer to "how does the skin react to the sun", Fitzpatrick
  I-VI; CLINICAL.md "Skin type"), to see whether the service serves every skin type as well;
- the model answering now (the identity of the latest result) and its evidence record, if any.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from triage import evidence
from triage.accounts import ClinicianView, as_utc
from triage.db import transaction
from triage.evidence import RecordView
from triage.models import Case, CaseStatus, ModelResult, TriageDecision, utcnow
from triage.review import audit
from triage.rules import TIERS

WINDOWS = (7, 14, 30, 90)


@dataclass(frozen=True)
class Dashboard:
    days: list[dt.date]
    per_day: dict[dt.date, dict[str, int]]
    totals: dict[str, int]
    median_wait: dict[str, dt.timedelta | None]
    waits_counted: dict[str, int]
    unclaimed_now: dict[str, int]
    confusion: dict[tuple[str, str], int]
    decided: int
    agreed: int
    dispositions: dict[tuple[str, str], int]
    model_top1: tuple[int, int]  # (matched the final diagnosis, cases with both)
    by_skin_type: dict[str, tuple[int, int]] = field(default_factory=dict)  # skin type -> (agreed, decided)
    model: ModelOnDuty | None = None

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.decided if self.decided else None

    @property
    def model_agreement(self) -> float | None:
        matched, total = self.model_top1
        return matched / total if total else None


@dataclass(frozen=True)
class ModelOnDuty:
    """The model whose answer is the newest, and the evidence record that lets it send benign lesions home."""

    model_id: str
    backend: str
    identity: str
    last_answer: dt.datetime
    record: RecordView | None  # the record that counts now, if any
    records: int  # every record of this identity (revoked or not meeting the thresholds included)


SKIN_TYPES = ("I", "II", "III", "IV", "V", "VI", "not given")


@dataclass(frozen=True)
class _Row:
    id: int
    tier: str | None
    status: str
    submitted: dt.datetime
    claimed_at: dt.datetime | None
    disposition: str | None
    diagnosis: str | None
    overridden: bool
    skin_type: str


def dashboard(
    factory: sessionmaker[Session], actor: ClinicianView, *, days: int = 14, now: dt.datetime | None = None
) -> Dashboard:
    """The dashboard of `actor`'s organisation for the last `days` days (an audit row `dashboard.viewed`)."""
    now = now or utcnow()
    first_day = (now - dt.timedelta(days=days - 1)).date()
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=dt.UTC)
    submitted = func.coalesce(Case.submitted_at, Case.created_at)
    with transaction(factory) as session:
        rows = [
            _Row(r.id, r.tier, r.status, as_utc(r.submitted), r.claimed_at, r.disposition, r.final_diagnosis, r.over,
                 _skin_type(r.answers))
            for r in session.execute(
                select(
                    Case.id,
                    Case.tier,
                    Case.status,
                    submitted.label("submitted"),
                    Case.claimed_at,
                    Case.disposition,
                    Case.final_diagnosis,
                    Case.tier_override_reason.is_not(None).label("over"),
                    Case.answers,
                ).where(
                    Case.organisation == actor.organisation,
                    Case.status != CaseStatus.COLLECTING,
                    submitted >= start,
                )
            )
        ]
        ids = [r.id for r in rows]
        triage_tier = _first_by_case(session, TriageDecision, TriageDecision.tier, ids)
        differentials = _first_by_case(session, ModelResult, ModelResult.differential, ids)
        top1 = {case_id: (d[0].get("condition") if d else None) for case_id, d in differentials.items()}
        audit(session, actor.actor, "dashboard.viewed", days=days)
        latest = session.execute(
            select(ModelResult.model_id, ModelResult.backend, ModelResult.model_identity, ModelResult.created_at)
            .join(Case, Case.id == ModelResult.case_id).where(Case.organisation == actor.organisation)
            .order_by(ModelResult.id.desc()).limit(1)
        ).first()
    summary = _summarise(rows, triage_tier, top1, first_day, days)
    return replace(summary, model=_on_duty(factory, latest) if latest is not None else None)


def _on_duty(factory: sessionmaker[Session], latest: Any) -> ModelOnDuty:
    known = evidence.records(factory, latest.model_identity) if latest.model_identity else []
    counting = next((view for view in known if view.counts), None)
    return ModelOnDuty(latest.model_id, latest.backend, latest.model_identity, as_utc(latest.created_at), counting,
                       len(known))


def _skin_type(answers: Any) -> str:
    value = ((answers or {}).get("patient") or {}).get("skin_type") if isinstance(answers, dict) else None
    return value if value in SKIN_TYPES[:-1] else "not given"


def _first_by_case(
    session: Session, model: type[TriageDecision] | type[ModelResult], column: Any, ids: list[int]
) -> dict[int, Any]:
    """`column` of each case's first `model` row (decisions and results are kept in the order made)."""
    found: dict[int, Any] = {}
    for at in range(0, len(ids), 500):
        stmt = select(model.case_id, column).where(model.case_id.in_(ids[at : at + 500])).order_by(model.id)
        for case_id, value in session.execute(stmt):
            found.setdefault(case_id, value)
    return found


def _summarise(
    rows: list[_Row], triage_tier: dict[int, Any], top1: dict[int, Any], first_day: dt.date, days: int
) -> Dashboard:
    day_list = [first_day + dt.timedelta(days=i) for i in range(days)]
    per_day: dict[dt.date, dict[str, int]] = {d: dict.fromkeys(TIERS, 0) for d in day_list}
    waits: dict[str, list[float]] = defaultdict(list)
    unclaimed: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    dispositions: Counter[tuple[str, str]] = Counter()
    skin_decided: Counter[str] = Counter()
    skin_agreed: Counter[str] = Counter()
    matched = compared = 0
    for row in rows:
        given = str(triage_tier.get(row.id) or row.tier or "")
        if given not in TIERS:
            continue
        day = row.submitted.astimezone(dt.UTC).date()
        if day in per_day:
            per_day[day][given] += 1
        if row.claimed_at is not None:
            waits[given].append((as_utc(row.claimed_at) - row.submitted).total_seconds())
        elif row.status in (CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL):
            unclaimed[given] += 1
        if row.disposition or row.overridden:
            confusion[(given, row.tier or given)] += 1
            skin_decided[row.skin_type] += 1
            skin_agreed[row.skin_type] += int((row.tier or given) == given)
        if row.disposition:
            dispositions[(given, row.disposition)] += 1
        model_first = top1.get(row.id)
        if row.diagnosis and model_first:
            compared += 1
            matched += int(model_first == row.diagnosis)
    decided = sum(confusion.values())
    return Dashboard(
        days=day_list,
        per_day=per_day,
        totals={t: sum(per_day[d][t] for d in day_list) for t in TIERS},
        median_wait={t: dt.timedelta(seconds=statistics.median(waits[t])) if waits[t] else None for t in TIERS},
        waits_counted={t: len(waits[t]) for t in TIERS},
        unclaimed_now={t: unclaimed[t] for t in TIERS},
        confusion=dict(confusion),
        decided=decided,
        agreed=sum(n for (a, b), n in confusion.items() if a == b),
        dispositions=dict(dispositions),
        model_top1=(matched, compared),
        by_skin_type={skin: (skin_agreed[skin], skin_decided[skin]) for skin in SKIN_TYPES},
    )
