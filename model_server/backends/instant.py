"""`instant`: a backend with no model, for load tests and for checking a deployment's plumbing.

It answers at once with the whole likelihood on `other` and image quality `poor`, so the triage rules can only
forward the case to a clinician (never `self_care`): a server started with it by mistake cannot falsely
reassure anyone. Its answer text says plainly that no model looked at the photo.
"""

from __future__ import annotations

import logging

from model_server.api import AnalyzeResponse, DifferentialItem, Timings
from model_server.backends.base import Backend
from model_server.prepared import PreparedRequest

log = logging.getLogger(__name__)


class InstantBackend(Backend):
    name = "instant"

    @property
    def model_id(self) -> str:
        return "instant-no-model"

    def _load(self) -> None:
        log.warning("MODEL_BACKEND=instant: no model will look at any photo (load tests and plumbing checks only)")

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        return [
            AnalyzeResponse(
                differential=[DifferentialItem(condition="other", likelihood=1.0)],
                findings=[],
                image_quality=["poor"] * len(item.images),
                answer="No model looked at this photo (test backend).",
                language=item.request.language,
                backend=self.name,
                model_id=self.model_id,
                timings=Timings(batch_size=len(items)),
            )
            for item in items
        ]

    def health_check(self) -> None:
        return None
