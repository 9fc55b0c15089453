"""parse_case: the contract's JSON in, a Case out, or one clear CaseError naming the field."""

from __future__ import annotations

import pytest

from triage.rules import Case, CaseError, parse_case


def test_it_reads_the_contract_example() -> None:
    case = parse_case(
        {
            "patient": {
                "age_years": 34,
                "sex": "female",
                "pregnant": False,
                "immunosuppressed": False,
                "diabetes": False,
            },
            "answers": {
                "duration_days": 14,
                "body_sites": ["face"],
                "extent": "small_area",
                "symptoms": ["itch", "bleeding"],
            },
            "text": "the patient's own words",
            "model": {"differential": [{"condition": "melanoma", "likelihood": 0.41}], "image_quality": "good"},
        }
    )
    assert case == Case(
        age_years=34.0,
        sex="female",
        pregnant=False,
        immunosuppressed=False,
        diabetes=False,
        duration_days=14.0,
        body_sites=frozenset({"face"}),
        extent="small_area",
        symptoms=frozenset({"itch", "bleeding"}),
        text="the patient's own words",
        differential=(("melanoma", 0.41),),
        image_quality="good",
        model_present=True,
    )


def test_everything_missing_is_unknown() -> None:
    case = parse_case({})
    assert case == Case()
    assert case.age_years is None and case.pregnant is None and not case.model_present
    assert not case.has_model_output


def test_null_counts_as_not_given() -> None:
    assert parse_case({"patient": None, "answers": {"symptoms": None, "extent": None}, "model": None}) == Case()


def test_unknown_fields_and_unknown_vocabulary_keys_are_ignored() -> None:
    case = parse_case(
        {
            "favourite_colour": "blue",
            "patient": {"shoe_size": 42},
            "answers": {"symptoms": ["fever", "hiccups"], "body_sites": ["elbow", "face"], "extent": "galactic"},
            "model": {
                "differential": [{"condition": "made_up", "likelihood": 0.3, "extra": 1}],
                "image_quality": "sublime",
            },
        }
    )
    assert case.symptoms == {"fever"}
    assert case.body_sites == {"face"}
    assert case.extent is None and case.image_quality is None
    assert case.differential == (("made_up", 0.3),)  # kept: it counts as `other` when assessed


def test_vocabulary_keys_are_read_case_insensitively() -> None:
    case = parse_case({"answers": {"symptoms": ["Fever", " non-blanching rash "], "extent": "Most_Of_Body"}})
    assert case.symptoms == {"fever", "non_blanching_rash"}
    assert case.extent == "most_of_body"


