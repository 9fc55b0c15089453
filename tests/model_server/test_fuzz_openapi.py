"""schemathesis against the server's own `/openapi.json`: generated requests (valid and invalid) to every
operation of a real server on the `instant` backend. No answer may be a 500, and every answer must have a
documented status, content type and schema. Bounded (`max_examples`, derandomized) to run in seconds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the dev extra) is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from model_server.backends.instant import InstantBackend  # noqa: E402
from model_server.openapi import openapi_document  # noqa: E402

from .live import LiveServer  # noqa: E402

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    script = Path(tmp_path_factory.mktemp("script")) / "concepts.json"
    script.write_text(json.dumps({"concepts": [{"key": "fever", "words": ["fever"], "always": True}]}))
    backend = InstantBackend(concepts_script=script)
    with LiveServer(backend) as url:
        yield url


@SCHEMA.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_500_or_an_undocumented_answer(case: Any, live_url: str) -> None:
    response = case.call(base_url=live_url, timeout=30)
    case.validate_response(response, checks=CHECKS)
