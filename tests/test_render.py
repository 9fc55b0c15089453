"""What the patient and the clinicians read: the right words, in the right language, within Telegram's limits."""

from __future__ import annotations

from bot import render

PAYLOAD = {
    "tier": "soon", "forwarded": True, "model_used": True, "language": "en",
    "reasons": [{"code": "checklist.melanoma_7_point", "text": "Mole with concerning changes", "tier": "soon"},
                {"code": "model.default_tier.melanocytic_nevus", "text": "Looks like a mole", "tier": "self_care"}],
    "differential": [{"condition": "melanoma", "likelihood": 0.45}, {"condition": "melanocytic_nevus",
                                                                      "likelihood": 0.4},
                     {"condition": "other", "likelihood": 0.1}, {"condition": "acne", "likelihood": 0.05}],
    "findings": ["asymmetric <b>pigmented</b> lesion"], "answer": "Please see a doctor & bring this photo.",
}


def test_the_patient_reads_the_tier_first_then_why_in_plain_words_then_the_disclaimer() -> None:
    text = render.patient_result(PAYLOAD)
    assert text.index("within 2 weeks") < text.index("The spot has changed") < text.index("not a diagnosis")
    assert "Mole with concerning changes" not in text  # the rules' own text is the clinician's
    assert "Looks like a mole" not in text and "two weeks" in text  # only reasons of the deciding tier
    assert "&amp; bring" in text  # the model's words (already vetted by the worker) are escaped, never markup
    assert "dermatologist" in text


def test_the_patient_never_reads_a_condition_name_or_the_models_raw_findings() -> None:
    for language in ("en", "es", "fr"):
        text = render.patient_result({**PAYLOAD, "language": language}).lower()
        assert "melanoma" not in text and "nevus" not in text and "mole (melanocytic" not in text
        assert "pigmented" not in text  # the model's findings are in its own words and language: clinicians only


def test_other_languages_get_the_reasons_and_advice_in_their_words() -> None:
    text = render.patient_result({**PAYLOAD, "language": "es"})
    assert "2 semanas" in text and "La mancha ha cambiado" in text
    assert "Mole with concerning changes" not in text
    assert "no es un diagnóstico" in text
    french = render.patient_result({**PAYLOAD, "language": "fr"})
    assert "La tache a changé" in french


def test_a_fallback_answer_says_the_model_was_not_used() -> None:
    text = render.patient_result({**PAYLOAD, "model_used": False, "differential": [], "findings": [], "answer": ""})
    assert "answers only" in text


def test_the_clinician_alert_fits_a_photo_caption_and_escapes_patient_words() -> None:
    summary = {"answers": {"patient": {"age_years": 70, "immunosuppressed": True},
                           "answers": {"symptoms": ["bleeding"], "body_sites": ["face"]}},
               "text": "<script>alert(1)</script> " + "x" * 2000}
    text = render.clinician_alert(42, PAYLOAD, summary, limit=render.CAPTION_LIMIT)
    assert len(text) <= render.CAPTION_LIMIT
    assert text.startswith("<b>SOON (2 weeks)</b> · case #42")
    assert "<script>" not in text
    assert "age 70 years; immunosuppressed" in text  # stored by an older release: the number only


def test_the_alert_and_summary_show_the_age_as_the_patient_gave_it() -> None:
    chosen = {"answers": {"patient": {"age_years": 35, "age_answer": {"group": "adult"}}, "answers": {}}, "text": ""}
    typed = {"answers": {"patient": {"age_years": 0.25, "age_answer": {"n": 3, "unit": "months"}}, "answers": {}},
             "text": ""}
    assert "age 16–64 years" in render.clinician_alert(1, PAYLOAD, chosen, limit=render.MESSAGE_LIMIT)
    assert "35" not in render.clinician_alert(1, PAYLOAD, chosen, limit=render.MESSAGE_LIMIT)
    alert = render.clinician_alert(1, PAYLOAD, typed, limit=render.MESSAGE_LIMIT)
    assert "age 3 months" in alert and "0.25" not in alert


def test_followup_answers() -> None:
    assert "not a diagnosis" in render.followup_answer({"answer": "Use a mild soap.", "language": "en"})
    assert "automatiquement" in render.followup_answer({"failed": True, "language": "fr"})


def test_the_alert_quotes_the_patients_words_a_reason_came_from() -> None:
    payload = {**PAYLOAD, "tier": "emergency", "reasons": [
        {"code": "red_flag.fever_non_blanching_rash", "text": "Fever with a rash", "tier": "emergency",
         "evidence": [{"concept": "fever", "text": "39,2"}, {"concept": "non_blanching_rash", "text": "stay <b>"}]}]}
    alert = render.clinician_alert(5, payload, None, limit=render.MESSAGE_LIMIT)
    assert "— <i>“39,2”; “stay &lt;b&gt;”</i>" in alert


def test_the_alert_says_which_answers_the_patient_was_not_sure_of() -> None:
    """"Not sure" is unknown, not "no": the clinicians read it in the alert, not an absence."""
    summary = {"answers": {"patient": {}, "answers": {"symptoms": ["itch"], "skipped": ["changing_size", "bleeding"]}},
               "text": ""}
    alert = render.clinician_alert(3, PAYLOAD, summary, limit=render.MESSAGE_LIMIT)
    assert "symptoms: itch; not sure: changing_size, bleeding" in alert
