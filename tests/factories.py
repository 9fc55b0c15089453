"""Build cases through the same workflow functions the bot uses."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from tests.images import skin_photo
from triage import cases
from triage.images import ImageStore, sanitize_image

ADULT = {"patient": {"age_years": 35}, "answers": {"symptoms": []}}


def make_case(
    sessions: sessionmaker[Session], store: ImageStore, *, user: int = 77, text: str = "itchy spots",
    answers: dict[str, Any] | None = None, submit: bool = True, image: bytes | None = None,
) -> int:
    """A consented patient's case with one photo, submitted (queued) unless `submit` is False."""
    patient = cases.record_consent(sessions, telegram_user_id=user, chat_id=user, language="en",
                                   consent_version="t")
    case_id = cases.start_case(sessions, store, patient_id=patient.id, language="en", organisation="default")
    clean = sanitize_image(image or skin_photo(), max_bytes=10**7, max_pixels=10**8)
    cases.add_image(sessions, store, case_id=case_id, image=clean)
    cases.save_progress(sessions, patient_id=patient.id, case_id=case_id, state="confirm", data={"case_id": case_id},
                        answers=answers if answers is not None else ADULT, text=text)
    if submit:
        assert cases.submit_case(sessions, patient_id=patient.id, case_id=case_id)
    return case_id
