"""Evaluating cases: answers asked concurrently and taken in order, a server that stops answering, the per-case
file's round trip."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.evaluate.helpers import evaluate, read_rows, result, write_dataset
from tests.processes import free_port
from triage.evaluate.answers import ModelAnswer, ServerModel, rules_only
from triage.evaluate.labels import BadInput, LabelledCase
from triage.evaluate.progress import Progress
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


class _Answers(BaseHTTPRequestHandler):
    """A model server that is healthy but answers every analysis with the status in ``server.analyze_status``."""

    def do_GET(self) -> None:
        self._reply(200, {"status": "ok", "backend": "test", "model_id": "test"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = self.server.analyze_status  # type: ignore[attr-defined]
        self._reply(status, {"error": {"code": "invalid_request", "message": "no"}})

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_server_failing_every_case_stops_the_run_with_exit_status_3_and_keeps_what_was_done(
    failing_server: ThreadingHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing_server.analyze_status = 503  # type: ignore[attr-defined]
    monkeypatch.setenv("MODEL_MAX_ATTEMPTS", "1")
    labels = write_dataset(tmp_path / "data")
    url = f"http://127.0.0.1:{failing_server.server_address[1]}"
    many = tmp_path / "many.csv"
    many.write_text("case_id,image,diagnosis\n" + "".join(f"c{i},data/photos/mel-1.jpg,melanoma\n" for i in range(15)))
    assert labels.parent == tmp_path / "data"
    assert evaluate("--csv", str(many), "--model-url", url, "--concurrency", "1", "--out", str(tmp_path / "r")) == 3
    err = capsys.readouterr().err
    assert "stopped: 10 cases in a row could not reach the model server; 10 cases done" in err
    assert [r["error"] for r in read_rows(tmp_path / "r" / "cases.csv")] == ["model: model server answered 503"] * 10


def test_a_request_the_server_refuses_is_an_error_on_its_case_and_the_run_goes_on(
    failing_server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    failing_server.analyze_status = 422  # type: ignore[attr-defined]
    labels = write_dataset(tmp_path / "data")
    url = f"http://127.0.0.1:{failing_server.server_address[1]}"
    assert evaluate("--csv", str(labels), "--split", "all", "--model-url", url, "--out", str(tmp_path / "r")) == 0
    errors = {r["case_id"]: r["error"] for r in read_rows(tmp_path / "r" / "cases.csv")}
    assert errors["mel-1"] == "model: model server refused the request: 422 invalid_request"
    assert errors["sek-2"] == ""  # no photo: assessed without the model


def test_progress_is_reported_at_most_once_per_interval_with_rate_and_time_left() -> None:
    now = [0.0]
    stream = io.StringIO()
    progress = Progress(100, stream, interval_s=2.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 0.5
        progress.step()
    assert stream.getvalue().splitlines() == [
        "evaluate: 4/100 cases (4%), 2.0 cases/s, about 48s left",
        "evaluate: 8/100 cases (8%), 2.0 cases/s, about 46s left",
    ]
