"""Celery tasks. Each takes ids, builds nothing at import time, and is safe to run twice."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from celery import Task, shared_task
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy import select, update
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import Session, sessionmaker

from triage import dispatch, followup, lesion_visits, pipeline, review, tracking
from triage.config import Settings
from triage.db import make_engine, make_sessionmaker, transaction
from triage.evidence import EvidenceCache
from triage.fhir import push as fhir_push
from triage.images import ImageStore, load_keys
from triage.model_client import ModelClient
from triage.models import AuditEvent, CaseImage, utcnow

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """What the tasks of one worker process share: made on first use in that process, not at import."""

    settings: Settings

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(make_engine(self.settings.resolved_database_url, pool_size=2))

    @cached_property
    def images(self) -> ImageStore:
        keys = load_keys(self.settings.image_encryption_keys, self.settings.key_file)
        return ImageStore(self.settings.image_dir, keys)

    @cached_property
    def model(self) -> ModelClient:
        s = self.settings
        return ModelClient(
            s.model_server_url,
            timeout_s=s.model_timeout_s,
            max_attempts=s.model_max_attempts,
            backoff_s=s.model_retry_backoff_s,
        )

    @cached_property
    def evidence(self) -> EvidenceCache:
        return EvidenceCache(self.sessions)

    @cached_property
    def fhir_server(self) -> fhir_push.FhirServer:
        s = self.settings
        return fhir_push.FhirServer(s.fhir_server_url, authorization=s.fhir_server_authorization,
                                    timeout_s=s.fhir_timeout_s)

    @cached_property
    def pipeline_config(self) -> pipeline.PipelineConfig:
        return pipeline.PipelineConfig(
            clinician_chat_id=self.settings.clinician_chat_id, stuck_after_s=self.settings.stuck_case_after_s,
            evidence=self.evidence.record_id, coin_diameter_mm=self.settings.lesion_coin_diameter_mm,
        )


class CaseTask(Task):  # type: ignore[misc]
    _resources: Resources | None = None

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            type(self)._resources = Resources(self.app.conf.triage_settings)
        assert self._resources is not None
        return self._resources


# A database or broker that is away for a moment: the task is tried again with backoff, not acknowledged as done.
TRANSIENT = (OperationalError, InterfaceError, DisconnectionError, SATimeoutError, KombuOperationalError,
             ConnectionError)
# An analysis that failed outright this many times (a bug, not a passing fault) is run on the answers alone.
FAILURES_BEFORE_ANSWERS_ALONE = 2
RETRY = {"autoretry_for": TRANSIENT, "retry_backoff": 1, "retry_backoff_max": 30, "retry_jitter": False,
         "max_retries": 40}


def _redelivered(task: Task) -> bool:
    return bool((task.request.delivery_info or {}).get("redelivered"))


def _start(task: CaseTask, key: str) -> dispatch.Run | None:
    """Hold the task's dispatch row for this attempt (`dispatch.start`). Each attempt is named after the message
    id and the retry number, so two attempts never share a name (it fences the row's later writes), and a retry
    can take over the row its previous attempt could not let go of."""
    request_id, retries = task.request.id, int(task.request.retries or 0)

    def name(retry: int) -> str:  # a uuid, as the row's runner column holds
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{request_id}:{retry}"))

    runner = previous = None
    if request_id is not None:  # None: called directly (tests, a shell)
        runner, previous = name(retries), (name(retries - 1) if retries else None)
    return dispatch.start(task.resources.sessions, key, redelivered=_redelivered(task), runner=runner,
                          previous_attempt=previous)


def _held(task: CaseTask, key: str, run: dispatch.Run) -> AbstractContextManager[None]:
    """Hold the row while the task runs (`dispatch.heartbeat`); a failure that is not a passing fault (TRANSIENT)
    is counted on it."""
    return dispatch.heartbeat(task.resources.sessions, key, run, passing=TRANSIENT)


@shared_task(bind=True, base=CaseTask, name="triage.analyze_case", acks_late=True, **RETRY)
def analyze_case(self: CaseTask, case_id: int) -> str:
    """Analyse one queued case end to end (see `triage.pipeline.analyze_case`).

    Its dispatch row (`triage.dispatch`) is held with a heartbeat while it runs: a run that dies is noticed within
    seconds and sent again, and the new run takes the case over. A retry after a transient fault takes over its
    own earlier attempt's claim. A run that fails outright (a bug) is sent again with growing waits, and after
    FAILURES_BEFORE_ANSWERS_ALONE such failures the case is triaged on the patient's answers alone.
    """
    res = self.resources
    key = dispatch.analyze_key(int(case_id))
    run = _start(self, key)
    if run is None:
        log.info("case %s: analysis already done or running elsewhere", case_id)
        return "skipped"
    takeover = _redelivered(self) or run.takeover or self.request.retries > 0
    use_model = run.failures < FAILURES_BEFORE_ANSWERS_ALONE
    if not use_model:  # the patient is answered now rather than when the bug is fixed
        log.error("case %s: its analysis failed %d times; triaging it on the answers alone", case_id, run.failures)
    with _held(self, key, run):
        outcome = pipeline.analyze_case(
            res.sessions, res.images, res.model, res.pipeline_config, int(case_id), redelivered=takeover,
            use_model=use_model,
        )
    log.info("case %s: %s", case_id, outcome)
    return outcome


@shared_task(bind=True, base=CaseTask, name="triage.answer_question", acks_late=True, **RETRY)
def answer_question(self: CaseTask, case_id: int, message_id: int) -> str:
    """Answer a patient's follow-up question about their case (see `triage.followup`)."""
    res = self.resources
    key = dispatch.answer_key(int(message_id))
    run = _start(self, key)
    if run is None:
        return "skipped"
    with _held(self, key, run):
        outcome = followup.answer_followup(res.sessions, res.images, res.model, res.pipeline_config, int(case_id),
                                           int(message_id))
    log.info("case %s: follow-up %s %s", case_id, message_id, outcome)
    return outcome


@shared_task(bind=True, base=CaseTask, name="triage.dispatch_tasks")
def dispatch_tasks(self: CaseTask) -> int:
    """Send the tasks committed changes need and nobody sent (the web process was down, the broker lost them, a
    worker died holding one). The web process does this at once; beat does it every few seconds as a backstop."""
    app = self.app

    def publish(task: str, args: list[Any]) -> None:
        app.send_task(task, args=args)

    sent = dispatch.publish_due(self.resources.sessions, publish)
    if sent:
        log.info("dispatched %s task(s)", sent)
    return sent


@shared_task(bind=True, base=CaseTask, name="triage.recover_stuck_cases")
def recover_stuck_cases(self: CaseTask) -> list[int]:
    """Send again the cases that sat queued or analyzing too long (a lost message, a dead worker)."""
    res = self.resources
    ids = pipeline.requeue_stuck_cases(res.sessions, stuck_after_s=res.settings.stuck_case_after_s)
    for case_id in ids:
        log.warning("case %s: stuck; sending it to the queue again", case_id)
        analyze_case.apply_async(args=[case_id])
    return ids


@shared_task(bind=True, base=CaseTask, name="triage.realert_unclaimed")
def realert_unclaimed(self: CaseTask) -> list[int]:
    """Alert the clinicians again about urgent and emergency cases nobody has claimed in time."""
    res = self.resources
    ids = review.realert_unclaimed(
        res.sessions, chat_id=res.settings.clinician_chat_id, after_s=res.settings.realert_unclaimed_after_s
    )
    for case_id in ids:
        log.warning("case %s: still unclaimed; alerting the clinicians again", case_id)
    return ids


@shared_task(bind=True, base=CaseTask, name="triage.queue_fhir_pushes")
def queue_fhir_pushes(self: CaseTask) -> int:
    """Queue a push for every new version of a closed case, and the retries that are due (`triage/fhir/push.py`).
    Nothing when `FHIR_SERVER_URL` is not set."""
    res = self.resources
    if not res.settings.fhir_server_url:
        return 0
    return fhir_push.queue_versions(res.sessions)


@shared_task(bind=True, base=CaseTask, name=fhir_push.TASK, acks_late=True, **RETRY)
def push_fhir(self: CaseTask, push_id: int, attempt: int) -> str:
    """Push one version of a case to the FHIR server; its dispatch row is this attempt's."""
    res = self.resources
    if not res.settings.fhir_server_url:
        return "skipped"
    key = fhir_push.dispatch_key(int(push_id), int(attempt))
    run = _start(self, key)
    if run is None:
        return "skipped"
    s = res.settings
    config = fhir_push.PushConfig(max_attempts=s.fhir_push_max_attempts, backoff_s=s.fhir_push_backoff_s,
                                  photos=s.fhir_push_photos)
    with _held(self, key, run):
        outcome = fhir_push.push_one(res.sessions, res.images, res.fhir_server, int(push_id), config)
    log.info("FHIR push %s: %s", push_id, outcome)
    return outcome


@shared_task(bind=True, base=CaseTask, name="triage.remind_tracked_lesions")
def remind_tracked_lesions(self: CaseTask) -> list[int]:
    """Queue a reminder for every followed lesion whose next photo is due (`triage.tracking`): once per due time."""
    ids = tracking.queue_due_reminders(self.resources.sessions)
    if ids:
        log.info("reminded %s tracked lesion(s) of their next photo", len(ids))
    return ids


@shared_task(bind=True, base=CaseTask, name=tracking.MEASURE_TASK, acks_late=True, **RETRY)
def measure_lesion_visit(self: CaseTask, case_id: int) -> str:
    """Measure the photos of a lesion's first visit as soon as it is followed, so that the measurement is kept
    (`triage.lesion_visits`) whatever happens to the photos later."""
    res = self.resources
    key = tracking.measure_key(int(case_id))
    run = _start(self, key)
    if run is None:
        return "skipped"
    with _held(self, key, run):
        record = lesion_visits.stored_or_measured(res.sessions, res.images, int(case_id),
                                                  res.settings.lesion_coin_diameter_mm)
    outcome = "none" if record is None else str(record.get("problem") or "measured")
    log.info("case %s: first visit of a tracked lesion: %s", case_id, outcome)
    return outcome


@shared_task(bind=True, base=CaseTask, name="triage.purge_expired_images")
def purge_expired_images(self: CaseTask) -> int:
    """Delete image files older than the retention period; the rows keep hashes and sizes only."""
    res = self.resources
    cutoff = utcnow() - dt.timedelta(days=res.settings.retention_days)
    return purge_images_before(res.sessions, res.images, cutoff)


def purge_images_before(factory: sessionmaker[Session], store: ImageStore, cutoff: dt.datetime) -> int:
    """Delete the files of photos taken before `cutoff`, except those of a lesion still followed (they are its
    earlier visits: `tracking.kept_photo_cases`). Returns how many were deleted."""
    with factory() as session:
        rows: list[Any] = list(
            session.execute(
                select(CaseImage.id, CaseImage.storage_key, CaseImage.case_id).where(
                    CaseImage.created_at < cutoff, CaseImage.deleted_at.is_(None),
                    CaseImage.case_id.not_in(tracking.kept_photo_cases()),
                )
            )
        )
    for row in rows:
        store.delete(row.storage_key)
        with transaction(factory) as session:
            session.execute(update(CaseImage).where(CaseImage.id == row.id).values(deleted_at=utcnow()))
            session.add(AuditEvent(actor="beat", action="image.purged", case_id=row.case_id, details={}))
    return len(rows)
