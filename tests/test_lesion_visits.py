"""A tracked lesion's new photo through the worker's real pipeline (`pipeline.analyze_case`, photos decrypted from
the image store, a real database): the change measured on lesions the test draws with the size, shape and colour
it sets, and on PAD-UFES-20 photos it resizes and recolours; a measured change raising the tier with the
measurement as its evidence, `unknown` lowering nothing, and the measurements stored with the case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from PIL import Image, ImageEnhance
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import render
from inbox import lesion_format
from tests.images import lesion_photo
from tests.lesion_pairs import closer, with_coin
from tests.pad_ufes import dev_photos
from tests.tracking_world import MOLE_NO_CHANGE, followed, jpeg, submit, triage
from triage import lesion_visits
from triage.images import ImageStore
from triage.lesions import measure_lesion
from triage.models import Case, Outbox, TriageDecision

CHECKLIST = "checklist.melanoma_7_point"


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", [Fernet.generate_key()])


def _answers(*symptoms: str, skipped: tuple[str, ...] = ()) -> dict[str, Any]:
    given = {**MOLE_NO_CHANGE["answers"], "symptoms": list(symptoms)}
    if skipped:
        given["skipped"] = list(skipped)
    return {"patient": MOLE_NO_CHANGE["patient"], "answers": given}


def _visit(sessions: sessionmaker[Session], store: ImageStore, photo: Image.Image, *, user: int,
           first: Image.Image | None = None, answers: dict[str, Any] | None = None,
           coin_mm: float | None = 24.26) -> tuple[Case, TriageDecision]:
    """A followed mole (first photo `first`), then a new visit with `photo` and `answers`, analysed."""
    patient, _, lesion_id = followed(sessions, store, user=user, photo=first)
    visit = submit(sessions, store, patient_id=patient.id, lesion_id=lesion_id, photos=[jpeg(photo)],
                   answers=answers or _answers())
    assert triage(sessions, store, visit, coin_mm=coin_mm) == "triaged"
    with sessions() as session:
        found = session.get_one(Case, visit)
        decision = session.scalars(select(TriageDecision).where(TriageDecision.case_id == visit)).one()
        session.expunge_all()
        return found, decision


def _codes(decision: TriageDecision) -> list[str]:
    return [reason["code"] for reason in decision.reasons]


def _measured(decision: TriageDecision) -> list[dict[str, Any]]:
    return [e for reason in decision.reasons for e in reason.get("evidence", []) if e.get("source") == "measured"]


def test_a_lesion_grown_and_darkened_is_measured_as_changed_and_raises_the_tier(
        sessions: sessionmaker[Session], store: ImageStore) -> None:
    # The patient notices nothing; the photos show a lesion 30 % wider with a dark patch, the same coin beside it.
    case, decision = _visit(sessions, store, lesion_photo(radius=143, dark_patch=0.2), user=601)
    record = case.lesion_measurement
    assert record is not None and record["photo"]["coin_found"] and record["photo"]["problem"] is None
    assert record["change"]["size"]["verdict"] == "changed" and record["change"]["colour"]["verdict"] == "changed"
    value, band, unit = record["change"]["size"]["change"]
    assert unit == "%" and abs(value - 69) <= band  # 1.3² − 1 = +69 % of area, within its band
    assert decision.tier == "soon" and case.tier == "soon" and _codes(decision)[0] == CHECKLIST
    evidence = _measured(decision)
    assert {e["concept"] for e in evidence} == {"changing_size", "changing_colour"}
    assert all(e["text"].startswith("measured on the photos: ") for e in evidence)
    assert any("mm²" in e["text"] and "±" in e["text"] for e in evidence)  # the number and its band
    with sessions() as session:  # the first visit's measurement was stored too, for the visits after
        first = session.get_one(Case, record["previous_case_id"])
        assert first.lesion_measurement and first.lesion_measurement["photo"]["coin_found"]
        result = session.scalars(select(Outbox).where(Outbox.case_id == case.id,
                                                      Outbox.kind == "patient_result")).one()
        alert = session.scalars(select(Outbox).where(Outbox.case_id == case.id,
                                                     Outbox.kind == "clinician_alert")).one()
    assert result.payload["lesion"]["visit"] == 2
    assert result.payload["lesion"]["changes"] == {"size": "changed", "shape": "unchanged", "colour": "changed"}
    text = render.patient_result(result.payload)
    assert "photo 2" in text and "Size: <b>changed</b>" in text and "Shape: no clear change" in text
    assert "mm²" not in text and "±" not in text  # the patient reads plain words; the numbers are the clinician's
    caption = render.clinician_alert(case.id, alert.payload, None, limit=1024)
    assert "Tracked lesion, visit 2" in caption and "measured change: size, colour" in caption
    assert "measured on the photos: size +" in caption  # the evidence, as measured


def test_a_size_change_alone_raises_the_tier_only_with_what_the_patient_said(sessions: sessionmaker[Session],
                                                                              store: ImageStore) -> None:
    grown = lesion_photo(radius=143)
    case, decision = _visit(sessions, store, grown, user=602)
    assert case.lesion_measurement and case.lesion_measurement["change"]["size"]["verdict"] == "changed"
    assert decision.tier == "routine" and CHECKLIST not in _codes(decision)  # 2 points: below the threshold
    # "It feels different" (1 point) + the measured growth (2) = 3: soon, and only because of the measurement.
    case, decision = _visit(sessions, store, grown, user=603, answers=_answers("change_in_sensation"))
    assert decision.tier == "soon" and _codes(decision)[0] == CHECKLIST
    assert [e["concept"] for e in _measured(decision)] == ["changing_size"]


def test_without_the_coin_size_is_unknown_and_unknown_lowers_nothing(sessions: sessionmaker[Session],
                                                                     store: ImageStore) -> None:
    # The patient says it grew and changed shape (4 points); the new photo has no coin, so size is unknown.
    case, decision = _visit(sessions, store, lesion_photo(radius=143, coin_radius=None), user=604,
                            answers=_answers("changing_size", "changing_shape"))
    assert case.lesion_measurement and case.lesion_measurement["change"]["size"]["verdict"] == "unknown"
    assert "coin" in case.lesion_measurement["change"]["size"]["detail"]
    assert decision.tier == "soon" and _codes(decision)[0] == CHECKLIST and _measured(decision) == []


def test_an_unchanged_lesion_photographed_closer_adds_nothing(sessions: sessionmaker[Session],
                                                              store: ImageStore) -> None:
    case, decision = _visit(sessions, store, lesion_photo(zoom=1.3), user=605)
    change = case.lesion_measurement["change"] if case.lesion_measurement else {}
    assert {k: v["verdict"] for k, v in change.items()} == {"size": "unchanged", "shape": "unchanged",
                                                             "colour": "unchanged"}
    assert decision.tier == "routine" and _measured(decision) == []


def test_a_photo_without_a_lesion_is_unknown_and_the_case_is_still_answered(sessions: sessionmaker[Session],
                                                                             store: ImageStore) -> None:
    blank = lesion_photo(radius=0.5, coin_radius=None)  # skin only: nothing stands out
    case, decision = _visit(sessions, store, blank, user=606, answers=_answers("bleeding"))
    assert case.lesion_measurement and case.lesion_measurement["photo"]["problem"] == "no_lesion"
    assert {v["verdict"] for v in case.lesion_measurement["change"].values()} == {"unknown"}
    assert decision.tier == "soon" and "red_flag.bleeding_lesion" in _codes(decision)


def test_a_measurement_that_fails_costs_nothing_but_the_measurement(sessions: sessionmaker[Session],
                                                                    store: ImageStore,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise MemoryError("a photo too large to measure")

    monkeypatch.setattr(lesion_visits, "measure_lesion", broken)
    case, decision = _visit(sessions, store, lesion_photo(radius=143), user=607)
    assert case.lesion_measurement == {"format": 1, "problem": "measurement_failed"}
    assert decision.tier == "routine" and case.status == "forwarded"


def test_without_a_known_coin_diameter_sizes_are_compared_in_coin_diameters(sessions: sessionmaker[Session],
                                                                           store: ImageStore) -> None:
    case, decision = _visit(sessions, store, lesion_photo(radius=143), user=608, coin_mm=None,
                            answers=_answers("change_in_sensation"))
    record = case.lesion_measurement or {}
    assert record["photo"]["coin_mm"] is None and record["photo"]["diameter_mm"][2] == "coin diameters"
    assert record["change"]["size"]["verdict"] == "changed" and "coin diameters²" in record["change"]["size"]["detail"]
    assert "mm" not in record["change"]["size"]["detail"]
    assert decision.tier == "soon" and "coin diameters²" in _measured(decision)[0]["text"]
    rows = dict(lesion_format.measurement_rows(record["photo"]))
    assert rows["Longest diameter"].endswith("coin diameters") and " mm" not in rows["Area"]


def test_visits_measured_on_different_scales_are_not_compared_in_size(sessions: sessionmaker[Session],
                                                                      store: ImageStore) -> None:
    patient, first, lesion_id = followed(sessions, store, user=609)
    lesion_visits.stored_or_measured(sessions, store, first, 24.26)  # the first visit measured in mm
    visit = submit(sessions, store, patient_id=patient.id, lesion_id=lesion_id, photos=[jpeg(lesion_photo(radius=180))])
    triage(sessions, store, visit, coin_mm=None)  # then the deployment's coin diameter was unset
    with sessions() as session:
        record = session.get_one(Case, visit).lesion_measurement or {}
    assert record["change"]["size"]["verdict"] == "unknown" and "coin" in record["change"]["size"]["detail"]
    assert record["change"]["shape"]["verdict"] in ("changed", "unchanged")  # shape and colour still compare


def test_the_stored_measurement_reads_back_as_it_was_measured() -> None:
    measured = measure_lesion(lesion_photo(), coin_diameter_mm=24.26)
    record = lesion_visits.measurement_record(measured, 7, 24.26)
    assert lesion_visits.measurement_of(record) == measured
    assert lesion_visits.measurement_of({"problem": None, "area_px": "lots"}) is not None  # bad numbers: dropped
    for broken in (None, {}, [], {"problem": None, "outline": [[1]]}, {"problem": None, "colour": {"L50": [1]}}):
        result = lesion_visits.measurement_of(broken)  # type: ignore[arg-type]
        assert result is None or result.colour == {}


# -- PAD-UFES-20: real lesions, a coin drawn beside them, resized and recoloured by the test ------------------------
def _darkened(photo: Image.Image) -> Image.Image | None:
    """The lesion's upper-left quarter darkened, inside the outline the measurement finds; None without one."""
    found = measure_lesion(photo)
    if found.problem or not found.outline:
        return None
    xs, ys = [x for x, _ in found.outline], [y for _, y in found.outline]
    box = (round(min(xs)), round(min(ys)), round((min(xs) + max(xs)) / 2), round((min(ys) + max(ys)) / 2))
    out = photo.copy()
    out.paste(ImageEnhance.Brightness(out.crop(box)).enhance(0.45), box)
    return out


