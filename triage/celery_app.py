"""The Celery application factory, shared by the worker and beat (`triage.worker`) and the web process.

Tasks take ids, never objects or image bytes. Late acknowledgement with `reject_on_worker_lost` means a worker
killed mid-task leaves its message to be delivered again; the tasks are safe to run twice.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from triage import logs
from triage.config import Settings, load_settings


@signals.setup_logging.connect
def _content_free_logging(loglevel: str | int | None = None, **_: Any) -> None:
    """Celery configures no logging of its own once this signal has a receiver: ours writes no content."""
    logs.configure(loglevel or "INFO")


def celery_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "broker_url": settings.resolved_broker_url,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "task_default_queue": settings.celery_queue,
        "beat_schedule": {
            "dispatch-tasks": {"task": "triage.dispatch_tasks", "schedule": settings.dispatch_interval_s},
            "recover-stuck-cases": {"task": "triage.recover_stuck_cases", "schedule": settings.recovery_interval_s},
            "realert-unclaimed": {"task": "triage.realert_unclaimed", "schedule": 60.0},
            "purge-expired-images": {"task": "triage.purge_expired_images", "schedule": 3600.0},
            "queue-fhir-pushes": {"task": "triage.queue_fhir_pushes", "schedule": settings.fhir_push_interval_s},
            "remind-tracked-lesions": {"task": "triage.remind_tracked_lesions",
                                       "schedule": settings.lesion_reminder_interval_s},
        },
        "beat_schedule_filename": str((settings.data_dir / "celerybeat-schedule").resolve()),
    }
    if config["broker_url"].startswith("filesystem://"):
        config["broker_transport"] = "triage.broker:Transport"  # messages written whole before a worker sees them
        folder = settings.broker_folder
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),
            # kombu polls the folder once a second by default, and with one task prefetched a worker waits for the
            # next poll after each task: about one task per second per worker process. Listing a folder ten times
            # a second costs nothing measurable.
            "polling_interval": 0.1,
        }
    else:
        # Longer than the longest analysis, so Redis does not hand a running task to a second worker.
        config["broker_transport_options"] = {"visibility_timeout": settings.broker_visibility_timeout_s}
    return config


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("triage")
    app.conf.update(celery_config(settings))
    app.conf.triage_settings = settings
    app.autodiscover_tasks(["triage"], related_name="tasks", force=True)
    return app
