"""A fake OpenAI-compatible server (a real aiohttp app) for the benchmark and the tests.

`POST /v1/chat/completions` answers after `delay_s` with a fixed, valid analysis (or, when the request asks for
the `patient_concepts` schema, the concepts named in `concept_claims`); `GET /v1/models` lists the model with a
`root` revision. It counts the calls in flight and the most ever in flight at once, and can hold every call
until `release()` (to prove that calls overlap without measuring time).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

ANALYSIS = {
    "differential": [
        {"condition": "melanoma", "likelihood": 0.6},
        {"condition": "melanocytic_nevus", "likelihood": 0.3},
    ],
    "findings": ["asymmetric dark lesion"],
    "answer": "Please see a dermatologist soon.",
}


class FakeOpenAI:
    """The fake server's state and handlers; `app()` builds the aiohttp application."""

    def __init__(self, *, delay_s: float = 0.0, model: str = "fake-model", revision: str = "fake/rev-1") -> None:
        self.delay_s = delay_s
        self.model = model
        self.revision = revision
        self.requests: list[dict[str, Any]] = []
        self.concept_claims: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hold: asyncio.Event | None = None  # when set, every call waits for it

    def app(self) -> web.Application:
        """The aiohttp application serving `/v1/chat/completions` and `/v1/models`."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        return app

    def hold_calls(self) -> None:
        """Make every call wait until `release()`."""
        self.hold = asyncio.Event()

    def release(self) -> None:
        """Let held calls answer."""
        if self.hold is not None:
            self.hold.set()

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model, "root": self.revision}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            reply = self.reply(body)
        finally:
            self.in_flight -= 1
        if isinstance(reply, web.StreamResponse):
            return reply
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": reply}}]})

    def reply(self, body: dict[str, Any]) -> str | web.StreamResponse:
        """The assistant's content for a request (override to script other answers)."""
        schema_name = body.get("response_format", {}).get("json_schema", {}).get("name")
        if schema_name == "patient_concepts":
            return json.dumps({"concepts": self.concept_claims})
        return json.dumps(ANALYSIS)


def prompt_text(body: dict[str, Any]) -> str:
    """All the text parts of a chat request's messages, joined (for fakes that answer by what they are asked)."""
    parts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else [content]:
            parts.append(part.get("text", "") if isinstance(part, dict) else str(part))
    return " ".join(parts)
