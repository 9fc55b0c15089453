"""The Celery side of lesion tracking, run in-process by a Celery app made as the worker and beat make theirs
(`triage.celery_app.create_celery`), on a real database: the beat job that queues reminders, and the task that
measures a lesion's first visit as soon as it is followed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.tracking_world import COIN_MM, followed
from triage import tasks, tracking
from triage.celery_app import celery_config, create_celery
from triage.config import Settings, load_settings
from triage.db import transaction
from triage.images import ImageStore
from triage.models import Case, Outbox, TaskDispatch, TrackedLesion, utcnow


@pytest.fixture
def settings(database_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> Settings:
    return load_settings({"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url,
                          "IMAGE_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                          "LESION_COIN_DIAMETER_MM": str(COIN_MM), "LESION_REMINDER_INTERVAL_S": "120"})


@pytest.fixture
def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    celery = create_celery(settings)
    for name in ("triage.remind_tracked_lesions", tracking.MEASURE_TASK):  # resources are cached per task class
        monkeypatch.setattr(type(celery.tasks[name]), "_resources", None)
    yield celery
    for name in ("triage.remind_tracked_lesions", tracking.MEASURE_TASK):
        type(celery.tasks[name])._resources = None


def _store(settings: Settings) -> ImageStore:
    return ImageStore(settings.image_dir, [settings.image_encryption_keys.encode()])


def test_beat_runs_the_reminders_at_the_configured_interval(settings: Settings) -> None:
    schedule = celery_config(settings)["beat_schedule"]["remind-tracked-lesions"]
    assert schedule == {"task": "triage.remind_tracked_lesions", "schedule": 120.0}


def test_the_beat_task_queues_due_reminders_once(app: object, settings: Settings,
                                                 sessions: sessionmaker[Session]) -> None:
    _, _, lesion_id = followed(sessions, _store(settings), user=901, at=utcnow() - dt.timedelta(days=100))
    task = app.tasks["triage.remind_tracked_lesions"]  # type: ignore[attr-defined]
    assert task.apply().get() == [lesion_id]
    assert task.apply().get() == []  # the next beat run
    with sessions() as session:
        assert len(session.scalars(select(Outbox).where(Outbox.kind == "lesion_reminder")).all()) == 1


def test_following_a_lesion_has_a_worker_measure_its_first_photo(app: object, settings: Settings,
                                                                 sessions: sessionmaker[Session]) -> None:
    _, case_id, _ = followed(sessions, _store(settings), user=902)
    with sessions() as session:
        dispatch = session.scalars(select(TaskDispatch).where(TaskDispatch.dedupe_key == f"measure:{case_id}")).one()
        assert dispatch.task == tracking.MEASURE_TASK and dispatch.args == [case_id]
        assert session.get_one(Case, case_id).lesion_measurement is None
    task = app.tasks[tracking.MEASURE_TASK]  # type: ignore[attr-defined]
    assert task.apply(args=[case_id]).get() == "measured"
    with sessions() as session:
        record = session.get_one(Case, case_id).lesion_measurement
    assert record is not None and record["photo"]["coin_found"] and record["photo"]["coin_mm"] == COIN_MM
    assert record["photo"]["diameter_mm"][2] == "mm"
    assert task.apply(args=[case_id]).get() == "skipped"  # done once; a redelivery does nothing


def test_the_measuring_task_for_an_erased_case_does_nothing(app: object, settings: Settings,
                                                            sessions: sessionmaker[Session]) -> None:
    _, case_id, lesion_id = followed(sessions, _store(settings), user=903)
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(lesion_id=None))
        session.delete(session.get_one(TrackedLesion, lesion_id))
        session.delete(session.get_one(Case, case_id))
    assert app.tasks[tracking.MEASURE_TASK].apply(args=[case_id]).get() == "none"  # type: ignore[attr-defined]
    assert tasks.measure_lesion_visit.name == tracking.MEASURE_TASK
