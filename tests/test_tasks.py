"""Beat jobs: photo retention and stuck-case recovery, on a real database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from triage.images import ImageStore
from triage.models import AuditEvent, CaseImage, utcnow
from triage.tasks import purge_images_before


def test_retention_deletes_old_photo_files_and_keeps_the_record(sessions: sessionmaker[Session],
                                                                tmp_path: Path) -> None:
    store = ImageStore(tmp_path, [Fernet.generate_key()])
    for user in (1, 2):
        make_case(sessions, store, user=user)
    with sessions.begin() as session:
        session.execute(update(CaseImage).where(CaseImage.id == 1).values(created_at=utcnow() - dt.timedelta(days=91)))
    assert purge_images_before(sessions, store, utcnow() - dt.timedelta(days=90)) == 1
    with sessions() as session:
        old, new = session.scalars(select(CaseImage).order_by(CaseImage.id)).all()
        assert old.deleted_at is not None and new.deleted_at is None
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "image.purged")) is not None
    assert len(list(tmp_path.rglob("*.bin"))) == 1
    assert purge_images_before(sessions, store, utcnow() - dt.timedelta(days=90)) == 0
