"""The generic labelled CSV and the simulated model's file: what they accept, and every way they are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.evaluate.helpers import CASES, write_dataset, write_simulation
from triage.evaluate.labelled_csv import load_labelled_csv
from triage.evaluate.labels import BadInput, LabelledCase
from triage.evaluate.simulate import load_simulated_model

EXAMPLES = Path(__file__).resolve().parents[2] / "triage" / "evaluate" / "examples"
PAD_CLASSES = {"actinic_keratosis", "basal_cell_carcinoma", "melanocytic_nevus", "melanoma", "seborrheic_keratosis",
               "squamous_cell_carcinoma"}  # fmt: skip


def write_csv(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "labels.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_the_generic_csv_gives_cases_with_answers_photos_and_demographics(tmp_path: Path) -> None:
    cases = load_labelled_csv(write_dataset(tmp_path))
    assert [c.case_id for c in cases] == [c[0] for c in CASES]
    first = cases[0]
    assert first.diagnosis == "melanoma"
    assert first.images == (tmp_path / "photos" / "mel-1.jpg",)
    assert first.answers["patient"] == {"age_years": 61.0, "sex": "female", "skin_type": 2}
    assert first.answers["answers"]["symptoms"] == ["changing_size", "changing_shape"]
    assert cases[3].answers["answers"]["skipped"] == ["bleeding"]
    assert cases[8].images == () and cases[3].skin_type is None


def test_a_minimal_csv_needs_only_image_and_diagnosis(tmp_path: Path) -> None:
    cases = load_labelled_csv(write_csv(tmp_path, "image,diagnosis\na.jpg;b.jpg,Melanoma\n,basal-cell carcinoma\n"))
    assert cases[0] == LabelledCase("row2", "melanoma", {"patient": {}, "answers": {}},
                                    (tmp_path / "a.jpg", tmp_path / "b.jpg"))  # fmt: skip
    assert cases[1].diagnosis == "basal_cell_carcinoma" and cases[1].images == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("picture,label\nx.jpg,melanoma\n", "missing column(s) image, diagnosis"),
        ("image,diagnosis\nx.jpg,melanome\n", "line 2: diagnosis: not a condition key of CLINICAL.md: 'melanome'"),
        ("image,diagnosis\nx.jpg,\n", "diagnosis: not a condition key of CLINICAL.md: '(empty)'"),
        ("image,diagnosis\n", "no cases"),
        ("", "missing column(s)"),
        ("image,diagnosis,answers\nx.jpg,melanoma,{not json\n", "line 2: answers: not valid JSON"),
        ('image,diagnosis,answers\nx.jpg,melanoma,"[1, 2]"\n', "answers: expected a JSON object"),
        ('image,diagnosis,answers\nx.jpg,melanoma,"{""answers"": {""symptoms"": ""fever""}}"\n',
         "answers: answers.symptoms: expected a list of strings"),
        ('image,diagnosis,answers\nx.jpg,melanoma,"{""patient"": ""old""}"\n', "answers: patient: expected an object"),
        ("image,diagnosis,age\nx.jpg,melanoma,ninety\n", "age: not a number"),
        ("image,diagnosis,age\nx.jpg,melanoma,nan\n", "age: expected 0 to 150"),
        ("image,diagnosis,skin_type\nx.jpg,melanoma,VII\n", "skin_type: not a Fitzpatrick skin type"),
        ("case_id,image,diagnosis\na,x.jpg,melanoma\na,y.jpg,melanoma\n", "line 3: case_id repeated: 'a'"),
        ("image,diagnosis\n" + ";".join(f"{i}.jpg" for i in range(7)) + ",melanoma\n", "at most 6"),
        ("image,diagnosis\nx.jpg,melanoma,extra\n", "line 2: expected 2 fields"),
        ('image,diagnosis\n"x.jpg,melanoma\n', "expected 2 fields"),
    ],
)
def test_a_bad_csv_is_refused_in_one_line_naming_the_problem(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(BadInput) as caught:
        load_labelled_csv(write_csv(tmp_path, text))
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_hostile_csv_files_are_refused_not_crashed_on(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not UTF-8"):
        load_labelled_csv(write_csv(tmp_path, "image,diagnosis\nx.jpg,mélanome\n", encoding="latin-1"))
    with pytest.raises(BadInput, match="not a readable CSV file"):
        load_labelled_csv(write_csv(tmp_path, "image,diagnosis,answers\nx.jpg,melanoma," + "a" * 200_000 + "\n"))
    deep = "[" * 60_000 + "]" * 60_000  # under the CSV field limit, far over the JSON nesting limit
    with pytest.raises(BadInput, match="answers: not valid JSON"):
        load_labelled_csv(write_csv(tmp_path, f"image,diagnosis,answers\nx.jpg,melanoma,{deep}\n"))
    with pytest.raises(BadInput, match="cannot read"):
        load_labelled_csv(tmp_path / "absent.csv")
    with pytest.raises(BadInput, match="cannot read"):
        load_labelled_csv(tmp_path)


# -- the simulated model -------------------------------------------------------------------------------------
def test_the_shipped_examples_load_and_cover_pads_classes() -> None:
    for name in ("perfect", "accuracy_70", "confident_benign"):
        model = load_simulated_model(EXAMPLES / f"{name}.json")
        assert set(model.confusion) == PAD_CLASSES, name


def case(case_id: str, diagnosis: str) -> LabelledCase:
    return LabelledCase(case_id, diagnosis)


def test_a_perfect_model_names_the_diagnosis_on_top_as_a_distribution() -> None:
    model = load_simulated_model(EXAMPLES / "perfect.json")
    for index, diagnosis in enumerate(sorted(PAD_CLASSES)):
        answer = model.answer(case(str(index), diagnosis))
        assert answer.differential[0].condition == diagnosis
        assert 0.6 <= answer.differential[0].likelihood <= 1.0
        assert sum(d.likelihood for d in answer.differential) == pytest.approx(1.0, abs=1e-5)
        assert answer.backend == "simulated" and answer.model_id == "perfect"


def test_the_confidently_benign_model_says_seborrheic_keratosis_at_0_7_for_everything() -> None:
    model = load_simulated_model(EXAMPLES / "confident_benign.json")
    answer = model.answer(case("x", "melanoma"))
    assert (answer.differential[0].condition, answer.differential[0].likelihood) == ("seborrheic_keratosis", 0.7)
    assert all(d.likelihood < 0.2 for d in answer.differential[1:])  # nothing dangerous counts


def test_draws_depend_on_the_case_not_on_the_order_and_follow_the_matrix() -> None:
    model = load_simulated_model(EXAMPLES / "accuracy_70.json")
    first = [model.answer(case(str(i), "melanoma")) for i in range(2000)]
    again = [model.answer(case(str(i), "melanoma")) for i in reversed(range(2000))][::-1]
    assert first == again
    right = sum(a.differential[0].condition == "melanoma" for a in first) / len(first)
    assert 0.66 < right < 0.74  # 0.7 expected; 2000 draws put this outside with odds of about 1 in 10,000


def test_a_confidence_below_an_even_share_still_keeps_the_drawn_class_on_top(tmp_path: Path) -> None:
    path = write_simulation(tmp_path / "low.json", {"melanoma": {"melanoma": 1.0}, "dermatofibroma": {"melanoma": 1.0}},
                            {"kind": "fixed", "value": 0.1})  # fmt: skip
    answer = load_simulated_model(path).answer(case("a", "melanoma"))
    assert answer.differential[0].condition == "melanoma"
    assert answer.differential[0].likelihood == 0.5


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ([], "expected a JSON object"),
        ({"confusion": {}}, "confusion: expected an object of rows"),
        ({"confusion": {"melanoma": {"melanome": 1.0}}}, "not a condition key of CLINICAL.md: melanome"),
        ({"confusion": {"melanoma": {"melanoma": 0.5}}}, "add up to 0.5, not 1"),
        ({"confusion": {"melanoma": {"melanoma": -1, "other": 2}}}, "at least 0"),
        ({"confusion": {"melanoma": {"melanoma": "all"}}}, "must be numbers"),
        ({"confidence": {"kind": "gaussian"}}, "kind: expected fixed, uniform or beta"),
        ({"confidence": {"kind": "fixed", "value": 1.5}}, "fixed needs a value above 0"),
        ({"confidence": {"kind": "uniform", "low": 0.9, "high": 0.1}}, "low <= high"),
        ({"confidence": {"kind": "beta", "a": 0}}, "beta needs a and b above 0"),
        ({"confidence": {"kind": "beta", "a": float("inf")}}, "must be numbers"),
        ({"image_quality": "great"}, "image_quality: expected one of"),
        ({"seed": "x"}, "seed: expected an integer"),
        ({"name": ""}, "name: expected a string"),
    ],
)
def test_a_bad_simulation_file_is_refused_naming_the_field(tmp_path: Path, spec: Any, words: str) -> None:
    valid = {"confusion": {"melanoma": {"melanoma": 1.0}}, "confidence": {"kind": "fixed", "value": 0.7}}
    content = {**valid, **spec} if isinstance(spec, dict) else spec
    path = tmp_path / "model.json"
    path.write_text(json.dumps(content))
    with pytest.raises(BadInput, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_simulated_model(path)


def test_unreadable_and_oversized_simulation_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        load_simulated_model(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(BadInput, match="not valid JSON"):
        load_simulated_model(tmp_path / "bad.json")
    (tmp_path / "big.json").write_text(" " * (2 * 1024 * 1024))
    with pytest.raises(BadInput, match="larger than 1 MiB"):
        load_simulated_model(tmp_path / "big.json")
