"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM, TGI, Ollama) for scale-out.

Each request becomes one `POST {MODEL_OPENAI_URL}/chat/completions`: the photos as JPEG data URLs, the case as
text, `temperature` 0, and structured output requested with the portable `response_format: json_schema` form
(the condition keys as an enum; no length bounds on strings, which some grammar engines mishandle). The reply is
parsed tolerantly all the same, because not every server enforces the schema: unusable likelihoods give an
even spread over the candidates, i.e. an uncertain model, never a crash.

It is a `RemoteBackend`: calls are awaited on the server's event loop, up to `MODEL_MAX_CONCURRENCY` at once
(`remote.RemoteDispatcher`), so one slow call holds only its own request and the remote server batches.
Its identity is the remote model's name and the revision `GET /models` reports (`weights_hashed: false`).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from typing import Any

import aiohttp
from PIL import Image

from model_server.api import CONDITIONS, AnalyzeResponse, ConceptsRequest, ConceptsResponse, ModelIdentity
from model_server.backends.base import BackendError, RemoteBackend
from model_server.concepts import claims_response, concepts_prompt, concepts_schema, read_claims
from model_server.differential import candidate_keys, to_differential
from model_server.identity import make_identity
from model_server.parsing import find_json_object, parse_reply
from model_server.prepared import PreparedRequest
from model_server.prompts import Scrubber, answer_prompt

log = logging.getLogger(__name__)

MAX_SENT_SIDE = 1024  # photos are sent at most this long on their long side
MIN_COMPLETION_TOKENS = 512  # the JSON with a differential needs more room than a short answer
MAX_REPLY_BYTES = 4 * 1024 * 1024  # a remote answer larger than this is refused
REVISION_FIELDS = ("revision", "root", "version", "digest")  # what servers put in GET /models entries


def data_url(image: Image.Image) -> str:
    """The image as a `data:image/jpeg;base64,...` URL, shrunk to MAX_SENT_SIDE."""
    copy = image.copy()
    copy.thumbnail((MAX_SENT_SIDE, MAX_SENT_SIDE), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def response_schema(keys: list[str]) -> dict[str, Any]:
    """The JSON schema of the reply, with `keys` as the allowed conditions."""
    return {
        "type": "object",
        "properties": {
            "differential": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "condition": {"type": "string", "enum": keys},
                        "likelihood": {"type": "number"},
                    },
                    "required": ["condition", "likelihood"],
                    "additionalProperties": False,
                },
            },
            "findings": {"type": "array", "items": {"type": "string"}},
            "answer": {"type": "string"},
        },
        "required": ["differential", "findings", "answer"],
        "additionalProperties": False,
    }


