"""bitsandbytes quantization on the CPU: structure and closeness, never speed."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the model extra (torch) is not installed")
pytest.importorskip("transformers", reason="the model extra (transformers) is not installed")
bnb = pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed")

from model_server.api import AnalyzeRequest, AnalyzeResponse  # noqa: E402
from model_server.backends.base import BackendError  # noqa: E402
from model_server.backends.hf import HFBackend  # noqa: E402
from model_server.backends.hf_scoring import Prompt  # noqa: E402
from model_server.prepared import prepare_request  # noqa: E402

from .helpers import jpeg  # noqa: E402

pytestmark = pytest.mark.model

QUANTIZED_TYPES = {"4bit": "Linear4bit", "8bit": "Linear8bitLt"}
# Cosine similarity of the last-token logits to full precision. The tiny random model's 64-wide layers make
# 4-bit noise relatively large (about 0.92 measured); real models sit above 0.97.
MIN_COSINE = {"4bit": 0.85, "8bit": 0.999}


def last_logits(backend: HFBackend) -> Any:
    item = prepare_request(AnalyzeRequest(), [jpeg(0)])
    inputs = backend.scorer.encode([Prompt(item.images, "What is the most likely diagnosis?")])
    with torch.inference_mode():
        return backend.model(**inputs).logits[0, -1].float()


@pytest.mark.parametrize("mode", ["4bit", "8bit"])
def test_quantization_keeps_the_vision_side_in_full_precision(
    mode: str, tiny_gemma3: Path, gemma3_backend: HFBackend
) -> None:
    backend = HFBackend(tiny_gemma3, device="cpu", quantization=mode, max_new_tokens=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bitsandbytes' CPU notices (fp16 casts)
        try:
            backend.load()
        except (RuntimeError, NotImplementedError) as exc:  # a bitsandbytes build without a CPU path
            pytest.skip(f"bitsandbytes cannot run {mode} on this CPU: {exc}")
        quantized = (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
        modules = dict(backend.model.named_modules())
        vision = [m for n, m in modules.items() if n.startswith(("model.vision_tower", "model.multi_modal_projector"))]
        vision_linears = [m for m in vision if isinstance(m, torch.nn.Linear)]
        language = [m for n, m in modules.items() if n.startswith("model.language_model") and n.endswith("_proj")]
        assert vision_linears and not any(isinstance(m, quantized) for m in vision)
        assert all(m.weight.dtype == torch.float32 for m in vision_linears)
        assert language and {type(m).__name__ for m in language} == {QUANTIZED_TYPES[mode]}
        assert type(backend.model.lm_head).__name__ == "Linear"
        assert backend.model.get_memory_footprint() < gemma3_backend.model.get_memory_footprint()
        cosine = torch.nn.functional.cosine_similarity(last_logits(backend), last_logits(gemma3_backend), dim=0)
        assert cosine.item() >= MIN_COSINE[mode]
        [response] = backend.analyze_batch([prepare_request(AnalyzeRequest(question="hi"), [jpeg(1)])])
        assert isinstance(response, AnalyzeResponse)
    backend.close()


def test_quantization_without_bitsandbytes_fails_at_start_with_advice(
    tiny_gemma3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a)
    )
    with pytest.raises(BackendError, match=r"MODEL_QUANTIZATION=4bit needs bitsandbytes"):
        HFBackend(tiny_gemma3, device="cpu", quantization="4bit").load()
