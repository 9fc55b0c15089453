"""Pushing closed cases to a FHIR server (`FHIR_SERVER_URL`), once per version of each case.

- `queue_versions` (beat, every `FHIR_PUSH_INTERVAL_S`): for each closed case changed since it was last looked at,
  the version of its bundle (`bundle_version`, a digest). A version not seen before gets a `FhirPush` row and,
  in the same transaction, a dispatch row for the `triage.push_fhir` task (`triage/dispatch.py`); an older
  version still waiting is superseded, so an old version never overwrites a newer one on the server. Pushes whose
  retry is due, or whose worker died mid-push, get a dispatch row for their next attempt.
- `push_one` (worker): claims the row (its `attempts` is the claim's token), checks the case is still at that
  version, builds and posts the transaction. 2xx: pushed. 5xx, 408, 429 or a network failure: tried again after
  `FHIR_PUSH_BACKOFF_S`, doubling, up to `FHIR_PUSH_MAX_ATTEMPTS` tries. Any other 4xx: failed at once, with the
  status and the server's diagnostics kept in the row, for a person to look at.

A push that reached the server but whose outcome was not recorded (the worker died) is sent again: the bundle's
conditional updates (`triage/fhir/bundle.py`) make the second one change nothing but a new `Provenance`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from triage import case_snapshot, dispatch, review
from triage.db import transaction
from triage.fhir.bundle import CONTENT_TYPE, build_bundle, bundle_version
from triage.fhir.validate import InvalidBundle
from triage.images import ImageStore
from triage.models import Case, CaseStatus, FhirPush, FhirPushStatus, utcnow

log = logging.getLogger(__name__)

TASK = "triage.push_fhir"
LEASE_S = 300.0  # a claimed push not finished by then belongs to a dead worker, and is tried again
MAX_BACKOFF_S = 6 * 3600.0


@dataclass(frozen=True)
class PushConfig:
    max_attempts: int = 10
    backoff_s: float = 30.0
    photos: bool = True


@dataclass(frozen=True)
class ServerAnswer:
    status: int
    body: str


class FhirServer:
    """The one way out to the FHIR server: a transaction is a POST of the bundle to the base URL."""

    def __init__(self, base_url: str, *, authorization: str = "", timeout_s: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE}
        if authorization:
            headers["Authorization"] = authorization
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def post_transaction(self, bundle: dict[str, Any]) -> ServerAnswer:
        """POST the bundle. Raises `httpx.HTTPError` subclasses for network trouble (no answer)."""
        response = self._client.post(self.base_url + "/", content=json.dumps(bundle, ensure_ascii=False).encode())
        return ServerAnswer(response.status_code, response.text[:4000])

    def close(self) -> None:
        self._client.close()


def dispatch_key(push_id: int, attempt: int) -> str:
    return f"fhir:{push_id}:{attempt}"


# -- beat: which versions to push ----------------------------------------------------------------------------
def queue_versions(factory: sessionmaker[Session], *, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Add push rows for new versions of closed cases and dispatch rows for due retries. Returns how many
    pushes were queued."""
    now = now or utcnow()
    current = exists().where(FhirPush.case_id == Case.id, FhirPush.seen_at >= Case.updated_at)
    with factory() as session:
        candidates = list(session.scalars(
            select(Case.id).where(Case.status == CaseStatus.CLOSED, ~current).order_by(Case.updated_at).limit(limit)))
    queued = sum(_queue_version(factory, case_id, now) for case_id in candidates)
    return queued + _queue_retries(factory, now)


def _queue_version(factory: sessionmaker[Session], case_id: int, now: dt.datetime) -> int:
    with transaction(factory) as session:
        try:
            snap = case_snapshot.snapshot_of(session, case_id, now=now)
        except review.CaseNotFound:  # erased or no longer closed since the list was made
            return 0
        version = bundle_version(snap)
        seen = session.execute(update(FhirPush).where(FhirPush.case_id == case_id, FhirPush.version == version)
                               .values(seen_at=now))
        if seen.rowcount:  # type: ignore[attr-defined]
            return 0
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        push_id = session.execute(insert(FhirPush).values(
            case_id=case_id, version=version, status=FhirPushStatus.PENDING, attempts=0, next_attempt_at=now,
            seen_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["case_id", "version"]).returning(FhirPush.id)).scalar()
        if push_id is None:  # another scan added it a moment ago
            return 0
        older = (FhirPush.case_id == case_id) & (FhirPush.id != push_id) & (FhirPush.status == FhirPushStatus.PENDING)
        session.execute(update(FhirPush).where(older).values(status=FhirPushStatus.SUPERSEDED))
        dispatch.queue_task(session, TASK, [push_id, 0], dispatch_key(push_id, 0))
        log.info("case %s: FHIR version %s queued (push %s)", case_id, version[:12], push_id)
        return 1


def _queue_retries(factory: sessionmaker[Session], now: dt.datetime) -> int:
    due = or_(and_(FhirPush.status == FhirPushStatus.PENDING, FhirPush.attempts > 0),
              FhirPush.status == FhirPushStatus.PUSHING)
    with transaction(factory) as session:
        rows = list(session.execute(select(FhirPush.id, FhirPush.attempts)
                                    .where(due, FhirPush.next_attempt_at <= now).limit(200)))
        for push_id, attempts in rows:
            dispatch.queue_task(session, TASK, [push_id, attempts], dispatch_key(push_id, attempts))
    return len(rows)


