"""The clinician workflow functions (triage/review.py): races, re-alerts, vocabulary, append-only audit."""

from __future__ import annotations

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from tests.conftest import ROOT
from tests.inbox.conftest import World, sqlite_only
from triage import review
from triage.models import AuditEvent, Case, Outbox, utcnow
from triage.rules import CONDITION_TIERS


def test_two_clinicians_claiming_at_once_get_one_winner(world: World) -> None:
    factory = world.services.sessions
    alice, carol = world.people["alice"], world.people["carol"]
    case_id = world.cases["emergency"]
    start = threading.Barrier(2)

    def attempt(who: object) -> str:
        start.wait()
        try:
            review.claim(factory, who, case_id)  # type: ignore[arg-type]
            return "won"
        except review.ReviewConflict:
            return "lost"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(attempt, [alice, carol]))
    assert outcomes == ["lost", "won"]
    with factory() as session:
        claims = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.claimed")).all()
        holder = session.get_one(Case, case_id).assigned_clinician_id
    assert len(claims) == 1 and claims[0].actor == f"clinician:{holder}"


def test_unclaimed_urgent_cases_are_alerted_again_once_per_round(world: World) -> None:
    factory = world.services.sessions
    c = world.cases
    review.claim(factory, world.people["bob"], c["south"])  # claimed: no reminder
    now = utcnow()
    # Emergency was triaged 29 minutes ago and urgent 89 minutes ago (conftest): with 45 minutes, only urgent.
    assert review.realert_unclaimed(factory, chat_id=-1, after_s=45 * 60, now=now) == [c["urgent"]]
    assert review.realert_unclaimed(factory, chat_id=-1, after_s=45 * 60, now=now) == []  # same round: nothing
    later = now + dt.timedelta(minutes=46)
    assert review.realert_unclaimed(factory, chat_id=-1, after_s=45 * 60, now=later) == [c["emergency"], c["urgent"]]
    assert review.realert_unclaimed(factory, chat_id=None, after_s=60, now=later + dt.timedelta(days=1)) == []
    with factory() as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
    assert [(r.dedupe_key, r.priority, r.chat_id) for r in rows] == [
        (f"case:{c['urgent']}:realert:1", 1, -1),
        (f"case:{c['emergency']}:realert:1", 0, -1),
        (f"case:{c['urgent']}:realert:2", 1, -1),
    ]
    emergency = next(r for r in rows if r.case_id == c["emergency"])
    assert emergency.kind == "clinician_alert"
    assert emergency.payload["realert"] == 1 and emergency.payload["reasons"][0]["code"] == "RF_FEVER_BLISTERS"
    assert emergency.payload["differential"][0]["condition"] == "eczema_herpeticum"
    # Once claimed, a case is never alerted again.
    review.claim(factory, world.people["alice"], c["urgent"])
    far = later + dt.timedelta(hours=5)
    assert review.realert_unclaimed(factory, chat_id=-1, after_s=45 * 60, now=far) == [c["emergency"]]


@sqlite_only
def test_the_diagnosis_list_is_clinicals_vocabulary(world: World) -> None:
    choices = review.condition_choices()
    assert {key for key, _, _ in choices} == set(CONDITION_TIERS)
    assert choices[0][2] == "emergency" and choices[-1][2] == "self_care"
    assert dict((k, label) for k, label, _ in choices)["herpes_zoster"] == "herpes zoster (shingles)"


@sqlite_only
def test_a_case_of_another_organisation_is_not_found_for_every_function(world: World) -> None:
    factory = world.services.sessions
    alice, south = world.people["alice"], world.cases["south"]
    calls = [
        lambda: review.case_detail(factory, alice, south),
        lambda: review.image_key(factory, alice, south, world.images["south"]),
        lambda: review.claim(factory, alice, south),
        lambda: review.reply(factory, alice, south, "hi"),
        lambda: review.change_tier(factory, alice, south, "routine", "x"),
        lambda: review.record_outcome(factory, alice, south, "psoriasis", "referred"),
        lambda: review.close(factory, alice, south),
        lambda: review.case_detail(factory, alice, 2**40),
    ]
    for call in calls:
        with pytest.raises(review.CaseNotFound):
            call()


def test_no_code_updates_or_deletes_audit_rows() -> None:
    pattern = re.compile(r"(update|delete)\(\s*AuditEvent|AuditEvent\.__table__\.(update|delete)")
    paths = [p for package in ("triage", "inbox", "bot", "model_server") for p in (ROOT / package).rglob("*.py")]
    assert len(paths) > 50
    offenders = [str(p) for p in paths if pattern.search(p.read_text())]
    assert offenders == []