def test_likelihoods_at_the_bounds_are_accepted() -> None:
    case = parse_case(
        {"model": {"differential": [{"condition": "a", "likelihood": 0}, {"condition": "b", "likelihood": 1}]}}
    )
    assert case.differential == (("a", 0.0), ("b", 1.0))


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ([1, 2], "case", "expected an object, got a list"),
        ("hello", "case", "expected an object, got a string"),
        ({"patient": "old"}, "patient", "expected an object"),
        ({"patient": {"age_years": "34"}}, "patient.age_years", "got a string"),
        ({"patient": {"age_years": -1}}, "patient.age_years", "from 0 to 150, got -1"),
        ({"patient": {"age_years": True}}, "patient.age_years", "got a boolean"),
        ({"patient": {"pregnant": "no"}}, "patient.pregnant", "expected true or false"),
        ({"patient": {"immunosuppressed": 0}}, "patient.immunosuppressed", "expected true or false"),
        ({"patient": {"diabetes": []}}, "patient.diabetes", "expected true or false"),
        ({"patient": {"sex": 1}}, "patient.sex", "expected a string"),
        ({"answers": {"symptoms": "fever"}}, "answers.symptoms", "expected a list of strings, got a string"),
        ({"answers": {"symptoms": ["fever", 3]}}, "answers.symptoms", "a list with a non-string item"),
        ({"answers": {"body_sites": {"face": True}}}, "answers.body_sites", "expected a list of strings"),
        ({"answers": {"extent": 3}}, "answers.extent", "expected a string"),
        ({"answers": {"duration_days": "two weeks"}}, "answers.duration_days", "expected a number"),
        ({"answers": {"duration_days": -3}}, "answers.duration_days", "at least 0"),
        ({"text": ["words"]}, "text", "expected a string"),
        ({"model": []}, "model", "expected an object"),
        ({"model": {"differential": {"melanoma": 0.4}}}, "model.differential", "expected a list"),
        ({"model": {"differential": ["melanoma"]}}, "model.differential[0]", "got a string"),
        ({"model": {"differential": [None]}}, "model.differential[0]", "likelihood} object, got null"),
        ({"model": {"differential": [{"likelihood": 0.4}]}}, "model.differential[0].condition", "missing"),
        (
            {"model": {"differential": [{"condition": 7, "likelihood": 0.4}]}},
            "model.differential[0].condition",
            "expected a string",
        ),
        (
            {"model": {"differential": [{"condition": "melanoma", "likelihood": "high"}]}},
            "model.differential[0].likelihood",
            "from 0 to 1, got a string",
        ),
        (
            {
                "model": {
                    "differential": [
                        {"condition": "x", "likelihood": 0.1},
                        {"condition": "melanoma", "likelihood": 1.5},
                    ]
                }
            },
            "model.differential[1].likelihood",
            "from 0 to 1, got 1.5",
        ),
        (
            {"model": {"differential": [{"condition": "melanoma", "likelihood": -0.1}]}},
            "model.differential[0].likelihood",
            "got -0.1",
        ),
        (
            {"model": {"differential": [{"condition": "melanoma", "likelihood": float("nan")}]}},
            "model.differential[0].likelihood",
            "got nan",
        ),
        ({"model": {"differential": [{"condition": "melanoma"}]}}, "model.differential[0].likelihood", "missing"),
        ({"model": {"image_quality": False}}, "model.image_quality", "expected a string"),
        ({"patient": {"age_years": 10**400}}, "patient.age_years", "a very large number"),
    ],
)
def test_it_names_the_field_with_the_wrong_type_or_value(data: object, field: str, words: str) -> None:
    with pytest.raises(CaseError) as caught:
        parse_case(data)
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith(f"{field}: ")
    assert words in message
    assert "\n" not in message


def test_a_case_error_is_a_value_error() -> None:
    assert issubclass(CaseError, ValueError)


def test_it_reads_the_2026_12_fields() -> None:
    case = parse_case(
        {
            "patient": {"skin_type": "iv"},
            "answers": {"skipped": ["Changing size", "bleeding", "favourite_food"]},
            "model": {"lesion_discharge_validated": True},
        }
    )
    assert case.skin_type == "IV"
    assert case.skipped == {"changing_size", "bleeding", "favourite_food"}  # every question key is kept
    assert case.lesion_discharge_validated is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "I"), (6, "VI"), (3.0, "III"), ("VI", "VI"), ("type II", "II"), (" v ", "V"), ("VII", None), ("dark", None)],
)
def test_skin_type_is_a_fitzpatrick_type_or_not_given(value: object, expected: str | None) -> None:
    assert parse_case({"patient": {"skin_type": value}}).skin_type == expected


def test_the_new_fields_default_to_unknown_and_not_validated() -> None:
    case = parse_case({"model": {"lesion_discharge_validated": None}})
    assert case.lesion_discharge_validated is False and case.skipped == frozenset() and case.skin_type is None


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"answers": {"skipped": "bleeding"}}, "answers.skipped", "expected a list of strings, got a string"),
        ({"answers": {"skipped": ["bleeding", 2]}}, "answers.skipped", "non-string item"),
        ({"model": {"lesion_discharge_validated": "yes"}}, "model.lesion_discharge_validated", "true or false"),
        ({"model": {"lesion_discharge_validated": 1}}, "model.lesion_discharge_validated", "true or false"),
        ({"patient": {"skin_type": 7}}, "patient.skin_type", "I to VI, or 1 to 6), got 7"),
        ({"patient": {"skin_type": 2.5}}, "patient.skin_type", "got 2.5"),
        ({"patient": {"skin_type": True}}, "patient.skin_type", "got a boolean"),
        ({"patient": {"skin_type": ["IV"]}}, "patient.skin_type", "got a list"),
    ],
)
def test_the_new_fields_name_themselves_when_wrong(data: object, field: str, words: str) -> None:
    with pytest.raises(CaseError) as caught:
        parse_case(data)
    assert caught.value.field == field
    assert words in str(caught.value) and "\n" not in str(caught.value)
