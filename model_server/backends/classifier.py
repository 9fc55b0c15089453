"""The `classifier` backend: a timm image classifier and a label map give the differential directly.

For CPU-only sites and as a second opinion. The model folder is what `timm.models.save_for_hf(model, DIR,
safe_serialization=True)` writes (config.json + model.safetensors); it is loaded with
`timm.create_model("local-dir:DIR", pretrained=True)`, so nothing is fetched. The label map (`labels.json` in the
folder, or MODEL_LABELS) maps each class index to a canonical condition key:

    {"0": "melanoma", "1": "melanocytic_nevus", "2": "basal_cell_carcinoma", "3": "seborrheic_keratosis"}

(a JSON list in class order works too). Several classes may share a key (their probabilities add up); classes
mapped to `other` or to null count as `other`. With several photos, the class probabilities are averaged.
The request's candidates restrict the differential: the mass of every other condition goes to `other`.
A classifier writes no text: `answer` and `findings` are empty.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from model_server.api import CONDITIONS, AnalyzeResponse, ModelIdentity
from model_server.backends.base import Backend, BackendError
from model_server.differential import candidate_keys, to_differential
from model_server.identity import folder_identity
from model_server.prepared import PreparedRequest

log = logging.getLogger(__name__)


def load_label_map(path: Path, num_classes: int) -> list[str]:
    """The condition key of each class index; raises `BackendError` naming MODEL_LABELS when it is unusable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"MODEL_LABELS: cannot read the label map {path}: {exc}") from None
    if isinstance(raw, list):
        entries = dict(enumerate(raw))
    elif isinstance(raw, dict):
        try:
            entries = {int(index): key for index, key in raw.items()}
        except ValueError:
            raise BackendError(f"MODEL_LABELS: {path} must map class indices (0, 1, ...) to condition keys") from None
    else:
        raise BackendError(f"MODEL_LABELS: {path} must be a JSON object or list")
    if sorted(entries) != list(range(num_classes)):
        raise BackendError(f"MODEL_LABELS: {path} must name each of the model's {num_classes} classes exactly once")
    labels = []
    for index in range(num_classes):
        key = entries[index] or "other"
        if key not in CONDITIONS:
            raise BackendError(f"MODEL_LABELS: class {index} maps to {key!r}, which is not a condition key")
        labels.append(key)
    return labels


class ClassifierBackend(Backend):
    """A timm classifier from a local folder."""

    name = "classifier"

    def __init__(self, path: Path, *, labels: Path | None = None, device: str = "auto", threads: int | None = None):
        super().__init__()
        self.path = Path(path)
        self.labels_path = labels or self.path / "labels.json"
        self.device_setting = device
        self.threads = threads
        self._model: Any = None
        self._transform: Any = None
        self._labels: list[str] = []
        self._device = torch.device("cpu")
        self._revision = ""

    @property
    def model_id(self) -> str:
        return self.path.name

    @property
    def model_revision(self) -> str:
        return self._revision

    def _compute_identity(self) -> ModelIdentity:
        return folder_identity(self.path, model_id=self.model_id, backend=self.name, extra_config=[self.labels_path])

    def _load(self) -> None:
        import timm
        from timm.data import create_transform, resolve_data_config

        if self.threads:
            torch.set_num_threads(self.threads)
        if self.device_setting == "auto":
            self._device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self._device = torch.device(self.device_setting)
        try:
            model: Any = timm.create_model(f"local-dir:{self.path}", pretrained=True)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise BackendError(f"MODEL_PATH: cannot load {self.path} as a timm classifier: {exc}") from exc
        model.eval().to(self._device)
        self._labels = load_label_map(self.labels_path, int(model.num_classes))
        self._transform = create_transform(**resolve_data_config({}, model=model))
        self._model = model
        digest = hashlib.sha256((self.path / "config.json").read_bytes())
        digest.update(self.labels_path.read_bytes())
        self._revision = digest.hexdigest()[:12]
        log.info("loaded classifier %s (%d classes) on %s", self.path, len(self._labels), self._device)

    def _require(self) -> Any:
        if self._model is None:
            raise BackendError("the classifier backend is not loaded; call load() first")
        return self._model

    @torch.inference_mode()
    def _probabilities(self, images: list[Image.Image]) -> torch.Tensor:
        batch = torch.stack([self._transform(image) for image in images]).to(self._device)
        return torch.softmax(self._require()(batch).float(), dim=-1).cpu()

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        """One forward pass for every image of the batch; a failure is retried item by item."""
        if not items:
            return []
        try:
            probabilities = self._probabilities([image for item in items for image in item.images])
            results: list[AnalyzeResponse | Exception] = []
            start = 0
            for item in items:
                end = start + len(item.images)
                results.append(self._respond(item, probabilities[start:end].mean(dim=0)))
                start = end
            return results
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            return [result for item in items for result in self.analyze_batch([item])]

    def _respond(self, item: PreparedRequest, class_probabilities: torch.Tensor) -> AnalyzeResponse:
        keys = candidate_keys(item.request.candidates)
        mass = dict.fromkeys(keys, 0.0)
        for label, probability in zip(self._labels, class_probabilities.tolist(), strict=True):
            mass[label if label in mass else "other"] += probability
        scores = {key: math.log(value + 1e-12) for key, value in mass.items()}
        return AnalyzeResponse(
            differential=to_differential(scores),
            image_quality=item.image_quality,
            language=item.request.language,
            backend=self.name,
            model_id=self.model_id,
            model_revision=self.model_revision,
            identity=self.identity,
        )

    def health_check(self) -> None:
        probabilities = self._probabilities([Image.new("RGB", (64, 64), (128, 128, 128))])
        if not torch.isfinite(probabilities).all():
            raise RuntimeError("the classifier produced non-finite output")

    def close(self) -> None:
        self._model = None
        self._loaded = False
