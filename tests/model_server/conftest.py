"""Fixtures for the model server tests.

Tiny random-weight models are built once per session (a second each). Tests that need them are marked
`model` and skip with a reason when torch or transformers are not installed (the base install has neither).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from model_server.app import init_app
from model_server.backends.base import Backend
from model_server.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test, never from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("MODEL_"):
            monkeypatch.delenv(key)


def require_model_stack() -> None:
    pytest.importorskip("torch", reason="the model extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the model extra (transformers) is not installed")


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_model_stack()
    from model_server.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"), arch="gemma3", seed=0)


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_model_stack()
    from model_server.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llava"), arch="llava", seed=0)


@pytest.fixture(scope="session")
def gemma3_backend(tiny_gemma3: Path) -> Iterator[Backend]:
    """A loaded hf backend on the tiny Gemma3 model, shared by the session (never mutate it)."""
    from model_server.backends.hf import HFBackend

    backend = HFBackend(tiny_gemma3, device="cpu", max_new_tokens=12)
    backend.load()
    yield backend
    backend.close()


def make_settings(**values: Any) -> Settings:
    """Settings for an in-process app (no file checks: the backend is passed in)."""
    return Settings(**{"backend": "hf", "max_wait_ms": 5.0, **values})


@pytest.fixture
async def app_client() -> AsyncIterator[ClientFactory]:
    """`await app_client(backend, **settings)` starts the app on a test server and returns its client."""
    clients: list[TestClient[Any, Any]] = []

    async def start(backend: Backend, **settings: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(init_app(make_settings(**settings), backend)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