def read_likelihoods(reply: dict[str, Any] | None, keys: list[str]) -> dict[str, float]:
    """Non-negative mass per candidate key from a parsed reply; unknown keys and junk are ignored."""
    mass = dict.fromkeys(keys, 0.0)
    entries = reply.get("differential") if isinstance(reply, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        key, value = entry.get("condition"), entry.get("likelihood")
        if key in mass and isinstance(value, int | float) and math.isfinite(value) and value > 0:
            mass[key] += float(value)
    return mass


def reported_revision(models: Any, model: str) -> str:
    """The revision a `GET /models` answer reports for `model` (its first non-empty revision-like field), or ""."""
    entries = models.get("data") if isinstance(models, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("id") == model:
            for name in REVISION_FIELDS:
                value = entry.get(name)
                if isinstance(value, str) and value and value != model:
                    return value[:200]
    return ""


class OpenAIBackend(RemoteBackend):
    """A remote OpenAI-compatible server. The HTTP session is opened by `start()` and closed by `aclose()`."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        max_new_tokens: int = 64,
        concepts_max_new_tokens: int = 160,
        timeout_s: float = 120.0,
        max_connections: int = 32,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_tokens = max(max_new_tokens, MIN_COMPLETION_TOKENS)
        self.concepts_max_tokens = concepts_max_new_tokens
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.revision = ""
        self._session: aiohttp.ClientSession | None = None
        self._scrub = Scrubber(())

    @property
    def model_id(self) -> str:
        return self.model

    @property
    def model_revision(self) -> str:
        return self.revision

    def _compute_identity(self) -> ModelIdentity:
        return make_identity(model_id=self.model, backend=self.name, revision=self.revision)

    def _load(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise BackendError("MODEL_OPENAI_URL: set it to the server's base URL (http://host:port/v1)")

    async def start(self) -> None:
        """Open the session and read the remote model's revision (best effort: the remote may be starting)."""
        if self._session is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        try:
            await self.refresh_revision()
        except Exception as exc:
            log.warning("cannot read the remote model's revision yet: %s", type(exc).__name__)

    async def refresh_revision(self) -> None:
        """Ask `GET /models` for the remote model's revision; the identity follows it. Raises on failure."""
        async with self._require().get(f"{self.base_url}/models") as response:
            if response.status >= 400:
                raise RuntimeError(f"GET /models answered {response.status}")
            revision = reported_revision(await response.json(content_type=None), self.model)
        if revision != self.revision:
            self.revision = revision
            self._identity = self._compute_identity()

    def _require(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendError("the openai backend is not started; call start() on the serving loop first")
        return self._session

    async def complete(self, payload: dict[str, Any]) -> str:
        """POST a chat completion; return the first choice's text. Raises on HTTP or shape errors."""
        url = f"{self.base_url}/chat/completions"
        async with self._require().post(url, json={"model": self.model, **payload}) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise RuntimeError(f"the model server's reply is over {MAX_REPLY_BYTES} bytes")
                chunks.append(chunk)
            text = b"".join(chunks).decode("utf-8", errors="replace")
            if response.status >= 400:
                raise RuntimeError(f"the model server answered {response.status}: {text[:300]}")
        try:
            content = json.loads(text)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RuntimeError(f"the model server's reply has no message: {text[:300]}") from None
        return content if isinstance(content, str) else ""

    async def analyze_one(self, item: PreparedRequest) -> AnalyzeResponse:
        """One chat completion with the photos; the differential, findings and answer read tolerantly."""
        keys = candidate_keys(item.request.candidates)
        labels = "\n".join(f"- {key}: {CONDITIONS[key]}" for key in keys)
        text = (
            f"{answer_prompt(item.request, self._scrub, len(item.images))}\n\n"
            "Also give a differential: likelihoods (summing to 1) for the conditions below, by key:\n"
            f"{labels}\n\n"
            'Reply with JSON only: {"differential": [{"condition": "<key>", "likelihood": 0.0}], '
            '"findings": ["..."], "answer": "..."}'
        )
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": data_url(image)}} for image in item.images
        ]
        content.append({"type": "text", "text": text})
        reply = await self.complete(
            {
                "messages": [{"role": "user", "content": content}],
                "temperature": 0,
                "max_tokens": self.max_tokens,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "skin_analysis", "strict": True, "schema": response_schema(keys)},
                },
            }
        )
        parsed = parse_reply(reply)
        mass = read_likelihoods(find_json_object(reply), keys)
        total = sum(mass.values())
        scores = {key: math.log(value / total + 1e-9) if total else 0.0 for key, value in mass.items()}
        return AnalyzeResponse(
            differential=to_differential(scores),
            findings=parsed.findings,
            image_quality=item.image_quality,
            answer=parsed.answer,
            language=item.request.language,
            backend=self.name,
            model_id=self.model_id,
            model_revision=self.revision,
            identity=self.identity,
        )

    async def concepts_one(self, request: ConceptsRequest) -> ConceptsResponse:
        """One text-only chat completion with the concept keys as a JSON-schema enum; claims read tolerantly."""
        keys = [concept.key for concept in request.concepts]
        reply = await self.complete(
            {
                "messages": [{"role": "user", "content": concepts_prompt(request, self._scrub)}],
                "temperature": 0,
                "max_tokens": self.concepts_max_tokens,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "patient_concepts", "strict": True, "schema": concepts_schema(keys)},
                },
            }
        )
        return claims_response(
            request, read_claims(reply), backend=self.name, model_id=self.model_id, identity=self.identity
        )

    async def check_health(self) -> None:
        """A one-token completion: the remote model really answers. The revision is read again too."""
        await self.complete({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0})
        try:
            await self.refresh_revision()
        except Exception as exc:  # a server without GET /models still serves
            log.info("GET /models failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