@pytest.fixture(scope="module")
def real_photos() -> list[Image.Image]:
    """Four PAD-UFES-20 dev photos resized to 800 px wide (no scale object of their own)."""
    return [p.resize((800, round(800 * p.height / p.width)), Image.Resampling.LANCZOS)
            for p in dev_photos(4, start=100)]


@pytest.fixture(scope="module")
def real_lesions(real_photos: list[Image.Image]) -> list[Image.Image]:
    """The same photos with a grey coin drawn beside the lesion, as a patient following it would place one."""
    return [with_coin(p, 0.07 * p.width) for p in real_photos]


@pytest.mark.slow
def test_real_lesions_recoloured_raise_the_tier_with_what_the_patient_said(
        sessions: sessionmaker[Session], store: ImageStore, real_lesions: list[Image.Image]) -> None:
    raised = compared = 0
    for n, photo in enumerate(real_lesions):
        darker = _darkened(photo)
        if darker is None:
            continue
        case, decision = _visit(sessions, store, darker, first=photo, user=650 + n,
                                answers=_answers("change_in_sensation"))
        compared += 1
        change = case.lesion_measurement["change"] if case.lesion_measurement else {}
        assert change["size"]["verdict"] != "changed" or change["size"]["change"][0] > 0
        if change["colour"]["verdict"] == "changed":
            assert decision.tier == "soon" and "changing_colour" in {e["concept"] for e in _measured(decision)}
            raised += 1
        else:
            assert decision.tier == "routine"  # a change the photos cannot show adds nothing
    assert compared >= 3 and raised >= 2


@pytest.mark.slow
def test_real_lesions_photographed_again_add_no_measured_change(
        sessions: sessionmaker[Session], store: ImageStore, real_photos: list[Image.Image],
        real_lesions: list[Image.Image]) -> None:
    for n, photo in enumerate(real_lesions[:3]):
        again = ImageEnhance.Brightness(photo).enhance(1.04)  # the same scene, a shade brighter, re-encoded
        case, decision = _visit(sessions, store, again, first=photo, user=660 + n)
        assert decision.tier == "routine" and _measured(decision) == [], case.lesion_measurement
        # Taken closer without the coin: a size in pixels says nothing, so size is unknown, never "changed".
        case, decision = _visit(sessions, store, closer(real_photos[n], 1.3), first=photo, user=670 + n)
        change = (case.lesion_measurement or {}).get("change") or {}
        assert change.get("size", {"verdict": "unknown"})["verdict"] == "unknown"
        assert "changing_size" not in {e["concept"] for e in _measured(decision)}
