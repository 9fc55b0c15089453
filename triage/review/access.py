"""What every clinician action shares: the vocabularies, the errors, the audit row, and the one organisation
check (`case_for`): a case of another organisation raises `CaseNotFound`, exactly as a case that does not
exist, so ids do not leak."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session

from triage.accounts import ClinicianView, as_utc
from triage.models import AuditEvent, Case, CaseStatus, Clinician
from triage.rules import CONDITION_TIERS, TIERS

DISPOSITIONS: dict[str, str] = {
    "seen_in_clinic": "seen in clinic",
    "referred": "referred",
    "advice_given": "advice given",
    "no_action": "no action needed",
}
CLAIMABLE = (CaseStatus.TRIAGED, CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL)
#: The queue's status filter: which case statuses each choice shows.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": (CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL, CaseStatus.CLAIMED),
    "closed": (CaseStatus.CLOSED,),
    "all": tuple(s for s in CaseStatus if s != CaseStatus.COLLECTING),
}
SCOPES = ("all", "mine", "unclaimed")
SOURCES = ("all", "patients", "health_workers")  # who sent the case: the patient, or a health worker for them
REALERT_TIERS = ("emergency", "urgent")
ALERT_PRIORITY = {"emergency": 0, "urgent": 1}
MAX_REPLY_CHARS = 3000
MAX_REASON_CHARS = 1000
QUEUE_LIMIT = 200
MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger one cannot exist (and PostgreSQL would refuse it)


class CaseNotFound(LookupError):
    """No such case for this clinician: it does not exist or belongs to another organisation."""


class StaleReference(LookupError):
    """A button or link names the case by number and a reference that is not the case's own: it was made for a
    case that is no longer there (erased), so it must not act on whatever case now has that number."""


class ReviewConflict(Exception):
    """The case's state does not allow this now (closed, claimed by someone else); the message says why."""


class InvalidReview(ValueError):
    """A field is missing or not in its vocabulary; the message says which and what is allowed."""



def audit(session: Session, actor: str, action: str, case_id: int | None = None, **details: Any) -> None:
    """Add one audit row (audit rows are only ever inserted)."""
    session.add(AuditEvent(actor=actor, action=action, case_id=case_id, details=details))


def condition_label(key: str) -> str:
    """The readable name of a condition key of CLINICAL.md (the key itself if it has none)."""
    from triage.rules import vocabulary

    info = getattr(vocabulary, "CONDITIONS_BY_KEY", {}).get(key)
    return str(getattr(info, "label", key)) if info is not None else key


def condition_choices() -> list[tuple[str, str, str]]:
    """(key, label, default tier) of every condition key, most urgent tier first, then by label."""
    rank = {tier: i for i, tier in enumerate(TIERS)}
    rows = [(key, condition_label(key), tier) for key, tier in CONDITION_TIERS.items()]
    return sorted(rows, key=lambda r: (rank.get(r[2], 99), r[0] == "other", r[1].lower()))


def tier_order() -> Any:
    return case({tier: i for i, tier in enumerate(TIERS)}, value=Case.tier, else_=len(TIERS))


def submitted(case_row: Case) -> dt.datetime:
    return as_utc(case_row.submitted_at or case_row.created_at)


def maybe_utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


def case_for(
    session: Session, actor: ClinicianView, case_id: int, *, lock: bool = False, ref: str | None = None
) -> Case:
    """The case if `actor` may see it; `CaseNotFound` for a missing case, another organisation's, or one the
    patient never sent (being collected, or withdrawn before sending: the words typed so far are theirs alone).
    With `ref` (from a button or link), `StaleReference` when it is not this case's reference."""
    if not 0 < case_id <= MAX_ID:
        raise CaseNotFound(case_id)
    query: Select[Case] = select(Case).where(Case.id == case_id, Case.organisation == actor.organisation)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None or found.submitted_at is None or found.status == CaseStatus.COLLECTING:
        raise CaseNotFound(case_id)
    if ref is not None and not hmac.compare_digest(ref.encode(), found.public_ref.encode()):
        raise StaleReference(case_id)
    return found


def clinician_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Clinician.id, Clinician.display_name).where(Clinician.id.in_(ids)))
    return {row.id: row.display_name for row in rows}


def held(session: Session, actor: ClinicianView, case_id: int) -> Case:
    """The case, locked, if `actor` holds it and it is open; otherwise `ReviewConflict` saying why."""
    found = case_for(session, actor, case_id, lock=True)
    if found.status == CaseStatus.CLOSED:
        raise ReviewConflict("the case is closed")
    if found.status == CaseStatus.WITHDRAWN:
        raise ReviewConflict("the patient withdrew the case")
    if found.assigned_clinician_id != actor.id:
        if found.assigned_clinician_id is None:
            raise ReviewConflict("claim the case first")
        holder = clinician_names(session, {found.assigned_clinician_id}).get(found.assigned_clinician_id,
                                                                             "someone else")
        raise ReviewConflict(f"the case is claimed by {holder}")
    return found


def clean_text(value: str, *, name: str, limit: int) -> str:
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise InvalidReview(f"the {name} is empty")
    if len(value) > limit:
        raise InvalidReview(f"the {name} is longer than {limit} characters")
    return value

