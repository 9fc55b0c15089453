"""Model identity: a weights hash computed at load, and one digest that changes when anything it covers does."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_server.api import ModelIdentity
from model_server.identity import files_sha256, folder_identity, make_identity

from .conftest import ClientFactory
from .helpers import FakeBackend, jpeg, json_body


def folder(root: Path, weights: bytes = b"weights", config: str = "{}") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(weights)
    (root / "config.json").write_text(config)
    (root / "README.md").write_text("not part of the identity")
    return root


def test_the_weights_hash_covers_contents_and_names(tmp_path: Path) -> None:
    base = folder_identity(folder(tmp_path / "a"), model_id="m", backend="hf")
    assert base.weights_hashed and len(base.weights_sha256) == 64 and len(base.identity) == 64
    same = folder_identity(folder(tmp_path / "b"), model_id="m", backend="hf")
    assert same == base  # same contents, another place: the same identity
    changed = folder_identity(folder(tmp_path / "c", weights=b"weightz"), model_id="m", backend="hf")
    assert changed.weights_sha256 != base.weights_sha256 and changed.identity != base.identity
    reconfigured = folder_identity(folder(tmp_path / "d", config='{"x": 1}'), model_id="m", backend="hf")
    assert reconfigured.weights_sha256 == base.weights_sha256 and reconfigured.identity != base.identity
    (tmp_path / "b" / "README.md").write_text("edited")
    assert folder_identity(tmp_path / "b", model_id="m", backend="hf") == base
    renamed = tmp_path / "e"
    folder(renamed)
    (renamed / "model.safetensors").rename(renamed / "model-00001.safetensors")
    assert folder_identity(renamed, model_id="m", backend="hf").weights_sha256 != base.weights_sha256


def test_each_field_changes_the_identity() -> None:
    base = make_identity(model_id="m", backend="hf", weights_sha256="a" * 64)
    variants = [
        make_identity(model_id="n", backend="hf", weights_sha256="a" * 64),
        make_identity(model_id="m", backend="skingpt4", weights_sha256="a" * 64),
        make_identity(model_id="m", backend="hf", weights_sha256="b" * 64),
        make_identity(model_id="m", backend="hf", weights_sha256="a" * 64, quantization="4bit"),
        make_identity(model_id="m", backend="hf", weights_sha256="a" * 64, config_sha256="c"),
        make_identity(model_id="m", backend="hf", weights_sha256="a" * 64, revision="r"),
    ]
    assert len({base.identity, *(v.identity for v in variants)}) == 7
    assert make_identity(model_id="m", backend="openai", revision="r").weights_hashed is False


def test_a_label_map_outside_the_folder_is_part_of_the_identity(tmp_path: Path) -> None:
    model = folder(tmp_path / "classifier")
    labels = tmp_path / "labels.json"
    labels.write_text('["melanoma", "other"]')
    first = folder_identity(model, model_id="c", backend="classifier", extra_config=[labels])
    labels.write_text('["other", "melanoma"]')
    assert folder_identity(model, model_id="c", backend="classifier", extra_config=[labels]) != first


def test_no_files_hash_to_nothing(tmp_path: Path) -> None:
    assert files_sha256([], tmp_path) == ""


async def test_healthz_and_every_analysis_report_the_identity(app_client: ClientFactory) -> None:
    backend = FakeBackend()
    client = await app_client(backend)
    health = await (await client.get("/healthz")).json()
    answer = await (await client.post("/v1/analyze", json=json_body([jpeg()]))).json()
    assert ModelIdentity.model_validate(health["identity"]) == backend.identity
    assert ModelIdentity.model_validate(answer["identity"]) == backend.identity
    assert backend.identity.model_id == "fake-model" and not backend.identity.weights_hashed


@pytest.mark.model
def test_tiny_models_differ_reload_the_same_and_quantization_counts(tmp_path: Path, tiny_gemma3: Path) -> None:
    from model_server.backends.hf import HFBackend
    from model_server.tiny import build_tiny_model

    def loaded(path: Path) -> ModelIdentity:
        backend = HFBackend(path, device="cpu", max_new_tokens=4)
        backend.load()
        identity = backend.identity
        backend.close()
        return identity

    first = loaded(tiny_gemma3)
    assert loaded(tiny_gemma3) == first  # the same model reloaded
    other_seed = build_tiny_model(tmp_path / tiny_gemma3.name, arch="gemma3", seed=1)  # same name, other weights
    other = loaded(other_seed)
    assert other.model_id == first.model_id and other.weights_sha256 != first.weights_sha256
    assert other.identity != first.identity
    # What load() computes for the same folder served quantized (the quantized load itself: test_quantization)
    quantized = HFBackend(tiny_gemma3, quantization="8bit")._compute_identity()
    assert quantized.quantization == "8bit" and quantized.weights_sha256 == first.weights_sha256
    assert quantized.identity != first.identity
