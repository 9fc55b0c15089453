"""Remote backends run concurrently: calls overlap up to MODEL_MAX_CONCURRENCY, one slow call holds only its own
request, a full queue answers 503 with Retry-After. Against a real fake OpenAI-compatible server; the tests
count calls in flight, they never measure time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from model_server.app import batcher_key
from model_server.backends.openai import OpenAIBackend
from model_server.fake_openai import FakeOpenAI, prompt_text
from model_server.remote import RemoteDispatcher

from .conftest import ClientFactory
from .helpers import jpeg, json_body
from .test_app import assert_error, wait_until


class SlowWhenAsked(FakeOpenAI):
    """Holds only the calls whose prompt says SLOW, until released."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = asyncio.Event()

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if "SLOW" in prompt_text(body):
            await self.slow.wait()
        return await self._answer(body)

    async def _answer(self, body: dict[str, Any]) -> web.StreamResponse:
        self.requests.append(body)
        return web.json_response({"choices": [{"message": {"content": self.reply(body)}}]})


async def serve(fake: FakeOpenAI) -> TestServer:
    server = TestServer(fake.app())
    await server.start_server()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[TestServer]]:
    started: list[TestServer] = []
    yield started
    for server in started:
        await server.close()


async def model_server(
    app_client: ClientFactory, servers: list[TestServer], fake: FakeOpenAI, **settings: Any
) -> TestClient[Any, Any]:
    server = await serve(fake)
    servers.append(server)
    backend = OpenAIBackend(str(server.make_url("/v1")), fake.model, timeout_s=30)
    return await app_client(backend, **settings)


def dispatcher(client: TestClient[Any, Any]) -> RemoteDispatcher:
    found = client.app[batcher_key]  # type: ignore[index]
    assert isinstance(found, RemoteDispatcher)
    return found


async def test_calls_overlap_up_to_the_limit(app_client: ClientFactory, servers: list[TestServer]) -> None:
    fake = FakeOpenAI()
    fake.hold_calls()
    client = await model_server(app_client, servers, fake, max_concurrency=16, max_batch_size=1)
    posts = [
        asyncio.create_task(client.post("/v1/analyze", json=json_body([jpeg(i)], question=f"q{i}"))) for i in range(8)
    ]
    await wait_until(lambda: fake.in_flight == 8)  # all eight are at the remote server at once
    fake.release()
    responses = await asyncio.gather(*posts)
    assert [response.status for response in responses] == [200] * 8
    assert fake.max_in_flight == 8
    timings = [(await response.json())["timings"] for response in responses]
    assert all(t["batch_size"] == 1 for t in timings)


async def test_beyond_the_limit_requests_wait_and_beyond_the_queue_get_503(
    app_client: ClientFactory, servers: list[TestServer]
) -> None:
    fake = FakeOpenAI()
    fake.hold_calls()
    client = await model_server(app_client, servers, fake, max_concurrency=2, max_queue=2)
    posts = [asyncio.create_task(client.post("/v1/analyze", json=json_body([jpeg(i)]))) for i in range(4)]
    await wait_until(lambda: fake.in_flight == 2 and dispatcher(client).depth == 2)
    refused = await client.post("/v1/analyze", json=json_body([jpeg(9)]))
    await assert_error(refused, 503, "queue_full")
    assert int(refused.headers["Retry-After"]) >= 1
    fake.release()
    assert [(await post).status for post in posts] == [200] * 4
    assert fake.max_in_flight == 2 and len(fake.requests) == 4


async def test_one_slow_call_holds_only_its_own_request(app_client: ClientFactory, servers: list[TestServer]) -> None:
    fake = SlowWhenAsked()
    client = await model_server(app_client, servers, fake, max_concurrency=8, max_batch_size=8)
    slow = asyncio.create_task(client.post("/v1/analyze", json=json_body([jpeg(0)], question="SLOW")))
    await wait_until(lambda: dispatcher(client).running == 1)
    quick = await asyncio.gather(
        *(client.post("/v1/analyze", json=json_body([jpeg(i)], question=f"quick {i}")) for i in range(3))
    )
    assert [response.status for response in quick] == [200] * 3
    assert not slow.done()  # still waiting for the remote, while three others were answered
    fake.slow.set()
    assert (await slow).status == 200


async def test_a_client_that_leaves_frees_its_place_for_the_next(
    app_client: ClientFactory, servers: list[TestServer]
) -> None:
    fake = FakeOpenAI()
    fake.hold_calls()
    client = await model_server(app_client, servers, fake, max_concurrency=1, max_queue=4)
    leaving = asyncio.create_task(client.post("/v1/analyze", json=json_body([jpeg(0)], question="leaving")))
    await wait_until(lambda: fake.in_flight == 1)
    staying = asyncio.create_task(client.post("/v1/analyze", json=json_body([jpeg(1)], question="staying")))
    await wait_until(lambda: dispatcher(client).depth == 1)
    leaving.cancel()
    await wait_until(lambda: len(fake.requests) == 2)  # the waiting request's call started
    assert dispatcher(client).running == 1 and dispatcher(client).depth == 0
    fake.release()
    assert (await staying).status == 200


async def test_concepts_go_through_the_same_limit(app_client: ClientFactory, servers: list[TestServer]) -> None:
    fake = FakeOpenAI()
    fake.hold_calls()
    fake.concept_claims = [{"key": "itch", "quote": "it itches"}, {"key": "fever", "quote": "a fever"}]
    client = await model_server(app_client, servers, fake, max_concurrency=4)
    body = {
        "text": "It itches a lot",
        "concepts": [{"key": "itch", "description": "itching"}, {"key": "fever", "description": "a fever"}],
    }
    posts = [asyncio.create_task(client.post("/v1/concepts", json=body)) for _ in range(4)]
    await wait_until(lambda: fake.in_flight == 4)
    fake.release()
    for post in posts:
        response = await post
        assert response.status == 200
        answer = await response.json()
        assert answer["concepts"] == [{"key": "itch", "quote": "It itches", "start": 0}]
        assert answer["dropped"] == ["fever"]
