"""Case snapshots built by hand, for the pure tests of the bundle and the letter: every field filled, and the
hostile and long texts the exports must carry safely."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tests.images import skin_photo
from triage.case_snapshot import CaseSnapshot, ClinicianNote, Decision, ModelOutput, Photo

T0 = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script> & <b>bold</b> ]]> {{ 7*7 }} %PDF \u202eevil\u202c'
RTL = "הפריחה מגרדת מאוד — الطفح الجلدي يحك كثيرا"
EMOJI = "it itches 😫🔥👍🏽 so much"


def photos(n: int = 3, *, data: bool = True) -> tuple[Photo, ...]:
    out = []
    for i in range(n):
        raw = skin_photo(320 + 40 * i, 240, with_gps=False)
        out.append(Photo(image_id=10 + i, sha256=f"{i:064x}", content_type="image/jpeg", width=320 + 40 * i,
                         height=240, size_bytes=len(raw),
                         quality={"brightness": 120.5, "sharpness": 0.41, "detail": 3.2, "skin": 0.8,
                                  "verdict": "good"},
                         created_at=T0, storage_key=f"key{i}", data=raw if data else None))
    return tuple(out)


def snapshot(**changes: Any) -> CaseSnapshot:
    """A closed, referred case with every part filled in; `changes` replace fields."""
    base = CaseSnapshot(
        case_id=42,
        case_ref="AbCd1234",
        organisation="north",
        language="en",
        status="closed",
        tier="urgent",
        triage_tier="soon",
        submitted_at=T0,
        closed_at=T0 + dt.timedelta(hours=3),
        pseudonym="7d6f2a8e-5a7c-4a55-9f3e-0e1c9a0b1c2d",
        consent_version="2026-11",
        consented_at=T0 - dt.timedelta(minutes=5),
        patient={"age_years": 34, "sex": "female", "pregnant": False, "immunosuppressed": True,
                 "age_answer": {"group": "adult"}},
        answers={"duration_days": 14, "body_sites": ["face", "near_eye"], "extent": "small_area",
                 "symptoms": ["fever", "blisters", "near_eye", "changing_size", "not_a_symptom"]},
        patient_text="It started on my cheek and now it spreads. " + HOSTILE,
        photos=photos(),
        deleted_photos=0,
        decision=Decision(tier="soon", forwarded=True, reasons=[
            {"code": "red_flag.bleeding_lesion", "text": "Bleeding or non-healing lesion", "tier": "soon"},
            {"code": "red_flag.near_eye_blisters_or_pain", "text": "Blisters near the eye", "tier": "urgent",
             "evidence": "blisters by my eye"},
        ], ruleset_version="2026.11.0", model_used=True, at=T0 + dt.timedelta(minutes=1)),
        model=ModelOutput(backend="hf", model_id="google/medgemma-4b-it", model_revision="0123abcd" * 5,
                          differential=[{"condition": "herpes_zoster", "likelihood": 0.55},
                                        {"condition": "stevens_johnson_syndrome_ten", "likelihood": 0.2},
                                        {"condition": "something_new", "likelihood": 0.1}],
                          findings=["grouped vesicles", "crusting", HOSTILE], image_quality=["good"],
                          at=T0 + dt.timedelta(seconds=50)),
        clinician_id=7,
        clinician_name="Dr Alice Example",
        final_diagnosis="herpes_zoster",
        disposition="referred",
        tier_override_reason="Near the eye: same-day ophthalmology review.",
        latest_reply=ClinicianNote("Please go to the eye clinic today. " + HOSTILE, T0 + dt.timedelta(hours=2)),
        exported_at=T0 + dt.timedelta(days=1),
    )
    return dataclasses.replace(base, **changes)
