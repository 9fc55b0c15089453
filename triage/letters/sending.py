"""The patient's copy of the letter, sent through the bot: an outbox row of kind `document` now, the PDF made
when the sender sends it (`bot/sender.py`), from the case as it is then. Nothing of the letter is stored: an
erasure between the two leaves nothing to send, and the row goes with the patient's other rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from triage import case_snapshot, review
from triage.accounts import ClinicianView
from triage.db import transaction
from triage.images import ImageStore
from triage.letters import texts
from triage.letters.letter import Audience, render_letter
from triage.models import CaseStatus, Clinician
from triage.outbox import enqueue


@dataclass(frozen=True)
class Document:
    filename: str
    data: bytes
    caption: str


def queue_patient_copy(factory: sessionmaker[Session], actor: ClinicianView, case_id: int) -> None:
    """Queue the patient's copy of the case's letter, in their language, to be sent through the bot.

    Only the clinician who holds the case may send it (open or closed). Raises `review.CaseNotFound` and
    `review.ReviewConflict` (someone else holds it, nobody does, or the patient withdrew the case).
    """
    with transaction(factory) as session:
        found = review.case_for(session, actor, case_id)  # the case page's own organisation check
        if found.status == CaseStatus.WITHDRAWN:
            raise review.ReviewConflict("the patient withdrew the case")
        if found.assigned_clinician_id != actor.id:
            if found.assigned_clinician_id is None:
                raise review.ReviewConflict("claim the case first")
            holder = session.get(Clinician, found.assigned_clinician_id)
            raise review.ReviewConflict(f"the case is claimed by {holder.display_name if holder else 'someone else'}")
        enqueue(session, kind="document", chat_id=found.patient.chat_id, case_id=case_id,
                dedupe_key=f"case:{case_id}:letter:{uuid.uuid4().hex}",
                payload={"audience": "patient", "language": found.language, "clinician": actor.display_name},
                priority=review.ALERT_PRIORITY.get(found.tier or "", 2))
        review.audit(session, actor.actor, "letter.sent", case_id, language=found.language)


def document_for(factory: sessionmaker[Session], images: ImageStore, case_id: int,
                 payload: dict[str, Any]) -> Document | None:
    """The PDF an outbox row of kind `document` sends (audited `case.exported` by the bot); None when the case
    is gone. Raises `LetterUnavailable` when the PDF engine cannot run."""
    try:
        snap = case_snapshot.for_system(factory, case_id, actor="bot", action="case.exported", format="pdf",
                                        via="telegram")
    except review.CaseNotFound:
        return None
    language = texts.language_of(str(payload.get("language") or snap.language))
    audience: Audience = "referral" if payload.get("audience") == "referral" else "patient"
    letter = render_letter(case_snapshot.with_photo_data(snap, images), language=language, audience=audience)
    clinician = str(payload.get("clinician") or snap.clinician_name or "")
    caption = texts.t(language, "caption", case=case_id, clinician=clinician)[:1024]
    return Document(letter.filename, letter.data, caption)
