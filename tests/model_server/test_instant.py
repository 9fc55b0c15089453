"""The `instant` backend: no model, for load tests; it must never let a case look reassuring."""

from __future__ import annotations

import pytest

from model_server.backends import instant
from model_server.backends.instant import InstantBackend
from tests.model_server.conftest import ClientFactory
from tests.model_server.helpers import jpeg, multipart
from triage.rules import assess, parse_case


async def test_instant_answers_at_once_and_can_only_lead_to_a_clinician(app_client: ClientFactory) -> None:
    backend = InstantBackend()
    backend.load()
    client = await app_client(backend)
    resp = await client.post("/v1/analyze", data=multipart([jpeg(1), jpeg(2)], {"language": "es"}))
    assert resp.status == 200
    body = await resp.json()
    assert body["differential"] == [{"condition": "other", "likelihood": 1.0}]
    assert body["image_quality"] == ["poor", "poor"] and body["language"] == "es"
    assert "No model" in body["answer"]
    model = {"differential": body["differential"], "image_quality": "poor"}
    decision = assess(parse_case({"patient": {"age_years": 30}, "model": model}))
    assert decision.tier != "self_care" and decision.forward_to_clinician


def test_a_delay_stands_in_for_a_model_time(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []
    monkeypatch.setattr(instant.time, "sleep", waited.append)
    backend = InstantBackend(delay_s=1.5)
    backend.load()
    assert InstantBackend().delay_s == 0.0
    assert backend.analyze_batch([]) == [] and waited == [1.5]
