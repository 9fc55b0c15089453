"""The openai backend against a fake OpenAI-compatible server running on the test's event loop."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from model_server.api import AnalyzeRequest, AnalyzeResponse
from model_server.backends import create_backend
from model_server.backends.openai import OpenAIBackend
from model_server.prepared import PreparedRequest, prepare_request
from model_server.settings import load_settings

from .conftest import ClientFactory
from .helpers import jpeg, json_body


class FakeOpenAI:
    """Answers chat completions according to a marker in the prompt; records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        text = " ".join(
            part.get("text", "") if isinstance(part, dict) else str(part)
            for message in body["messages"]
            for part in (message["content"] if isinstance(message["content"], list) else [message["content"]])
        )
        if "EXPLODE" in text:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if "GARBAGE" in text:
            content = "I think it's fine}}{{ not json"
        else:
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
            content = "```json\n" + json.dumps(reply) + "\n```"
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": content}}]})


@pytest.fixture
async def fake_openai() -> AsyncIterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.chat)
    server = TestServer(app)
    await server.start_server()
    yield fake, str(server.make_url("/v1"))
    await server.close()


def case(question: str = "", **fields: Any) -> PreparedRequest:
    return prepare_request(AnalyzeRequest(question=question, **fields), [jpeg(0)])


async def analyze(backend: OpenAIBackend, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
    # The backend blocks (it runs on the model thread); the fake server needs this loop free.
    return await asyncio.get_running_loop().run_in_executor(None, backend.analyze_batch, items)


async def test_it_sends_images_as_data_urls_with_a_json_schema(fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, url = fake_openai
    backend = OpenAIBackend(url, "medgemma", api_key="sk-x")
    backend.load()
    [response] = await analyze(backend, [case("what is it?", candidates=["melanoma", "melanocytic_nevus"])])
    backend.close()
    assert isinstance(response, AnalyzeResponse)
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


async def test_garbage_gives_an_even_spread_and_a_failure_fails_only_its_item(
    fake_openai: tuple[FakeOpenAI, str],
) -> None:
    _, url = fake_openai
    backend = OpenAIBackend(url, "m")
    backend.load()
    good, garbage, broken = await analyze(backend, [case("fine"), case("GARBAGE"), case("EXPLODE")])
    backend.close()
    assert isinstance(good, AnalyzeResponse) and isinstance(garbage, AnalyzeResponse)
    spread = [item.likelihood for item in garbage.differential]
    assert max(spread) - min(spread) <= 2e-6 and math.isclose(sum(spread), 1.0, abs_tol=1e-9)
    assert isinstance(broken, Exception) and "500" in str(broken)


async def test_it_is_chosen_by_settings_and_serves_through_the_app(
    fake_openai: tuple[FakeOpenAI, str], app_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = fake_openai
    monkeypatch.setenv("MODEL_BACKEND", "openai")
    monkeypatch.setenv("MODEL_OPENAI_URL", url)
    monkeypatch.setenv("MODEL_OPENAI_MODEL", "medgemma")
    backend = create_backend(load_settings())
    client = await app_client(backend)
    response = await client.post("/v1/analyze", json=json_body([jpeg(0)], question="hello"))
    assert response.status == 200
    assert (await response.json())["differential"][0]["condition"] == "melanoma"
    assert (await client.get("/healthz")).status == 200
    backend.close()


async def test_health_fails_when_the_remote_server_is_down(app_client: ClientFactory) -> None:
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", timeout_s=2)
    client = await app_client(backend)
    assert (await client.get("/healthz")).status == 503
    backend.close()
