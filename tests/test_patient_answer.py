"""Which of the model's own words may reach a patient (CLINICAL.md "What the patient reads")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.patient_answer import check, for_patient

GOOD = {
    "en": "The photo shows a red, dry patch. Keep the skin moisturised and avoid scratching; see a doctor if it "
          "spreads or bleeds.",
    "es": "La foto muestra una zona roja y seca. Mantenga la piel hidratada y evite rascarse; consulte a un médico "
          "si se extiende o sangra.",
    "fr": "La photo montre une plaque rouge et sèche. Gardez la peau hydratée et évitez de gratter ; consultez un "
          "médecin si elle s'étend ou saigne.",
}


@pytest.mark.parametrize("language", sorted(GOOD))
def test_a_plain_answer_in_the_patients_language_is_shown(language: str) -> None:
    assert check(GOOD[language], language, "routine").shown
    assert for_patient(GOOD[language], language, "soon") == GOOD[language]


@pytest.mark.parametrize("answer, language, why", [
    (GOOD["es"], "en", "not in the patient's language"),
    (GOOD["en"], "fr", "not in the patient's language"),
    ("<start_of_image> rash rash rash rash rash rash rash rash rash rash rash rash", "en", "unreadable"),
    ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "en", "unreadable"),
    ("ok", "en", "unreadable"),
    ("You have melanoma. It is a skin cancer and you should see a doctor within two weeks for it.", "en",
     "claims certainty"),
    ("Usted tiene una infección de la piel, así que debe ir al médico pronto para que la vea.", "es",
     "claims certainty"),
])
def test_an_answer_the_patient_should_not_rely_on_is_left_out(answer: str, language: str, why: str) -> None:
    verdict = check(answer, language, "routine")
    assert not verdict.shown and verdict.why == why
    assert for_patient(answer, language, "routine") == ""


def test_reassurance_is_left_out_when_the_tier_is_serious_and_allowed_when_it_is_not() -> None:
    calm = "This looks harmless, like a common spot on the skin. Keep it clean and watch whether it changes."
    assert check(calm, "en", "self_care").shown
    assert check(calm, "en", "routine").shown
    assert check(calm, "en", "soon").why == "reassures at a serious tier"
    assert not check(calm, "en", "emergency").shown
    assert not check("No se preocupe, es una mancha benigna de la piel que no necesita más cuidados ahora.", "es",
                     "urgent").shown


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000), st.sampled_from(["en", "es", "fr", "pt", "ar", "sw", "hi", "xx"]),
       st.sampled_from(["emergency", "urgent", "soon", "routine", "self_care"]))
def test_any_text_gets_a_verdict_and_never_raises(text: str, language: str, tier: str) -> None:
    verdict = check(text, language, tier)
    assert verdict.why == "ok" if verdict.shown else verdict.why
