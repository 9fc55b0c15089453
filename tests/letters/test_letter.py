"""The letter: renders in English, Spanish and French, for the referral and for the patient, with long texts and
three photos, never past the page's margins; hostile text stays text.

Renders of every page are left in /tmp/letter-*.png for a person to look at (docs/letter-sample.png is one).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.fhir.snapshots import EMOJI, HOSTILE, RTL, snapshot
from tests.letters.pdf import body_below_bottom_margin, outside_the_margins, read, render_png
from triage.case_snapshot import CaseSnapshot, ClinicianNote
from triage.letters import texts
from triage.letters.letter import letter_html, render_letter

TITLES = {("referral", "en"): "Dermatology referral", ("referral", "es"): "Derivación a dermatología",
          ("referral", "fr"): "Lettre d'adressage en dermatologie",
          ("patient", "en"): "Your skin check", ("patient", "es"): "Su consulta de piel",
          ("patient", "fr"): "Votre examen de la peau"}


def _long_case() -> CaseSnapshot:
    """Everything at its longest: a 3000-character reply (half of it one unbroken word), 1000-character reasons,
    a 3000-character patient text, three photos, a long clinician name."""
    base = snapshot()
    reply = ("x" * 1500 + " " + ("Please see the eye clinic today; " + RTL + " " + EMOJI + " ") * 40)[:3000]
    reasons = [{"code": f"red_flag.rule_{i}", "text": ("Long reason " * 100)[:1000], "tier": "urgent",
                "evidence": ("the patient's words " * 30)[:500]} for i in range(3)]
    assert base.decision is not None
    return dataclasses.replace(
        base,
        patient_text=("It started on my cheek. " * 130)[:3000],
        latest_reply=ClinicianNote(reply, base.exported_at),
        tier_override_reason=("Same-day ophthalmology. " * 50)[:1000],
        clinician_name="Dr " + "Alexandra-Maria " * 7 + "Example",
        decision=dataclasses.replace(base.decision, reasons=reasons),
    )


@pytest.mark.parametrize("language", texts.LANGUAGES)
@pytest.mark.parametrize("audience", ["referral", "patient"])
def test_long_letters_in_every_language_stay_inside_the_page(language: str, audience: str) -> None:
    snap = _long_case()
    letter = render_letter(snap, language=language, audience=audience)
    assert letter.data.startswith(b"%PDF-")
    assert letter.filename == f"case-42-{audience}-{language}.pdf"
    pages = read(letter.data)
    assert 2 <= len(pages) <= 6
    for n, page in enumerate(pages, 1):
        assert outside_the_margins(page) == [], f"page {n}"
        assert body_below_bottom_margin(page) == [], f"page {n}"
    text = "".join(p.text for p in pages).replace("\r\n", "\n")
    assert TITLES[(audience, language)] in text
    assert texts.tier_name(language, "urgent") in text and texts.tier_advice(language, "urgent")[:20] in text
    photos = [box for page in pages for box in page.image_boxes if box[2] - box[0] > 100]
    assert len(photos) == 3
    unbroken = "x" * 60
    assert unbroken in text.replace("\n", "")  # the 1500-character word is there, wrapped, not cut
    assert snap.clinician_name and "Example" in text
    render_png(letter.data, Path(f"/tmp/letter-{audience}-{language}"))


def test_the_patients_copy_says_why_in_plain_words_and_names_no_diagnosis_or_rule() -> None:
    snap = snapshot(language="es")
    pages = read(render_letter(snap, language="es", audience="patient").data)
    text = "".join(p.text for p in pages)
    assert texts.reason_words("es", "red_flag.x") in text
    assert text.count(texts.reason_words("es", "red_flag.x")) == 1  # one sentence per kind of reason
    for clinical in ("red_flag", "herpes", "zoster", "B02.9", "medgemma", "Blisters near the eye",
                     "Near the eye: same-day"):
        assert clinical not in text, clinical
    assert "Please go to the eye clinic today" in text  # the clinician's message to them
    referral = "".join(p.text for p in read(render_letter(snap, language="en", audience="referral").data))
    for clinical in ("red_flag.near_eye_blisters_or_pain", "herpes zoster", "B02.9", "google/medgemma-4b-it",
                     "Near the eye: same-day ophthalmology review.", "2026.11.0"):
        assert clinical in referral, clinical


def test_hostile_text_is_printed_as_text_and_the_pdf_fetches_and_runs_nothing() -> None:
    snap = snapshot(patient_text=HOSTILE + ' <img src="http://127.0.0.1:9/x.png"> <a href="javascript:x()">a</a>'
                    + " <style>*{display:none}</style> " + RTL + " " + EMOJI,
                    clinician_name='<a href="http://evil.example">Dr</a>')
    html = letter_html(snap, language="en", audience="referral")
    assert "<script>" not in html and "<img src=\"http" not in html and "<style>*" not in html
    assert "&lt;script&gt;" in html
    data = render_letter(snap, language="en", audience="referral").data
    for forbidden in (b"/JavaScript", b"/JS", b"/URI", b"/Launch", b"/EmbeddedFile"):
        assert forbidden not in data, forbidden
    text = "".join(p.text for p in read(data))
    squeezed = re.sub(r"\s+", "", text)
    assert re.sub(r"\s+", "", '<script>alert("x")</script>') in squeezed
    assert '<ahref="http://evil.example">Dr</a>' in squeezed
    assert "*{display:none}" in squeezed
    assert "evil" in text and "live" not in text  # a right-to-left override cannot turn the words round


def test_a_case_with_nothing_yet_still_makes_a_letter() -> None:
    bare = snapshot(decision=None, model=None, photos=(), patient={}, answers={}, patient_text="", tier=None,
                    triage_tier=None, clinician_id=None, clinician_name=None, final_diagnosis=None,
                    disposition=None, tier_override_reason=None, latest_reply=None, status="queued",
                    closed_at=None, deleted_photos=2)
    for language in texts.LANGUAGES:
        text = "".join(p.text for p in read(render_letter(bare, language=language, audience="referral").data))
        assert texts.t(language, "unsigned") in text
        assert texts.t(language, "photos_deleted", n=2) in text
        assert texts.t(language, "model_none")[:30] in text


def test_unreadable_photo_bytes_are_left_out_not_fatal() -> None:
    snap = snapshot()
    broken = dataclasses.replace(snap.photos[0], data=b"not an image")
    pages = read(render_letter(dataclasses.replace(snap, photos=(broken, *snap.photos[1:])), language="en",
                               audience="referral").data)
    assert len([b for p in pages for b in p.image_boxes if b[2] - b[0] > 100]) == 2


def test_an_unknown_language_gets_english() -> None:
    assert render_letter(snapshot(), language="de", audience="patient").filename == "case-42-patient-en.pdf"


def test_making_a_letter_leaves_the_photo_intake_refusing_truncated_files() -> None:
    """WeasyPrint turns on Pillow's truncated-image loading for the whole process when imported; the web process
    makes letters and also decodes patients' photos, which must still refuse a truncated file afterwards."""
    from tests.images import skin_photo
    from triage.images import ImageRejected, sanitize_image

    render_letter(snapshot(), language="en", audience="referral")
    with pytest.raises(ImageRejected) as info:
        sanitize_image(skin_photo()[:2000], max_bytes=20 * 1024 * 1024, max_pixels=40_000_000)
    assert info.value.reason == "unreadable"
