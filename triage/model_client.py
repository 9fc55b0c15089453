"""The worker's way to the model server: `POST /v1/analyze` and `POST /v1/concepts` with bounded retries.

Errors carry whether a retry makes sense: a connection failure, a timeout, a 5xx or a 503 (queue full) is
retried with backoff; a 4xx, or a 501 (this model cannot read text), means this request will never succeed and
is not.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from model_server.api import AnalyzeRequest, AnalyzeResponse, ConceptsRequest, ConceptsResponse

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)


class ModelUnavailable(Exception):
    """The model gave no usable answer. `permanent` is true when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class ModelClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=5.0), transport=transport
        )
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def analyze(self, request: AnalyzeRequest, images: Sequence[bytes]) -> AnalyzeResponse:
        """The model's answer. Raises `ModelUnavailable` after at most `max_attempts` tries."""
        files = [("image", (f"image{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
        body = request.model_dump_json(exclude={"images"})
        return self._with_retries(
            lambda: self._post("/v1/analyze", AnalyzeResponse, data={"request": body}, files=files)
        )

    def concepts(self, request: ConceptsRequest) -> ConceptsResponse:
        """The concepts the model read in the patient's words, each with the words it rests on (every quote is a
        substring of `request.text`). Raises `ModelUnavailable` after at most `max_attempts` tries; permanently
        when the request breaks the contract or the running model cannot read text (501)."""
        content = request.model_dump_json().encode()
        headers = {"Content-Type": "application/json"}
        return self._with_retries(
            lambda: self._post("/v1/concepts", ConceptsResponse, content=content, headers=headers)
        )

    def _with_retries(self, once: Callable[[], R]) -> R:
        for attempt in range(1, self._max_attempts + 1):
            try:
                return once()
            except ModelUnavailable as exc:
                if exc.permanent or attempt == self._max_attempts:
                    raise
                delay = self._backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "model attempt %d/%d failed (%s); retrying in %.1fs", attempt, self._max_attempts, exc, delay
                )
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _post(self, path: str, answer: type[R], **kwargs: Any) -> R:
        try:
            resp = self._client.post(path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ModelUnavailable(f"timed out: {exc.__class__.__name__}", permanent=False) from None
        except httpx.TransportError as exc:
            raise ModelUnavailable(
                f"cannot reach the model server: {exc.__class__.__name__}", permanent=False
            ) from None
        if resp.status_code == 501:
            raise ModelUnavailable(f"model server cannot do this: 501 {_error_code(resp)}", permanent=True)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ModelUnavailable(f"model server answered {resp.status_code}", permanent=False)
        if resp.status_code >= 400:
            code = _error_code(resp)
            raise ModelUnavailable(f"model server refused the request: {resp.status_code} {code}", permanent=True)
        try:
            return answer.model_validate_json(resp.content)
        except ValidationError as exc:
            raise ModelUnavailable(f"malformed model response: {exc.error_count()} errors", permanent=True) from None


def _error_code(resp: httpx.Response) -> str:
    try:
        return str(json.loads(resp.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
