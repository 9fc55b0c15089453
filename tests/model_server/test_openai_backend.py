"""The openai backend against a fake OpenAI-compatible server (a real aiohttp server on localhost)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from model_server.api import AnalyzeRequest, AnalyzeResponse, ConceptSpec, ConceptsRequest
from model_server.backends import create_backend
from model_server.backends.openai import OpenAIBackend, reported_revision
from model_server.fake_openai import FakeOpenAI, prompt_text
from model_server.prepared import PreparedRequest, prepare_request
from model_server.settings import load_settings

from .conftest import ClientFactory
from .helpers import jpeg, json_body


class ScriptedOpenAI(FakeOpenAI):
    """Answers by a marker in the prompt: EXPLODE gives a 500, GARBAGE a reply that is not JSON."""

    def reply(self, body: dict[str, Any]) -> str | web.StreamResponse:
        text = prompt_text(body)
        if "EXPLODE" in text:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if "GARBAGE" in text:
            return "I think it's fine}}{{ not json"
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "patient_concepts":
            return super().reply(body)
        reply = {
            "differential": [
                {"condition": "melanoma", "likelihood": 60},
                {"condition": "melanocytic_nevus", "likelihood": 30},
                {"condition": "dragon_pox", "likelihood": 99},
                {"condition": "other", "likelihood": "lots"},
            ],
            "findings": ["asymmetric dark lesion"],
            "answer": "Please see a dermatologist soon.",
        }
        return "```json\n" + json.dumps(reply) + "\n```"


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[ScriptedOpenAI, str]]:
    fake = ScriptedOpenAI()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url("/v1"))
    await server.close()


def case(question: str = "", **fields: Any) -> PreparedRequest:
    return prepare_request(AnalyzeRequest(question=question, **fields), [jpeg(0)])


@pytest.fixture
async def started() -> AsyncIterator[list[OpenAIBackend]]:
    """Backends appended here are closed after the test."""
    backends: list[OpenAIBackend] = []
    yield backends
    for backend in backends:
        await backend.aclose()


async def start(backends: list[OpenAIBackend], url: str, model: str = "medgemma", **kwargs: Any) -> OpenAIBackend:
    backend = OpenAIBackend(url, model, **kwargs)
    backend.load()
    await backend.start()
    backends.append(backend)
    return backend


async def test_it_sends_images_as_data_urls_with_a_json_schema(
    fake_openai: tuple[ScriptedOpenAI, str], started: list[OpenAIBackend]
) -> None:
    fake, url = fake_openai
    backend = await start(started, url, api_key="sk-x")
    response = await backend.analyze_one(case("what is it?", candidates=["melanoma", "melanocytic_nevus"]))
    sent = fake.requests[0]
    assert sent["model"] == "medgemma" and sent["temperature"] == 0
    parts = sent["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    schema = sent["response_format"]["json_schema"]["schema"]
    assert sent["response_format"]["type"] == "json_schema"
    enum = schema["properties"]["differential"]["items"]["properties"]["condition"]["enum"]
    assert enum == ["melanoma", "melanocytic_nevus", "other"]
    likelihoods = {item.condition: item.likelihood for item in response.differential}
    assert likelihoods["melanoma"] == pytest.approx(2 / 3, abs=1e-5)
    assert likelihoods["melanocytic_nevus"] == pytest.approx(1 / 3, abs=1e-5)
    assert response.findings == ["asymmetric dark lesion"] and response.answer == "Please see a dermatologist soon."
    assert response.backend == "openai" and response.model_id == "medgemma"


async def test_garbage_gives_an_even_spread_and_a_failure_raises(
    fake_openai: tuple[ScriptedOpenAI, str], started: list[OpenAIBackend]
) -> None:
    _, url = fake_openai
    backend = await start(started, url)
    garbage = await backend.analyze_one(case("GARBAGE"))
    spread = [item.likelihood for item in garbage.differential]
    assert max(spread) - min(spread) <= 2e-6 and math.isclose(sum(spread), 1.0, abs_tol=1e-9)
    with pytest.raises(RuntimeError, match="500"):
        await backend.analyze_one(case("EXPLODE"))


async def test_its_identity_is_the_remote_model_and_revision_not_hashed(
    fake_openai: tuple[ScriptedOpenAI, str], started: list[OpenAIBackend]
) -> None:
    fake, url = fake_openai
    backend = await start(started, url, model=fake.model)
    identity = backend.identity
    assert (identity.model_id, identity.backend, identity.revision) == (fake.model, "openai", "fake/rev-1")
    assert identity.weights_hashed is False and identity.weights_sha256 == ""
    fake.revision = "fake/rev-2"  # the remote was redeployed behind the same name
    await backend.check_health()
    assert backend.identity.revision == "fake/rev-2" and backend.identity.identity != identity.identity


def test_the_revision_is_read_from_the_models_listing() -> None:
    listing = {"data": [{"id": "other", "root": "x"}, {"id": "m", "root": "m"}, {"id": "m", "revision": "abc"}]}
    assert reported_revision(listing, "m") == "abc"
    assert reported_revision({"data": "junk"}, "m") == reported_revision(None, "m") == ""


async def test_concepts_ask_for_the_concept_schema_and_read_the_claims(
    fake_openai: tuple[ScriptedOpenAI, str], started: list[OpenAIBackend]
) -> None:
    fake, url = fake_openai
    fake.concept_claims = [{"key": "fever", "quote": "I have a fever"}]
    backend = await start(started, url)
    request = ConceptsRequest(text="I have a fever", concepts=[ConceptSpec(key="fever", description="a fever")])
    response = await backend.concepts_one(request)
    sent = fake.requests[-1]
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["concepts"]["items"]["properties"]["key"]["enum"] == ["fever"]
    assert "I have a fever" in prompt_text(sent)
    assert [(c.key, c.quote) for c in response.concepts] == [("fever", "I have a fever")]


async def test_it_is_chosen_by_settings_and_serves_through_the_app(
    fake_openai: tuple[ScriptedOpenAI, str], app_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = fake_openai
    monkeypatch.setenv("MODEL_BACKEND", "openai")
    monkeypatch.setenv("MODEL_OPENAI_URL", url)
    monkeypatch.setenv("MODEL_OPENAI_MODEL", "medgemma")
    backend = create_backend(load_settings())
    client = await app_client(backend)
    response = await client.post("/v1/analyze", json=json_body([jpeg(0)], question="hello"))
    assert response.status == 200
    body = AnalyzeResponse.model_validate(await response.json())
    assert body.differential[0].condition == "melanoma"
    assert body.identity is not None and body.identity.backend == "openai" and not body.identity.weights_hashed
    assert (await client.get("/healthz")).status == 200
    failed = await client.post("/v1/analyze", json=json_body([jpeg(0)], question="EXPLODE"))
    assert failed.status == 500 and (await failed.json())["error"]["code"] == "model_error"


async def test_health_fails_when_the_remote_server_is_down(app_client: ClientFactory) -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout_s=2)
    client = await app_client(backend)
    assert (await client.get("/healthz")).status == 503


async def test_a_reply_too_large_is_refused(started: list[OpenAIBackend]) -> None:
    class Huge(FakeOpenAI):
        def reply(self, body: dict[str, Any]) -> str:
            return "x" * (5 * 1024 * 1024)

    server = TestServer(Huge().app())
    await server.start_server()
    try:
        backend = await start(started, str(server.make_url("/v1")))
        with pytest.raises(RuntimeError, match="over"):
            await backend.analyze_one(case("hi"))
    finally:
        await server.close()


async def test_the_backend_needs_starting_on_the_serving_loop() -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m")
    backend.load()
    with pytest.raises(Exception, match="not started"):
        await asyncio.wait_for(backend.analyze_one(case("hi")), 5)