# -- worker: one push ----------------------------------------------------------------------------------------
def _claim(session: Session, push_id: int, now: dt.datetime) -> FhirPush | None:
    row = session.get(FhirPush, push_id)
    if row is None or row.status not in (FhirPushStatus.PENDING, FhirPushStatus.PUSHING) \
            or row.next_attempt_at > now:
        return None
    busy = session.scalar(select(FhirPush.id).where(
        FhirPush.case_id == row.case_id, FhirPush.id != row.id, FhirPush.status == FhirPushStatus.PUSHING,
        FhirPush.next_attempt_at > now).limit(1))
    if busy is not None:  # an earlier version is on its way: this one goes after it
        return None
    claimed = session.execute(
        update(FhirPush).where(FhirPush.id == row.id, FhirPush.status == row.status,
                               FhirPush.attempts == row.attempts)
        .values(status=FhirPushStatus.PUSHING, attempts=row.attempts + 1,
                next_attempt_at=now + dt.timedelta(seconds=LEASE_S))
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(row)
    return row


def _finish(factory: sessionmaker[Session], push_id: int, attempt: int, **values: Any) -> None:
    with transaction(factory) as session:
        session.execute(update(FhirPush).where(FhirPush.id == push_id, FhirPush.attempts == attempt,
                                               FhirPush.status == FhirPushStatus.PUSHING).values(**values))


def _retry_values(attempt: int, config: PushConfig, now: dt.datetime, error: str, status: int | None) -> dict[str, Any]:
    if attempt >= config.max_attempts:
        return {"status": FhirPushStatus.FAILED, "last_error": f"gave up after {attempt} tries: {error}"[:500],
                "last_status": status}
    delay = min(MAX_BACKOFF_S, config.backoff_s * 2 ** (attempt - 1))
    return {"status": FhirPushStatus.PENDING, "next_attempt_at": now + dt.timedelta(seconds=delay),
            "last_error": error[:500], "last_status": status}


def _diagnostics(body: str) -> str:
    """The server's own words about a refusal: an OperationOutcome's diagnostics, else the start of the body."""
    try:
        outcome = json.loads(body)
        issues = outcome.get("issue", []) if isinstance(outcome, dict) else []
        words = [str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code", ""))
                 for i in issues if isinstance(i, dict)]
        if any(words):
            return "; ".join(w for w in words if w)
    except (ValueError, AttributeError):
        pass
    return " ".join(body.split())[:300]


def push_one(factory: sessionmaker[Session], images: ImageStore, server: FhirServer, push_id: int,
             config: PushConfig, *, now: dt.datetime | None = None) -> str:
    """Push one version of a case. Returns the outcome: `pushed`, `retry`, `failed`, `superseded` or
    `skipped` (not due, already done, or claimed by another run)."""
    now = now or utcnow()
    with transaction(factory) as session:
        row = _claim(session, push_id, now)
        if row is None:
            return "skipped"
        case_id, version, attempt = row.case_id, row.version, row.attempts
    try:
        snap = case_snapshot.for_system(factory, case_id, actor="worker", action="case.exported", format="fhir",
                                        via="push", push_id=push_id)
    except review.CaseNotFound:
        _finish(factory, push_id, attempt, status=FhirPushStatus.FAILED, last_error="the case is gone")
        return "failed"
    if bundle_version(snap) != version:  # changed since it was queued: the next scan queues the new version
        _finish(factory, push_id, attempt, status=FhirPushStatus.SUPERSEDED)
        return "superseded"
    if config.photos:
        snap = case_snapshot.with_photo_data(snap, images)
    try:
        bundle = build_bundle(snap, photos=config.photos)
    except InvalidBundle as exc:
        log.error("case %s: push %s: the bundle is not valid FHIR (%s)", case_id, push_id, exc)
        _finish(factory, push_id, attempt, status=FhirPushStatus.FAILED, last_error=f"invalid bundle: {exc}"[:500])
        return "failed"
    try:
        answer = server.post_transaction(bundle)
    except httpx.HTTPError as exc:
        log.warning("case %s: push %s attempt %s: no answer (%s)", case_id, push_id, attempt, type(exc).__name__)
        _finish(factory, push_id, attempt, **_retry_values(attempt, config, utcnow(), type(exc).__name__, None))
        return "retry"
    if 200 <= answer.status < 300:
        _finish(factory, push_id, attempt, status=FhirPushStatus.PUSHED, pushed_at=utcnow(),
                last_status=answer.status, last_error=None)
        log.info("case %s: push %s: pushed (%s)", case_id, push_id, answer.status)
        return "pushed"
    error = f"HTTP {answer.status}: {_diagnostics(answer.body)}"
    if answer.status in (408, 429) or answer.status >= 500:
        log.warning("case %s: push %s attempt %s: HTTP %s, trying again later", case_id, push_id, attempt,
                    answer.status)
        _finish(factory, push_id, attempt, **_retry_values(attempt, config, utcnow(), error, answer.status))
        return "retry"
    log.error("case %s: push %s: refused with HTTP %s; not retried", case_id, push_id, answer.status)
    _finish(factory, push_id, attempt, status=FhirPushStatus.FAILED, last_status=answer.status,
            last_error=error[:500])
    return "failed"
