"""The clinician side of the case workflow, as small synchronous functions over a session factory.

Used by the web inbox (`inbox/`) and the Telegram buttons (`bot/clinician.py`), always off the event loop.
Every function takes the acting clinician and checks the organisation here, in one place: a case of another
organisation raises `CaseNotFound`, exactly as a case that does not exist, so ids do not leak. Every read of a
case and every change writes an `AuditEvent` in the same transaction as what it records.

Changes need the case claimed by the acting clinician: claim first (`claim`), then reply, change the tier,
record the outcome, close. An admin may take over a case another clinician holds.

By stage: `access` (vocabularies, errors, the organisation check, the audit row), `reading` (the queue, the case
page), `actions` (claim, reply, tier, outcome, close), `realert` (beat's reminders of unclaimed cases).
"""

from triage.review.access import (
    ALERT_PRIORITY,
    CLAIMABLE,
    DISPOSITIONS,
    MAX_ID,
    MAX_REASON_CHARS,
    MAX_REPLY_CHARS,
    QUEUE_LIMIT,
    REALERT_TIERS,
    SCOPES,
    SOURCES,
    STATUS_FILTERS,
    CaseNotFound,
    InvalidReview,
    ReviewConflict,
    StaleReference,
    audit,
    case_for,
    condition_choices,
    condition_label,
)
from triage.review.actions import ClaimResult, change_tier, claim, close, record_outcome, reply
from triage.review.reading import (
    CaseDetail,
    DecisionView,
    ModelView,
    Queue,
    QueueFilter,
    QueueItem,
    case_detail,
    image_key,
    queue,
)
from triage.review.realert import realert_unclaimed

__all__ = [
    "ALERT_PRIORITY", "CLAIMABLE", "DISPOSITIONS", "MAX_ID", "MAX_REASON_CHARS", "MAX_REPLY_CHARS", "QUEUE_LIMIT",
    "REALERT_TIERS", "SCOPES", "SOURCES", "STATUS_FILTERS", "CaseDetail", "CaseNotFound", "ClaimResult",
    "DecisionView", "InvalidReview", "ModelView", "Queue", "QueueFilter", "QueueItem", "ReviewConflict",
    "StaleReference", "audit", "case_detail", "case_for", "change_tier", "claim", "close", "condition_choices",
    "condition_label", "image_key", "queue", "realert_unclaimed", "record_outcome", "reply",
]
