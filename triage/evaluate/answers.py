"""Where a case's model answer comes from: nowhere (rules only), a simulated model, or a running model server.

The server path is the worker's: each photo goes through the bot's upload check (`sanitize_image`), the request
is `triage.pipeline.build_model_request` of a case snapshot, and `triage.model_client.ModelClient` sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from model_server.api import AnalyzeResponse
from triage.evaluate.labels import LabelledCase
from triage.evaluate.simulate import SimulatedModel
from triage.images import CleanImage, ImageRejected, sanitize_image
from triage.model_client import ModelClient, ModelUnavailable
from triage.pipeline import CaseSnapshot, build_model_request
from triage.pipeline import own_quality as in_model_terms


@dataclass(frozen=True)
class ModelAnswer:
    """The model's response for one case (None: no model output), our own photo-quality verdicts in the
    model's vocabulary, and an error when the case could not be evaluated. ``unreachable`` marks a model server
    that did not answer at all (a run gives up after many in a row)."""

    response: AnalyzeResponse | None
    own_quality: list[str] = field(default_factory=list)
    error: str = ""
    unreachable: bool = False


Answerer = Callable[[LabelledCase], ModelAnswer]


def snapshot_of(case: LabelledCase, own_quality: list[str]) -> CaseSnapshot:
    """Return the worker's CaseSnapshot of a labelled case: its answers, no words, no history."""
    return CaseSnapshot(
        case_id=0,
        patient_id=0,
        chat_id=0,
        language="en",
        answers=case.answers,
        patient_text="",
        image_keys=[],
        own_quality=own_quality,
        history=[],
    )


def rules_only(case: LabelledCase) -> ModelAnswer:
    """Return no model output for every case (the rules decide on the answers alone)."""
    return ModelAnswer(None)


def simulated(model: SimulatedModel) -> Answerer:
    """Return an answerer that asks the simulated ``model``."""

    def answer(case: LabelledCase) -> ModelAnswer:
        return ModelAnswer(model.answer(case))

    return answer


class ServerModel:
    """Asks a running model server, exactly as the worker does. Safe to call from several threads at once."""

    def __init__(self, client: ModelClient, *, max_image_bytes: int, max_image_pixels: int) -> None:
        self._client = client
        self._max_bytes = max_image_bytes
        self._max_pixels = max_image_pixels

    def __call__(self, case: LabelledCase) -> ModelAnswer:
        """Return the server's answer for ``case``; a case without photos gets no model output, as no photo
        means nothing for the model to look at."""
        if not case.images:
            return ModelAnswer(None)
        photos: list[CleanImage] = []
        for path in case.images:
            photo = self._photo(path)
            if isinstance(photo, str):
                return ModelAnswer(None, error=photo)
            photos.append(photo)
        own_quality = [in_model_terms(str(photo.quality.get("verdict", "good"))) for photo in photos]
        request = build_model_request(snapshot_of(case, own_quality))
        try:
            response = self._client.analyze(request, [photo.data for photo in photos])
        except ModelUnavailable as error:
            return ModelAnswer(None, own_quality, error=f"model: {error}", unreachable=not error.permanent)
        return ModelAnswer(response, own_quality)

    def _photo(self, path: Path) -> CleanImage | str:
        """Return the photo as the bot stores it, or the error (a string) that keeps it out."""
        try:
            if not path.is_file():
                return f"photo missing: {path.name}"
            with path.open("rb") as file:
                raw = file.read(self._max_bytes + 1)  # never more than the cap, whatever the file is
        except OSError as error:
            return f"photo unreadable: {path.name}: {error.strerror or error}"
        try:
            return sanitize_image(raw, max_bytes=self._max_bytes, max_pixels=self._max_pixels)
        except ImageRejected as error:
            return f"photo rejected ({error.reason}): {path.name}"
