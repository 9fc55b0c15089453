"""The outreach records on both databases: invites used once, a health worker's activity, and the command line
for organisations and their posters' QR codes."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from tests.images import skin_photo
from triage import accounts, cases, outreach
from triage.images import ImageStore, sanitize_image
from triage.models import Case, utcnow

KEY = b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="


def _admin(sessions: sessionmaker[Session]) -> int:
    return accounts.create_clinician(sessions, email="root@north.org", display_name="Root", role="admin",
                                     organisation="north", password="correct horse battery", actor="t").id


def test_an_invite_is_used_once_even_by_two_accounts_at_once(sessions: sessionmaker[Session]) -> None:
    _, code = outreach.create_invite(sessions, organisation_code="north", label="Amina", created_by=_admin(sessions),
                                     actor="t")
    assert outreach.become_health_worker(sessions, code, telegram_user_id=1, chat_id=1, language="en") == "north"
    with pytest.raises(outreach.OutreachError) as refused:
        outreach.become_health_worker(sessions, code, telegram_user_id=2, chat_id=2, language="en")
    assert refused.value.code == "invite_used"
    with pytest.raises(outreach.OutreachError) as refused:
        outreach.check_invite(sessions, code[:-1] + ("A" if code[-1] != "A" else "B"))
    assert refused.value.code == "invite_unknown"


def test_a_health_workers_activity_counts_their_cases_weeks_and_time_to_a_clinician(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _, code = outreach.create_invite(sessions, organisation_code="north", label="Amina", created_by=_admin(sessions),
                                     actor="t")
    outreach.become_health_worker(sessions, code, telegram_user_id=10, chat_id=10, language="en")
    worker = cases.get_patient(sessions, 10)
    assert worker is not None and worker.is_health_worker
    store = ImageStore(tmp_path, [KEY])
    patient = outreach.add_patient(sessions, worker_id=worker.id, ref="P1", profile={"sex": "male"},
                                   consent_version="v")
    with pytest.raises(outreach.OutreachError) as refused:
        outreach.add_patient(sessions, worker_id=worker.id, ref="P1", profile={}, consent_version="v")
    assert refused.value.code == "ref_taken"
    ids = []
    for _ in range(3):
        case_id = cases.start_case(sessions, store, patient_id=worker.id, subject_id=patient, language="en",
                                   organisation="north")

        cases.add_image(sessions, store, case_id=case_id, image=sanitize_image(skin_photo(), max_bytes=10**7,
                                                                                  max_pixels=10**8))
        assert cases.submit_case(sessions, patient_id=worker.id, subject_id=patient, case_id=case_id)
        ids.append(case_id)
    now = utcnow()
    with sessions.begin() as session:  # submitted 20 days, 10 days and 1 hour ago; two claimed after 2 h and 4 h
        for case_id, days, claimed_h in ((ids[0], 20, 2), (ids[1], 10, 4), (ids[2], 0, None)):
            submitted = now - dt.timedelta(days=days, hours=1)
            claimed = submitted + dt.timedelta(hours=claimed_h) if claimed_h else None
            session.execute(update(Case).where(Case.id == case_id).values(
                submitted_at=submitted, claimed_at=claimed, status="claimed" if claimed else "forwarded"))
    make_case(sessions, store, user=99)  # a patient writing for themselves: not a health worker's
    [activity] = outreach.health_workers(sessions, "north", now=now)
    assert (activity.label, activity.patients, activity.open_cases) == ("Amina", 1, 3)
    assert activity.cases_per_week == (0, 1, 1, 1)
    assert activity.median_answer == dt.timedelta(hours=3)
    assert outreach.health_workers(sessions, "south", now=now) == []


def test_the_command_line_sets_up_an_organisation_and_draws_its_poster_qr_code(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from inbox.cli import main

    monkeypatch.setenv("DATABASE_URL", sessions.kw["bind"].url.render_as_string(hide_password=False))
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["organisation", "--code", "east", "--name", "East clinic", "--public", "yes",
                 "--clinician-chat", "-100777"], out=out) == 0
    assert "east: East clinic; listed for patients; alerts to -100777" in out.getvalue()
    assert main(["organisation", "--code", "Bad Code!"], out=io.StringIO()) == 1
    assert main(["organisation", "--code", "east", "--clinician-chat", "12abc"], out=io.StringIO()) == 1
    poster = tmp_path / "east.png"
    assert main(["qr", "--organisation", "east", "--out", str(poster), "--bot-username", "derma_bot"],
                out=io.StringIO()) == 0
    assert poster.read_bytes().startswith(b"\x89PNG")
    svg = tmp_path / "east.svg"
    assert main(["qr", "--organisation", "east", "--out", str(svg), "--bot-username", "derma_bot"],
                out=io.StringIO()) == 0
    assert "<svg" in svg.read_text()
    assert main(["qr", "--organisation", "nowhere", "--out", str(poster), "--bot-username", "b0t_x"],
                out=io.StringIO()) == 1
    assert main(["qr", "--organisation", "east", "--out", str(tmp_path / "x.gif"), "--bot-username", "b0t_x"],
                out=io.StringIO()) == 1
