"""`triage.model_client.ModelClient` against a real model server on localhost: analyze and concepts, retries
for what may pass on a later try, none for what never will."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_server.api import AnalyzeRequest, ConceptSpec, ConceptsRequest, ConceptsResponse
from model_server.backends.instant import InstantBackend
from triage.model_client import ModelClient, ModelUnavailable

from .helpers import FakeBackend, jpeg
from .live import LiveServer

SPECS = [
    ConceptSpec(key="difficulty_breathing", description="trouble breathing"),
    ConceptSpec(key="fever", description="a fever"),
]


class FlakyInstant(InstantBackend):
    """Fails its first `failures` concept readings (a 500 each), then answers as scripted."""

    def __init__(self, script: Path, failures: int) -> None:
        super().__init__(concepts_script=script)
        self.failures = failures
        self.calls = 0

    def concepts_batch(self, requests: list[ConceptsRequest]) -> list[ConceptsResponse | Exception]:
        self.calls += len(requests)
        if self.failures > 0:
            self.failures -= 1
            return [RuntimeError("the model fell over") for _ in requests]
        return super().concepts_batch(requests)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"concepts": [{"key": "difficulty_breathing", "words": ["can't breathe"]}]}))
    return path


def client(url: str, attempts: int = 3) -> ModelClient:
    return ModelClient(url, timeout_s=10, max_attempts=attempts, backoff_s=0.01, sleep=lambda _s: None)


@pytest.fixture
def flaky(script: Path) -> Iterator[tuple[FlakyInstant, str]]:
    backend = FlakyInstant(script, failures=2)
    with LiveServer(backend) as url:
        yield backend, url


def test_concepts_come_back_grounded_after_retrying_server_errors(flaky: tuple[FlakyInstant, str]) -> None:
    backend, url = flaky
    model = client(url)
    answer = model.concepts(ConceptsRequest(text="Doctor, I can't breathe", concepts=SPECS))
    model.close()
    assert [(c.key, c.quote, c.start) for c in answer.concepts] == [("difficulty_breathing", "can't breathe", 10)]
    assert backend.calls == 3 and answer.identity is not None and answer.identity.backend == "instant"


def test_concepts_give_up_after_the_last_attempt(flaky: tuple[FlakyInstant, str]) -> None:
    backend, url = flaky
    with pytest.raises(ModelUnavailable) as caught:
        client(url, attempts=2).concepts(ConceptsRequest(text="hi", concepts=SPECS))
    assert not caught.value.permanent and "500" in str(caught.value) and backend.calls == 2


def test_a_backend_that_cannot_read_is_permanent_and_not_retried() -> None:
    with LiveServer(FakeBackend()) as url, pytest.raises(ModelUnavailable) as caught:
        client(url).concepts(ConceptsRequest(text="it itches", concepts=SPECS))
    assert caught.value.permanent and "not_supported" in str(caught.value)


def test_a_request_the_server_refuses_is_permanent(script: Path) -> None:
    bad = ConceptsRequest.model_construct(text="x" * 5000, language="en", concepts=SPECS)  # skips validation
    with LiveServer(InstantBackend(concepts_script=script)) as url, pytest.raises(ModelUnavailable) as caught:
        client(url).concepts(bad)
    assert caught.value.permanent and "422" in str(caught.value)


def test_analyze_still_works_and_reports_the_identity(script: Path) -> None:
    with LiveServer(InstantBackend()) as url:
        answer = client(url).analyze(AnalyzeRequest(question="hi"), [jpeg(0)])
    assert answer.backend == "instant" and answer.identity is not None


def test_an_unreachable_server_is_retried_then_temporary() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        client("http://127.0.0.1:9", attempts=2).concepts(ConceptsRequest(text="hi", concepts=SPECS))
    assert not caught.value.permanent
