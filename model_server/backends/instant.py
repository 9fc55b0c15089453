"""`instant`: a backend with no model, for load tests and for checking a deployment's plumbing.

It answers at once with the whole likelihood on `other` and image quality `poor`, so the triage rules can only
forward the case to a clinician (never `self_care`): a server started with it by mistake cannot falsely
reassure anyone. Its answer text says plainly that no model looked at the photo.

For `POST /v1/concepts` it reports nothing, unless a script (`MODEL_INSTANT_CONCEPTS`, a JSON file) says which
words stand for which concept, so that the caller's plumbing can be tested end to end:

    {"concepts": [{"key": "difficulty_breathing", "words": ["can't breathe", "cannot breathe"]},
                  {"key": "fever", "words": ["burning up"], "always": true}]}

A requested concept is claimed with the first of its `words` found in the text (ignoring case); with `always`
it is claimed with its first words even when they are absent, which the server then drops (the substring rule).

`MODEL_INSTANT_DELAY_S` makes each batch take that long, as a model would, so that the fault suite has analyses in
flight when it kills a process.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from model_server.api import (
    CONCEPT_KEY_PATTERN,
    AnalyzeResponse,
    ConceptsRequest,
    ConceptsResponse,
    DifferentialItem,
    Timings,
)
from model_server.backends.base import Backend, BackendError
from model_server.concepts import Claim, claims_response
from model_server.prepared import PreparedRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScriptedConcept:
    """One entry of a concepts script."""

    key: str
    words: tuple[str, ...]
    always: bool = False


def read_script(path: Path) -> list[ScriptedConcept]:
    """The entries of a concepts script; raises `BackendError` naming MODEL_INSTANT_CONCEPTS when it is unusable."""
    where = f"MODEL_INSTANT_CONCEPTS: {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"{where}: cannot read it as JSON: {exc}") from None
    entries = data.get("concepts") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise BackendError(f'{where}: expected {{"concepts": [{{"key": ..., "words": [...]}}]}}')
    script = []
    for index, entry in enumerate(entries):
        key = entry.get("key") if isinstance(entry, dict) else None
        words = entry.get("words") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not re.fullmatch(CONCEPT_KEY_PATTERN, key):
            raise BackendError(f"{where}: entry {index} needs a concept key ({CONCEPT_KEY_PATTERN})")
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise BackendError(f"{where}: entry {index} ({key}) needs a non-empty list of words")
        script.append(ScriptedConcept(key, tuple(words), bool(entry.get("always", False))))
    return script


class InstantBackend(Backend):
    name = "instant"

    def __init__(self, concepts_script: Path | None = None, delay_s: float = 0.0) -> None:
        super().__init__()
        self.concepts_script = concepts_script
        self.delay_s = delay_s  # a model's time, so that load and fault runs have analyses in flight
        self.script: list[ScriptedConcept] = []

    @property
    def model_id(self) -> str:
        return "instant-no-model"

    def _load(self) -> None:
        log.warning("MODEL_BACKEND=instant: no model will look at any photo (load tests and plumbing checks only)")
        if self.concepts_script is not None:
            self.script = read_script(self.concepts_script)

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        if self.delay_s:
            time.sleep(self.delay_s)  # a batch runs in the server's inference thread, as a real model's does
        return [
            AnalyzeResponse(
                differential=[DifferentialItem(condition="other", likelihood=1.0)],
                findings=[],
                image_quality=["poor"] * len(item.images),
                answer="No model looked at this photo (test backend).",
                language=item.request.language,
                backend=self.name,
                model_id=self.model_id,
                identity=self.identity,
                timings=Timings(batch_size=len(items)),
            )
            for item in items
        ]

    def concepts_batch(self, requests: list[ConceptsRequest]) -> list[ConceptsResponse | Exception]:
        """The script's claims for each text (none without a script)."""
        return [
            claims_response(
                request, self._claims(request), backend=self.name, model_id=self.model_id, identity=self.identity
            )
            for request in requests
        ]

    def _claims(self, request: ConceptsRequest) -> list[Claim]:
        asked = {concept.key for concept in request.concepts}
        lowered = request.text.casefold()
        claims = []
        for entry in self.script:
            if entry.key not in asked:
                continue
            present = next((words for words in entry.words if words.casefold() in lowered), None)
            if present is not None:
                claims.append((entry.key, present))
            elif entry.always:
                claims.append((entry.key, entry.words[0]))
        return claims

    def health_check(self) -> None:
        return None
