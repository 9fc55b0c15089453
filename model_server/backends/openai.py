"""The `openai` backend: any OpenAI-compatible chat-completions server (vLLM, TGI, Ollama) for scale-out.

Each request becomes one `POST {MODEL_OPENAI_URL}/chat/completions`: the photos as JPEG data URLs, the case as
text, `temperature` 0, and structured output requested with the portable `response_format: json_schema` form
(the condition keys as an enum; no length bounds on strings, which some grammar engines mishandle). The reply is
parsed tolerantly all the same, because not every server enforces the schema: unusable likelihoods give an
even spread over the candidates, i.e. an uncertain model, never a crash. The requests of a batch are sent
concurrently; the remote server does its own batching.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from PIL import Image

from model_server.api import CONDITIONS, AnalyzeResponse
from model_server.backends.base import Backend, BackendError
from model_server.differential import candidate_keys, to_differential
from model_server.parsing import find_json_object, parse_reply
from model_server.prepared import PreparedRequest
from model_server.prompts import Scrubber, answer_prompt

log = logging.getLogger(__name__)

MAX_SENT_SIDE = 1024  # photos are sent at most this long on their long side
MIN_COMPLETION_TOKENS = 512  # the JSON with a differential needs more room than a short answer


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


class OpenAIBackend(Backend):
    """A remote OpenAI-compatible server. The HTTP client is created at load and closed at close."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        max_new_tokens: int = 64,
        timeout_s: float = 120.0,
        concurrency: int = 16,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.max_tokens = max(max_new_tokens, MIN_COMPLETION_TOKENS)
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._scrub = Scrubber(())

    @property
    def model_id(self) -> str:
        return self.model

    def _load(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout_s)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai")

    def _require(self) -> httpx.Client:
        if self._client is None:
            raise BackendError("the openai backend is not loaded; call load() first")
        return self._client

    def _complete(self, payload: dict[str, Any]) -> str:
        """POST a chat completion; return the first choice's text. Raises on HTTP or shape errors."""
        response = self._require().post("/chat/completions", json={"model": self.model, **payload})
        if response.status_code >= 400:
            raise RuntimeError(f"the model server answered {response.status_code}: {response.text[:300]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RuntimeError(f"the model server's reply has no message: {response.text[:300]}") from None
        return content if isinstance(content, str) else ""

    def _analyze_one(self, item: PreparedRequest) -> AnalyzeResponse:
        keys = candidate_keys(item.request.candidates)
        labels = "\n".join(f"- {key}: {CONDITIONS[key]}" for key in keys)
        text = (
            f"{answer_prompt(item.request, self._scrub, len(item.images))}\n\n"
            "Also give a differential: likelihoods (summing to 1) for the conditions below, by key:\n"
            f"{labels}\n\n"
            'Reply with JSON only: {"differential": [{"condition": "<key>", "likelihood": 0.0}], '
            '"findings": ["..."], "answer": "..."}'
        )
        content = [{"type": "image_url", "image_url": {"url": data_url(image)}} for image in item.images]
        content.append({"type": "text", "text": text})  # type: ignore[dict-item]
        reply = self._complete(
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
        )

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        """All items concurrently; each failure is that item's own."""
        self._require()
        assert self._pool is not None
        futures = [self._pool.submit(self._analyze_one, item) for item in items]
        results: list[AnalyzeResponse | Exception] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:
                log.warning("openai request failed: %s", exc)
                results.append(exc)
        return results

    def health_check(self) -> None:
        """A one-token completion: the remote model really answers."""
        self._complete({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1, "temperature": 0})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        self._client, self._pool = None, None
        self._loaded = False
