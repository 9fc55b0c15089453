"""Evaluating cases: answers asked concurrently and taken in order, a server that stops answering, the per-case
file's round trip."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.evaluate.helpers import result
from tests.processes import free_port
from triage.evaluate.answers import ModelAnswer, ServerModel, rules_only
from triage.evaluate.labels import BadInput, LabelledCase
from triage.evaluate.results import CaseResult, ResultWriter, read_results, write_results
from triage.evaluate.run import ModelServerDown, evaluate_all, evaluate_case
from triage.model_client import ModelClient

CASES = [LabelledCase(f"c{i}", "melanoma", {"patient": {"age_years": 50}, "answers": {"symptoms": []}})
         for i in range(12)]  # fmt: skip


def test_answers_are_asked_concurrently_and_results_come_in_case_order() -> None:
    barrier = threading.Barrier(4, timeout=30)  # passes only if four answers are being asked at the same time

    def answerer(case: LabelledCase) -> ModelAnswer:
        barrier.wait()
        return ModelAnswer(None)

    seen: list[CaseResult] = []
    evaluate_all(CASES, answerer, concurrency=4, give_up_after=10, on_result=seen.append)
    assert [r.case_id for r in seen] == [c.case_id for c in CASES]


def test_a_server_that_stops_answering_stops_the_run_after_enough_cases_in_a_row() -> None:
    calls: list[str] = []

    def answerer(case: LabelledCase) -> ModelAnswer:
        calls.append(case.case_id)
        down = case.case_id not in ("c0", "c1")
        return ModelAnswer(None, error="model: cannot reach" if down else "", unreachable=down)

    seen: list[CaseResult] = []
    with pytest.raises(ModelServerDown, match="3 cases in a row"):
        evaluate_all(CASES, answerer, concurrency=1, give_up_after=3, on_result=seen.append)
    assert [r.error for r in seen] == ["", "", "model: cannot reach", "model: cannot reach", "model: cannot reach"]


def test_the_real_client_to_a_closed_port_gives_an_unreachable_answer(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    from tests.images import skin_photo

    photo.write_bytes(skin_photo(240, 240, with_gps=False))
    client = ModelClient(f"http://127.0.0.1:{free_port()}", timeout_s=5, max_attempts=1, backoff_s=0)
    server = ServerModel(client, max_image_bytes=1_000_000, max_image_pixels=10_000_000)
    answer = server(LabelledCase("a", "melanoma", images=(photo,)))
    assert answer.unreachable and answer.response is None
    assert answer.error.startswith("model: cannot reach the model server")
    client.close()


def test_a_case_without_answers_that_parse_is_an_error_on_that_case() -> None:
    broken = LabelledCase("x", "melanoma", {"answers": {"symptoms": "fever"}})
    outcome = evaluate_case(broken, rules_only(broken))
    assert outcome.error.startswith("answers: answers.symptoms") and outcome.outcomes == ()


def test_results_survive_the_round_trip_through_the_per_case_file(tmp_path: Path) -> None:
    original = [
        result(
            "melanoma", "soon", forwarded=True, differential=(("melanoma", 0.61), ("other", 0.39)), skin_type=3,
            age=0.15, case_id="a,b",
        ),
        result("seborrheic_keratosis", "routine", validated_tier="self_care", case_id='say "hi"'),
    ]
    path = tmp_path / "cases.csv"
    writer = ResultWriter(path, original[:1])
    writer.add(original[1])
    writer.close()
    assert read_results(path) == original
    write_results(path, original[::-1])
    assert read_results(path) == original[::-1]


def test_a_per_case_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("id,tier\n1,soon\n")
    with pytest.raises(BadInput, match="not a per-case results file"):
        read_results(path)
    write_results(path, [result("melanoma", "soon")])
    path.write_text(path.read_text().replace(",soon,", ",soon,").replace("[]", "[oops"))
    with pytest.raises(BadInput, match="line 2: unreadable row"):
        read_results(path)
