"""The extractor in detail: negation, colloquial grammar, typos, numbers, ages, spans, hostile input, and
languages as data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.rules import CONCEPTS, extract
from triage.rules.freetext import languages
from triage.rules.languages import LanguageError, load_language
from triage.rules.words import tokenize


def concepts(text: str) -> frozenset[str]:
    return extract(text).concepts


def negated(text: str) -> frozenset[str]:
    return frozenset(f.concept for f in extract(text).negated)


@pytest.mark.parametrize(
    ("text", "kept", "cancelled"),
    [
        ("no fever but my lips are swelling", {"swelling_face_lips_tongue"}, {"fever"}),
        ("my lips are dry not swollen", set(), {"swelling_face_lips_tongue"}),
        ("the spots fade when I press a glass on them", set(), {"non_blanching_rash"}),
        ("the spots don't fade when I press a glass on them", {"non_blanching_rash"}, set()),
        ("it does not bleed", set(), {"bleeding"}),
        ("it's no longer bleeding", {"bleeding"}, set()),  # it bled: not a negation of the finding
        ("not sure if it's a fever, 38.4 on the thermometer", {"fever"}, set()),
        ("no fever. Now I do have a fever", {"fever"}, set()),  # stated anywhere: it counts
        ("sin fiebre, pero se me hinchan los labios", {"swelling_face_lips_tongue"}, {"fever"}),
        ("ya no sangra", {"bleeding"}, set()),
        ("las manchas no se me quitan al apretar", {"non_blanching_rash"}, set()),
        ("ça saigne pas", set(), {"bleeding"}),
        ("ça ne saigne plus", {"bleeding"}, set()),
        ("pas de fièvre mais des cloques dans la bouche", {"blisters", "mucosal_involvement"}, {"fever"}),
        ("je sais pas si c'est de la fièvre", {"fever"}, set()),
        ("une fièvre pas trop forte", {"fever"}, set()),  # a mild fever is a fever
        ("I can't sleep because it itches", {"itch"}, set()),  # "because" starts a new clause
        ("nothing helps it keeps bleeding", {"bleeding"}, set()),
        ("it's not very painful", {"pain"}, set()),
        ("me sangra no sé por qué", {"bleeding"}, set()),
    ],
)
def test_negation_cancels_only_that_finding_and_only_when_unambiguous(
    text: str, kept: set[str], cancelled: set[str]
) -> None:
    assert kept <= concepts(text), extract(text)
    assert not cancelled & concepts(text), extract(text)
    assert cancelled <= negated(text) | denied_outright(text)


def denied_outright(text: str) -> frozenset[str]:
    """Concepts a message states are absent without ever naming them as present ("they fade under a glass")."""
    return (
        frozenset({"non_blanching_rash"})
        if "fade" in text and "non_blanching_rash" not in concepts(text)
        else frozenset()
    )


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("j'arrive pas à respirer", "difficulty_breathing"),
        ("jarrive pa a respire", "difficulty_breathing"),
        ("ma langue gonfle et j'ai du mal a avaler", "swelling_face_lips_tongue"),
        ("ma langue gonfle et j'ai du mal a avaler", "mucosal_involvement"),
        ("manchas moradas que no se me quitan", "non_blanching_rash"),
        ("swelling of my lips", "swelling_face_lips_tongue"),
        ("lips ... really badly swollen", "swelling_face_lips_tongue"),
        ("my lipps are swolen", "swelling_face_lips_tongue"),
        ("blistres on my arm", "blisters"),
        ("no puedo respirrar", "difficulty_breathing"),
        ("ampoyas en la mano", "blisters"),
        ("I CAN’T BREATHE!!", "difficulty_breathing"),
        ("red from head to toe", "most_of_body"),
        ("on tablets after my kidney transplant", "immunosuppressed"),
        ("she is 20 weeks pregnant", "pregnant"),
        ("estoy embarazada", "pregnant"),
        ("type 2 diabetic", "diabetes"),
        ("je suis diabétique", "diabetes"),
    ],
)
def test_colloquial_typos_and_modifiers(text: str, concept: str) -> None:
    assert concept in concepts(text), extract(text)


@pytest.mark.parametrize("text", ["spain", "slips", "pian", "feather", "peeing a lot at night", "she is breeding dogs"])
def test_short_words_and_real_words_never_fuzz_into_a_finding(text: str) -> None:
    assert not {"pain", "swelling_face_lips_tongue", "fever", "skin_peeling", "bleeding"} & concepts(text)


@pytest.mark.parametrize(
    ("text", "celsius"),
    [
        ("temperature 39,2", 39.2),
        ("temp of 101.8 last night", 38.8),
        ("100.4F", 38.0),
        ("fiebre de 38", 38.0),
        ("38 y medio de fiebre", 38.5),
        ("mon fils a 39,5", 39.5),
        ("il a 38.9°", 38.9),
    ],
)
def test_temperatures_from_38_c_or_100_4_f_are_a_fever(text: str, celsius: float) -> None:
    fevers = [f for f in extract(text).findings if f.concept == "fever"]
    assert fevers and fevers[0].value == pytest.approx(celsius, abs=0.05)


@pytest.mark.parametrize(
    "text", ["temperature 37.9", "100.3 F", "temp is normal, 36.8", "38 weeks pregnant", "tengo 39 años", "37,5"]
)
def test_lower_temperatures_and_other_numbers_are_not(text: str) -> None:
    assert "fever" not in concepts(text)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("my 6 week old has a rash", 6 * 7 / 365.25),
        ("my six-week-old son", 6 * 7 / 365.25),
        ("mi bebé de 2 meses", 2 / 12),
        ("mi niña de 5 semanas tiene fiebre de 38", 5 * 7 / 365.25),
        ("ma fille de 6 semaines", 6 * 7 / 365.25),
        ("le bébé a 3 semaines", 3 * 7 / 365.25),
        ("my newborn has spots", 7 / 365.25),
        ("my 4 year old", 4),
        ("I'm 34 and my 10 day old has a rash", 10 / 365.25),
    ],
)
def test_ages_in_words_and_numbers(text: str, years: float) -> None:
    assert extract(text).youngest_age == pytest.approx(years, rel=0.02)


@pytest.mark.parametrize(
    "text",
    [
        "it's been there 3 weeks",
        "desde hace 2 meses",
        "il y a 2 mois",
        "depuis 6 semaines",
        "it is 8 mm",
        "I'm a nurse and she is a teacher",
        "he's a bit better",
    ],
)
def test_durations_and_sizes_are_not_ages(text: str) -> None:
    assert extract(text).youngest_age is None


def test_sizes_from_7_mm_count() -> None:
    assert "diameter_7mm_or_more" in concepts("about 8mm across")
    assert "diameter_7mm_or_more" in concepts("mide 1,5 cm")
    assert "diameter_7mm_or_more" not in concepts("about 5 mm")


def test_mixed_language_messages_are_read_in_every_language() -> None:
    assert {"fever", "difficulty_breathing"} <= concepts("tengo fever y no puedo respirar")
    assert {"bleeding", "blisters"} <= concepts("it bleeds et il y a des cloques")


def test_each_finding_records_the_exact_words_it_came_from() -> None:
    text = "Hello!! My leg hurts like crazy and the red part gets bigger every hour."
    findings = extract(text).findings
    assert {f.concept for f in findings} >= {"severe_pain", "rapidly_spreading"}
    for finding in findings:
        assert text[finding.start : finding.end] == finding.text


hostile = st.text(max_size=3000) | st.lists(
    st.sampled_from(["no", "fever", "39,2", "ne", "pas", "+", "@", "*", "🙂", "\u0301", "٣٨", "°", "\n", "lips"]),
    max_size=400,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(hostile)
def test_no_message_crashes_the_extractor_and_spans_are_exact(text: str) -> None:
    result = extract(text)
    for finding in (*result.findings, *result.negated):
        assert finding.concept in CONCEPTS
        assert 0 <= finding.start <= finding.end <= len(text)
        assert text[finding.start : finding.end] == finding.text


def test_a_very_long_message_is_read_to_the_end() -> None:
    text = "it itches a bit and " * 5_000 + "now I can't breathe"  # 100,000 characters
    assert "difficulty_breathing" in concepts(text)
    assert "x" * 1_000_000 and extract("x" * 1_000_000).findings == ()


def test_every_shipped_language_covers_every_concept() -> None:
    for language in languages():
        covered = {p.concept for p in language.patterns if p.role in ("term", "newborn")}
        # fever, sizes and ages also come from numbers; every concept still has words
        assert CONCEPTS - covered - {"age", "diameter_7mm_or_more"} == set(), language.code


TOY_LANGUAGES = {
    "arabic (right to left, clitics glued to the word)": (
        """
        [language]
        code = "ar"
        stemmer = "arabic"
        direction = "rtl"
        [tokens]
        clitic_prefixes = ["وال", "و", "ال"]
        [concepts]
        fever = ["حمى", "حرارة"]
        difficulty_breathing = ["ضيق + تنفس*"]
        [negation]
        before = ["لا", "ليس", "بدون"]
        """,
        "عندي ضيق في التنفس والحمى",
        {"fever", "difficulty_breathing"},
        "بدون حمى",
    ),
    "swahili (no stemmer: prefixes do the work)": (
        """
        [language]
        code = "sw"
        stemmer = "none"
        [concepts]
        fever = ["homa"]
        blisters = ["malengelenge", "vipele vya maji"]
        difficulty_breathing = ["sipumui*", "shida + kupumua"]
        [negation]
        before = ["bila", "hakuna", "si"]
        """,
        "mtoto ana homa na shida ya kupumua",
        {"fever", "difficulty_breathing"},
        "hakuna homa",
    ),
    "hindi (Devanagari, vowel signs kept)": (
        """
        [language]
        code = "hi"
        stemmer = "hindi"
        keep_marks = true
        [concepts]
        fever = ["बुखार"]
        bleeding = ["खून", "खून बह*"]
        [negation]
        before = ["नहीं", "बिना"]
        after = ["नहीं"]
        after_scope = 2
        """,
        "मुझे बुखार है और खून बह रहा है",
        {"fever", "bleeding"},
        "बुखार नहीं है",
    ),
}


@pytest.mark.parametrize("name", TOY_LANGUAGES)
def test_a_new_language_is_a_data_file_with_no_code_change(name: str) -> None:
    source, message, expected, negation = TOY_LANGUAGES[name]
    language = load_language(source, f"toy {name}", CONCEPTS)
    assert expected <= extract(message, using=[language]).concepts
    assert "fever" not in extract(negation, using=[language]).concepts
    assert "fever" in {f.concept for f in extract(negation, using=[language]).negated}


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("[language]\ncode = 'xx'\n[concepts]\nfevr = ['x']", "not a concept the rules know"),
        ("[language]\ncode = 'xx'\n[concepts]\nfever = ['@nothing']", "unknown group"),
        ("[language]\ncode = 'xx'\nstemmer = 'klingon'", "unknown stemmer"),
        ("[language]\ncode = 'xx'\n[concepts]\nfever = 'hot'", "list of non-empty strings"),
        ("[language]\ncode = 'xx'\n[concepts]\nfever = ['f*']", "too short"),
        ("[language]\n[concepts]", "code is missing"),
        ("this is = not toml [", "not valid TOML"),
        ("[language]\ncode = 'xx'\n[groups]\ng = ['two words']", "single words"),
        ("[language]\ncode = 'xx'\n[ages]\npatterns = ['U old']", "exactly one N"),
    ],
)
def test_a_broken_language_file_is_refused_with_a_clear_message(source: str, words: str) -> None:
    with pytest.raises(LanguageError, match=words) as caught:
        load_language(source, "languages/xx.toml", CONCEPTS)
    assert "languages/xx.toml" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("spots all over my arms", "most_of_body"),
        ("new blood pressure pills", "bleeding"),
        ("me salió una calentura en el labio", "fever"),
        ("encore un bouton de fièvre", "fever"),
        ("se puso azul oscuro casi negro", "oozing"),  # "puso": a stem of 3 letters must match whole ("pus")
        ("HIV positive, rash on my back", "immunosuppressed"),  # not in CLINICAL.md's list (README: limits)
    ],
)
def test_look_alikes_are_not_findings(text: str, absent: str) -> None:
    assert absent not in concepts(text), extract(text)


def test_tense_is_not_read_so_a_past_fever_counts() -> None:
    assert "fever" in concepts("had a fever last month")
    assert "fever" in concepts("had fever yesterday, 37.5 today")  # a normal reading never cancels "fever"
    assert "fever" not in concepts("temperature 37.5 today")


def test_other_scripts_digits_and_stops() -> None:
    assert tokenize("٣٨,٥")[0].value == 38.5
    sentences = [token.sentence for token in tokenize("बुखार है। खून")]
    assert sentences == [0, 0, 1]
    clauses = [token.clause for token in tokenize("حمى، سعال")]
    assert clauses == [0, 1]
