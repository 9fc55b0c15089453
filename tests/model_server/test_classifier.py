"""The classifier backend on a tiny random timm model saved and loaded the way a site would."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the model extra (torch) is not installed")
timm = pytest.importorskip("timm", reason="the model extra (timm) is not installed")

from model_server.api import CONDITIONS, AnalyzeRequest, AnalyzeResponse  # noqa: E402
from model_server.backends import create_backend  # noqa: E402
from model_server.backends.base import BackendError  # noqa: E402
from model_server.backends.classifier import ClassifierBackend  # noqa: E402
from model_server.prepared import prepare_request  # noqa: E402
from model_server.settings import load_settings  # noqa: E402

from .conftest import ClientFactory  # noqa: E402
from .helpers import jpeg, json_body  # noqa: E402

pytestmark = pytest.mark.model

LABELS = ["melanoma", "melanocytic_nevus", "melanocytic_nevus", "other"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=len(LABELS), pretrained=False)
    timm.models.save_for_hf(model, folder, safe_serialization=True)
    (folder / "labels.json").write_text(json.dumps(dict(enumerate(LABELS))))
    return folder


@pytest.fixture(scope="module")
def classifier(classifier_dir: Path) -> ClassifierBackend:
    backend = ClassifierBackend(classifier_dir, device="cpu")
    backend.load()
    return backend


def reference_probabilities(folder: Path, images: list[Any]) -> list[float]:
    """The class probabilities averaged over `images`, computed with timm directly."""
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.inference_mode():
        batch = torch.stack([transform(image) for image in images])
        return [float(p) for p in torch.softmax(model(batch), dim=-1).mean(dim=0)]


def test_the_differential_is_the_classifier_distribution_folded_onto_condition_keys(
    classifier: ClassifierBackend,
) -> None:
    item = prepare_request(AnalyzeRequest(), [jpeg(0), jpeg(1)])
    [response] = classifier.analyze_batch([item])
    assert isinstance(response, AnalyzeResponse)
    expected = reference_probabilities(classifier.path, item.images)
    got = {entry.condition: entry.likelihood for entry in response.differential}
    assert set(got) == set(CONDITIONS)
    assert got["melanoma"] == pytest.approx(expected[0], abs=2e-6)
    assert got["melanocytic_nevus"] == pytest.approx(expected[1] + expected[2], abs=2e-6)
    assert got["other"] == pytest.approx(expected[3], abs=2e-6)
    assert math.isclose(sum(got.values()), 1.0, abs_tol=1e-9)
    assert response.backend == "classifier" and response.answer == "" and response.image_quality == ["good"] * 2


def test_candidates_restrict_the_differential_and_the_rest_goes_to_other(classifier: ClassifierBackend) -> None:
    full, narrowed = classifier.analyze_batch(
        [
            prepare_request(AnalyzeRequest(), [jpeg(2)]),
            prepare_request(AnalyzeRequest(candidates=["melanoma"]), [jpeg(2)]),
        ]
    )
    assert isinstance(full, AnalyzeResponse) and isinstance(narrowed, AnalyzeResponse)
    by_key = {entry.condition: entry.likelihood for entry in full.differential}
    assert [entry.condition for entry in narrowed.differential] in (["melanoma", "other"], ["other", "melanoma"])
    narrowed_other = next(entry.likelihood for entry in narrowed.differential if entry.condition == "other")
    assert narrowed_other == pytest.approx(by_key["other"] + by_key["melanocytic_nevus"], abs=3e-6)


def test_batched_equals_one_by_one(classifier: ClassifierBackend) -> None:
    items = [prepare_request(AnalyzeRequest(), [jpeg(i)] * (1 + i % 2)) for i in range(3)]
    together = classifier.analyze_batch(items)
    alone = [classifier.analyze_batch([item])[0] for item in items]
    for a, b in zip(together, alone, strict=True):
        assert isinstance(a, AnalyzeResponse) and isinstance(b, AnalyzeResponse)
        pa = {e.condition: e.likelihood for e in a.differential}
        pb = {e.condition: e.likelihood for e in b.differential}
        assert max(abs(pa[k] - pb[k]) for k in pa) < 1e-5


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["melanoma"], "each of the model's 4 classes"),
        (["melanoma", "acne", "acne", "dragon_pox"], "not a condition key"),
        ({"zero": "acne"}, "class indices"),
    ],
)
def test_a_bad_label_map_fails_at_start_naming_model_labels(
    classifier_dir: Path, tmp_path: Path, labels: object, message: str
) -> None:
    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps(labels))
    with pytest.raises(BackendError, match=f"MODEL_LABELS: .*{message}"):
        ClassifierBackend(classifier_dir, labels=bad, device="cpu").load()


async def test_it_serves_through_the_app_when_chosen_by_settings(
    classifier_dir: Path, app_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_BACKEND", "classifier")
    monkeypatch.setenv("MODEL_PATH", str(classifier_dir))
    backend = create_backend(load_settings())
    assert isinstance(backend, ClassifierBackend)
    client = await app_client(backend)
    response = await client.post("/v1/analyze", json=json_body([jpeg(0)]))
    assert response.status == 200
    assert (await response.json())["backend"] == "classifier"
    assert (await client.get("/healthz")).status == 200
