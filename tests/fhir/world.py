"""The inbox world's emergency case taken through review to the end: claimed by Alice, answered, its tier changed,
diagnosed, referred and closed; its patient had consented."""

from __future__ import annotations

from sqlalchemy import update

from tests.inbox.conftest import World
from triage import review
from triage.db import transaction
from triage.models import Patient, utcnow

LONG_REPLY = ("Please go to the eye clinic today. <b>not bold</b> & " * 60)[:3000]


def referred(world: World, key: str = "emergency") -> int:
    """Take the world's case `key` to closed and referred by Alice; returns its id."""
    factory = world.services.sessions
    alice = world.people["alice"]
    case_id = world.cases[key]
    with transaction(factory) as session:
        session.execute(update(Patient).values(consent_version="2026-11", consented_at=utcnow()))
    review.claim(factory, alice, case_id)
    review.reply(factory, alice, case_id, LONG_REPLY)
    review.change_tier(factory, alice, case_id, "urgent", "Near the eye: same-day review.")
    review.record_outcome(factory, alice, case_id, "herpes_zoster", "referred")
    review.close(factory, alice, case_id)
    return case_id
