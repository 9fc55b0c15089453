"""Tracked lesions on a real database (SQLite and PostgreSQL), with a controlled clock: following a spot, the
reminders the beat job queues (due, not yet due, paused, stopped, erased, run twice, read in another time zone),
a new visit moving the schedule, the photos kept while a spot is followed, and every refusal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.images import lesion_photo
from tests.tracking_world import T0, consent, followed, jpeg, set_triaged_at, submit, triage
from triage import cases, outreach, tracking
from triage.db import transaction
from triage.images import ImageStore
from triage.models import AuditEvent, Case, CaseImage, LesionStatus, Outbox, OutboxStatus, Patient, TrackedLesion
from triage.tasks import purge_images_before

DAY = dt.timedelta(days=1)
ROUTINE_DAYS = tracking.INTERVALS["routine"]  # the first visit: a benign-looking mole, unvalidated model


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", [Fernet.generate_key()])


def _reminders(sessions: sessionmaker[Session], lesion_id: int | None = None) -> list[Outbox]:
    with sessions() as session:
        query = select(Outbox).where(Outbox.kind == "lesion_reminder").order_by(Outbox.id)
        if lesion_id is not None:
            query = query.where(Outbox.dedupe_key.like(f"lesion:{lesion_id}:%"))
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows


def _lesion(sessions: sessionmaker[Session], lesion_id: int) -> TrackedLesion:
    with sessions() as session:
        found = session.get_one(TrackedLesion, lesion_id)
        session.expunge(found)
        return found


def test_the_interval_comes_from_the_tier_and_a_measured_change() -> None:
    assert tracking.interval_for("self_care", measured_change=False) == 91  # a stable mole: 3 months
    assert tracking.interval_for("routine", measured_change=False) == 56
    assert tracking.interval_for("soon", measured_change=False) == 28
    assert tracking.interval_for("self_care", measured_change=True) == 28  # a measured change: 4 weeks
    assert tracking.interval_for(None, measured_change=False) == 56


def test_a_reminder_is_queued_once_when_the_photo_is_due(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient, case_id, lesion_id = followed(sessions, store, user=501)
    due = T0 + ROUTINE_DAYS * DAY
    assert _lesion(sessions, lesion_id).next_due_at == due
    assert tracking.queue_due_reminders(sessions, now=due - dt.timedelta(minutes=1)) == []  # not yet due
    assert _reminders(sessions) == []
    assert tracking.queue_due_reminders(sessions, now=due) == [lesion_id]
    [row] = _reminders(sessions)
    assert row.dedupe_key == f"lesion:{lesion_id}:reminder:20270426T093000Z"
    assert row.chat_id == 501 and row.case_id == case_id and row.status == OutboxStatus.PENDING
    assert row.payload == {"lesion_id": lesion_id, "name": "mole on back", "visit": 2, "language": "en"}
    # A second beat run, a restarted beat, a beat whose clock reads another time zone: nothing more.
    assert tracking.queue_due_reminders(sessions, now=due + DAY) == []
    kolkata = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert tracking.queue_due_reminders(sessions, now=(due + 2 * DAY).astimezone(kolkata)) == []
    assert len(_reminders(sessions)) == 1
    with sessions() as session:
        audits = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "lesion.reminded")).all()
    assert audits == [{"lesion": lesion_id, "due": due.isoformat(), "visit": 2}]
    del patient


def test_the_reminders_key_is_the_same_instant_in_any_time_zone() -> None:
    due = dt.datetime(2027, 4, 26, 9, 30, tzinfo=dt.UTC)
    for hours in (-8, 0, 3, 5.5, 14):
        zone = dt.timezone(dt.timedelta(hours=hours))
        assert tracking.reminder_key(7, due.astimezone(zone)) == "lesion:7:reminder:20270426T093000Z"


def test_two_beats_at_once_queue_one_reminder(sessions: sessionmaker[Session], store: ImageStore) -> None:
    _, _, lesion_id = followed(sessions, store, user=502)
    due = _lesion(sessions, lesion_id).next_due_at
    assert due is not None
    # Both read the lesion as due before either marked it: only the first conditional UPDATE wins.
    assert tracking._remind_one(sessions, lesion_id, due, due) is True
    assert tracking._remind_one(sessions, lesion_id, due, due) is False
    assert len(_reminders(sessions)) == 1


def test_a_paused_lesion_gets_no_reminder_until_resumed(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient, _, lesion_id = followed(sessions, store, user=503)
    due = T0 + ROUTINE_DAYS * DAY
    paused = tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.PAUSED, now=T0 + 10 * DAY)
    assert paused.paused and paused.next_due_at == due  # the schedule is kept
    assert tracking.queue_due_reminders(sessions, now=due + 5 * DAY) == []
    assert tracking.lesions_of(sessions, patient.id)[0].paused
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.ACTIVE, now=due + 6 * DAY)
    assert tracking.queue_due_reminders(sessions, now=due + 6 * DAY) == [lesion_id]  # the due time passed meanwhile


def test_pausing_takes_back_a_reminder_not_yet_sent(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient, _, lesion_id = followed(sessions, store, user=504)
    due = T0 + ROUTINE_DAYS * DAY
    assert tracking.queue_due_reminders(sessions, now=due) == [lesion_id]
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.PAUSED, now=due)
    assert _reminders(sessions) == []
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.ACTIVE, now=due + DAY)
    assert tracking.queue_due_reminders(sessions, now=due + DAY) == [lesion_id]
    assert len(_reminders(sessions)) == 1


def test_a_sent_reminder_stays_sent_when_the_patient_pauses(sessions: sessionmaker[Session],
                                                            store: ImageStore) -> None:
    patient, _, lesion_id = followed(sessions, store, user=514)
    due = T0 + ROUTINE_DAYS * DAY
    tracking.queue_due_reminders(sessions, now=due)
    with transaction(sessions) as session:
        session.execute(update(Outbox).values(status=OutboxStatus.SENT))
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.PAUSED, now=due)
    assert [r.status for r in _reminders(sessions)] == [OutboxStatus.SENT]


def test_a_stopped_lesion_gets_no_reminder_and_leaves_the_list(sessions: sessionmaker[Session],
                                                               store: ImageStore) -> None:
    patient, _, lesion_id = followed(sessions, store, user=505)
    stopped = tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.STOPPED, now=T0 + DAY)
    assert stopped.status == LesionStatus.STOPPED and stopped.next_due_at is None
    assert tracking.queue_due_reminders(sessions, now=T0 + 400 * DAY) == []
    assert tracking.lesions_of(sessions, patient.id) == []
    with pytest.raises(tracking.TrackingError, match="stopped"):
        tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.ACTIVE)
    with pytest.raises(tracking.TrackingError, match="stopped"):
        tracking.lesion_for_visit(sessions, patient.id, lesion_id)


def test_erasure_removes_the_lesions_and_their_reminders(sessions: sessionmaker[Session], store: ImageStore) -> None:
    _, _, lesion_id = followed(sessions, store, user=506)
    _, _, other = followed(sessions, store, user=507)  # another patient, untouched
    due = T0 + ROUTINE_DAYS * DAY
    assert sorted(tracking.queue_due_reminders(sessions, now=due)) == sorted([lesion_id, other])
    assert cases.erase_patient(sessions, store, 506) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrackedLesion)) == 1
        assert session.scalar(select(func.count()).select_from(Case).where(Case.lesion_id == lesion_id)) == 0
    assert [r.dedupe_key.split(":")[1] for r in _reminders(sessions)] == [str(other)]
    assert tracking.queue_due_reminders(sessions, now=due + 100 * DAY) == []


def test_erasing_a_health_workers_patient_takes_back_their_reminders(sessions: sessionmaker[Session],
                                                                      store: ImageStore) -> None:
    worker = consent(sessions, 508)
    with transaction(sessions) as session:
        session.execute(update(Patient).where(Patient.id == worker.id).values(role="health_worker"))
    ids = [outreach.add_patient(sessions, worker_id=worker.id, ref=ref, profile={"age_years": 60},
                                consent_version="t") for ref in ("A1", "B2")]
    lesions = []
    for patient_id in ids:
        case_id = submit(sessions, store, patient_id=worker.id, subject_id=patient_id, photos=[jpeg(lesion_photo())])
        assert triage(sessions, store, case_id) == "triaged"
        set_triaged_at(sessions, case_id, T0)
        lesions.append(tracking.follow_case(sessions, person_id=worker.id, case_id=case_id, name="mole", site="back",
                                            now=T0))
    assert [lesion.patient_ref for lesion in tracking.lesions_of(sessions, worker.id)] == ["B2", "A1"]
    due = T0 + ROUTINE_DAYS * DAY
    assert len(tracking.queue_due_reminders(sessions, now=due)) == 2
    reminder = _reminders(sessions, lesions[0].id)[0]
    assert reminder.chat_id == 508 and reminder.payload["audience"] == "chw" and reminder.payload["patient_ref"] == "A1"
    assert outreach.erase_managed_patient(sessions, store, worker.id, ids[0])
    assert [r.payload["patient_ref"] for r in _reminders(sessions)] == ["B2"]  # the worker's chat keeps the other's
    assert [lesion.patient_ref for lesion in tracking.lesions_of(sessions, worker.id)] == ["B2"]


def test_a_new_visit_moves_the_next_photo_and_drops_an_old_reminder(sessions: sessionmaker[Session],
                                                                     store: ImageStore) -> None:
    patient, first, lesion_id = followed(sessions, store, user=509)
    due = T0 + ROUTINE_DAYS * DAY
    tracking.queue_due_reminders(sessions, now=due)
    visit = submit(sessions, store, patient_id=patient.id, lesion_id=lesion_id, photos=[jpeg(lesion_photo(seed=2))])
    assert triage(sessions, store, visit) == "triaged"
    lesion = _lesion(sessions, lesion_id)
    with sessions() as session:
        triaged_at = session.get_one(Case, visit).triaged_at
    assert triaged_at is not None and lesion.last_visit_at == triaged_at
    assert lesion.next_due_at == triaged_at + lesion.interval_days * DAY
    assert lesion.reminded_for is None and _reminders(sessions) == []  # the old due time no longer applies
    [view] = tracking.lesions_of(sessions, patient.id)
    assert view.visits == 2
    with sessions() as session:
        assert tracking.visit_number(session, lesion_id, visit) == 2
        assert tracking.visit_number(session, lesion_id, first) == 1


def test_a_new_visit_asks_only_what_may_have_changed(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient, _, lesion_id = followed(sessions, store, user=510)
    visit = cases.start_case(sessions, store, patient_id=patient.id, language="en", organisation="default",
                             lesion_id=lesion_id)
    with sessions() as session:
        found = session.get_one(Case, visit)
        assert found.lesion_id == lesion_id
        assert found.answers == {"patient": {"age_years": 45}, "fixed": ["age", "body_sites", "extent"],
                                 "answers": {"symptoms": [], "extent": "single_spot", "body_sites": ["back"]}}
    other = consent(sessions, 511)
    with pytest.raises(tracking.TrackingError, match="not_found"):  # not their lesion
        cases.start_case(sessions, store, patient_id=other.id, language="en", organisation="default",
                         lesion_id=lesion_id)
    with pytest.raises(tracking.TrackingError, match="not_found"):
        tracking.lesion_for_visit(sessions, other.id, lesion_id)


def test_following_is_refused_with_a_reason(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient, case_id, lesion_id = followed(sessions, store, user=512)
    stranger = consent(sessions, 513)
    refusals = [
        (dict(person_id=stranger.id, case_id=case_id), "not_found"),  # someone else's case
        (dict(person_id=patient.id, case_id=case_id), "already_tracked"),
        (dict(person_id=patient.id, case_id=2**31), "not_found"),
        (dict(person_id=patient.id, case_id=-1), "not_found"),
    ]
    for kwargs, code in refusals:
        with pytest.raises(tracking.TrackingError) as refused:
            tracking.follow_case(sessions, name="x", site=None, **kwargs)  # type: ignore[arg-type]
        assert refused.value.code == code
    unsent = cases.start_case(sessions, store, patient_id=stranger.id, language="en", organisation="default")
    with pytest.raises(tracking.TrackingError, match="not_triaged"):
        tracking.follow_case(sessions, person_id=stranger.id, case_id=unsent, name="x", site=None)
    queued = submit(sessions, store, patient_id=stranger.id, photos=[jpeg(lesion_photo())])
    with pytest.raises(tracking.TrackingError, match="not_triaged"):
        tracking.follow_case(sessions, person_id=stranger.id, case_id=queued, name="x", site=None)
    assert triage(sessions, store, queued) == "triaged"
    for name in ("", "   ", "x" * 61, "\x00\x01"):
        with pytest.raises(tracking.TrackingError, match="bad_name"):
            tracking.follow_case(sessions, person_id=stranger.id, case_id=queued, name=name, site=None)
    for site in ("elbow'; --", "BACK", ""):
        with pytest.raises(tracking.TrackingError, match="bad_site"):
            tracking.follow_case(sessions, person_id=stranger.id, case_id=queued, name="x", site=site)
    with sessions() as session:  # nothing was half stored
        assert session.scalar(select(Case.lesion_id).where(Case.id == queued)) is None
    assert tracking.lesions_of(sessions, stranger.id) == [] and lesion_id


def test_a_name_is_kept_as_typed_text_never_markup(sessions: sessionmaker[Session], store: ImageStore) -> None:
    _, _, lesion_id = followed(sessions, store, user=515, name="  <b>mole</b>\u200b on\tmy\nback\x07 ")
    assert _lesion(sessions, lesion_id).name == "<b>mole</b>\u200b on my back"  # escaped wherever it is shown


def test_the_photos_of_a_followed_lesion_outlive_the_retention_period(sessions: sessionmaker[Session],
                                                                       store: ImageStore) -> None:
    patient, case_id, lesion_id = followed(sessions, store, user=516)
    other = submit(sessions, store, patient_id=consent(sessions, 517).id, photos=[jpeg(lesion_photo())])
    later = dt.datetime.now(dt.UTC) + 400 * DAY
    assert purge_images_before(sessions, store, later) == 1  # only the case that is not followed

    def kept(case: int) -> bool:
        with sessions() as session:
            return session.scalar(select(CaseImage.deleted_at).where(CaseImage.case_id == case)) is None

    assert kept(case_id) and not kept(other)
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.PAUSED)
    assert purge_images_before(sessions, store, later) == 0  # paused: still followed
    tracking.set_status(sessions, patient.id, lesion_id, LesionStatus.STOPPED)
    assert purge_images_before(sessions, store, later) == 1  # no longer followed: the usual retention
    assert not kept(case_id)


def test_a_visit_without_answers_to_copy_asks_everything(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient = consent(sessions, 518)
    case_id = submit(sessions, store, patient_id=patient.id, photos=[jpeg(lesion_photo())],
                     answers={"patient": {}, "answers": {"symptoms": ["changing_size"]}})
    assert triage(sessions, store, case_id) == "triaged"
    lesion = tracking.follow_case(sessions, person_id=patient.id, case_id=case_id, name="spot", site=None)
    with sessions() as session:
        answers = tracking.visit_answers(session, lesion.id, patient.id)
    assert answers == {"patient": {}, "answers": {"symptoms": [], "extent": "single_spot"}, "fixed": ["extent"]}


@pytest.mark.parametrize(("case", "lesion"), [
    ({"text": "a mole on my back"}, True),  # the words
    ({"text": "una mancha que crece"}, True),  # in any language the rules read
    ({"answers": {"symptoms": ["changing_colour"]}}, True),  # a mole question answered yes
    ({"model": {"differential": [{"condition": "seborrheic_keratosis", "likelihood": 0.3}]}}, True),
    ({"model": {"differential": [{"condition": "melanoma", "likelihood": 0.1}]}}, False),  # below 0.2
    ({"text": "itchy red rash on both arms", "answers": {"symptoms": ["itch"]}}, False),
    ({"answers": {"symptoms": [], "skipped": ["changing_size"]}}, False),  # "not sure" is not a mole
])
def test_a_result_offers_following_when_the_rules_see_a_lesion(case: dict[str, object], lesion: bool) -> None:
    from triage.rules import about_a_lesion, parse_case

    assert about_a_lesion(parse_case(case)) is lesion


def test_only_a_lesions_result_offers_to_follow_it(sessions: sessionmaker[Session], store: ImageStore) -> None:
    patient = consent(sessions, 519)
    rash = submit(sessions, store, patient_id=patient.id, photos=[jpeg(lesion_photo())],
                  answers={"patient": {"age_years": 30}, "answers": {"symptoms": ["itch"], "extent": "large_area"}})
    assert triage(sessions, store, rash, differential=[("atopic_dermatitis", 0.9)]) == "triaged"
    mole = submit(sessions, store, patient_id=patient.id, photos=[jpeg(lesion_photo())])
    assert triage(sessions, store, mole) == "triaged"
    with sessions() as session:
        payloads = {row.case_id: row.payload for row in session.scalars(
            select(Outbox).where(Outbox.kind == "patient_result"))}
    assert "trackable" not in payloads[rash] and payloads[mole]["trackable"] == mole
