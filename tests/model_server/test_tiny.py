"""The tiny model builder: folders that the Auto classes load, a sensible tokenizer, the 16M size."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the model extra (torch) is not installed")
transformers = pytest.importorskip("transformers", reason="the model extra (transformers) is not installed")

from safetensors.torch import load_file  # noqa: E402

from model_server.api import CONDITIONS  # noqa: E402
from model_server.tiny import build_tiny_model, main, tiny_config  # noqa: E402

pytestmark = pytest.mark.model


def test_the_cli_writes_a_folder_the_auto_classes_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "llava"), "--arch", "llava"]) == 0
    assert "wrote a tiny llava model" in capsys.readouterr().out
    folder = tmp_path / "llava"
    for name in ("config.json", "model.safetensors", "processor_config.json", "chat_template.jinja", "tokenizer.json"):
        assert (folder / name).is_file(), name
    processor = transformers.AutoProcessor.from_pretrained(folder, local_files_only=True)
    assert type(processor).__name__ == "LlavaProcessor"
    assert processor.tokenizer.padding_side == "left"
    assert "<image>" in processor.tokenizer.all_special_tokens


def test_condition_labels_tokenize_into_few_pieces(tiny_gemma3: Path) -> None:
    tokenizer = transformers.AutoProcessor.from_pretrained(tiny_gemma3, local_files_only=True).tokenizer
    for label in CONDITIONS.values():
        assert len(tokenizer(label, add_special_tokens=False)["input_ids"]) <= 2 * len(label.split()) + 2, label
    text = "Ünïcödé 😀 text never meets an unknown token"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_the_same_seed_gives_the_same_weights(tmp_path: Path, tiny_gemma3: Path) -> None:
    again = load_file(build_tiny_model(tmp_path / "again", arch="gemma3", seed=0) / "model.safetensors")
    original = load_file(tiny_gemma3 / "model.safetensors")
    other = load_file(build_tiny_model(tmp_path / "other", arch="gemma3", seed=1) / "model.safetensors")
    assert again.keys() == original.keys()
    assert all(torch.equal(again[k], original[k]) for k in original)
    assert not all(torch.equal(other[k], original[k]) for k in original)


def test_the_16m_size_has_about_16_million_parameters() -> None:
    config, _ = tiny_config("gemma3", "16m")
    with torch.device("meta"):
        model = transformers.AutoModelForImageTextToText.from_config(config)
    assert 14e6 <= sum(p.numel() for p in model.parameters()) <= 18e6
    assert type(model).__name__ == "Gemma3ForConditionalGeneration"


def test_an_unknown_architecture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        build_tiny_model(tmp_path, arch="gpt2")  # type: ignore[arg-type]
