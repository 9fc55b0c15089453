"""The analysis task (`triage.tasks.analyze_case`) run in-process by a Celery app made as the worker makes its own,
on a real database: a case whose analysis fails outright on every run (a bug, not a passing fault) is answered on
the patient's answers alone after FAILURES_BEFORE_ANSWERS_ALONE runs, rather than never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from triage import dispatch, tasks
from triage.celery_app import create_celery
from triage.config import Settings, load_settings
from triage.images import ImageStore
from triage.model_client import ModelClient
from triage.models import Case, CaseStatus, Outbox, TaskDispatch, utcnow

TASK = "triage.analyze_case"


@pytest.fixture
def settings(database_url: str, sessions: sessionmaker[Session], tmp_path: Path) -> Settings:
    return load_settings({"DATA_DIR": str(tmp_path), "DATABASE_URL": database_url,
                          "IMAGE_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "CLINICIAN_CHAT_ID": "-1001"})


@pytest.fixture
def task(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    celery = create_celery(settings)
    analyze = celery.tasks[TASK]
    monkeypatch.setattr(type(analyze), "_resources", None)  # resources are cached per task class
    yield analyze
    type(analyze)._resources = None


def _buggy_model(calls: list[httpx.Request]) -> ModelClient:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise KeyError("a bug the model's answer sets off")

    return ModelClient("http://model.test", timeout_s=5, max_attempts=1, backoff_s=0.0,
                       transport=httpx.MockTransport(handler))


def _sent_again(sessions: sessionmaker[Session], key: str) -> None:
    """What the web process's dispatcher does once the row's wait is over."""
    with sessions() as session:
        again_at = session.scalars(select(TaskDispatch.next_at).where(TaskDispatch.dedupe_key == key)).one()
    assert again_at > utcnow()  # not at once: a failed run waits
    assert dispatch.publish_due(sessions, lambda *_: None, now=again_at) == 1


def test_an_analysis_that_fails_every_time_ends_on_the_answers_alone(
    task: Any, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    store = ImageStore(settings.image_dir, [settings.image_encryption_keys.encode()])
    case_id = make_case(sessions, store, user=31)
    key = dispatch.analyze_key(case_id)
    calls: list[httpx.Request] = []
    task.resources.__dict__["model"] = _buggy_model(calls)
    assert dispatch.publish_due(sessions, lambda *_: None) == 1
    for run in range(tasks.FAILURES_BEFORE_ANSWERS_ALONE):
        result = task.apply(args=[case_id])
        assert isinstance(result.result, KeyError), result.result
        assert len(calls) == run + 1
        _sent_again(sessions, key)
    assert task.apply(args=[case_id]).get() == "fallback"
    assert len(calls) == tasks.FAILURES_BEFORE_ANSWERS_ALONE  # the model is not asked again
    with sessions() as session:
        case = session.get_one(Case, case_id)
        assert case.status == CaseStatus.FAILED_MODEL and case.forwarded
        assert case.tier in ("emergency", "urgent", "soon", "routine")
        kinds = sorted(session.scalars(select(Outbox.kind).where(Outbox.case_id == case_id)))
        result_payload = session.scalars(select(Outbox.payload).where(Outbox.kind == "patient_result")).one()
        row = session.scalars(select(TaskDispatch).where(TaskDispatch.dedupe_key == key)).one()
    assert kinds == ["clinician_alert", "patient_result"]
    assert result_payload["model_used"] is False
    assert row.status == "done" and row.failures == tasks.FAILURES_BEFORE_ANSWERS_ALONE


def test_a_model_that_fails_once_is_still_used_on_the_next_run(
    task: Any, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    store = ImageStore(settings.image_dir, [settings.image_encryption_keys.encode()])
    case_id = make_case(sessions, store, user=32)
    calls: list[httpx.Request] = []
    task.resources.__dict__["model"] = _buggy_model(calls)
    assert dispatch.publish_due(sessions, lambda *_: None) == 1
    assert isinstance(task.apply(args=[case_id]).result, KeyError)
    _sent_again(sessions, dispatch.analyze_key(case_id))
    assert isinstance(task.apply(args=[case_id]).result, KeyError)
    assert len(calls) == 2  # the second run asked the model again
