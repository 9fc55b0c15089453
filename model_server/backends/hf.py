"""The `hf` backend: any local Hugging Face image-text-to-text model folder (MedGemma, LLaVA, SmolVLM...).

The differential comes from closed-vocabulary ranking (see `hf_scoring`): each candidate's length-normalised
log-likelihood, minus its score for a neutral grey image computed once at load (contextual calibration: a
label the model likes whatever it sees gets no advantage), divided by `rank_temperature`, then softmax. The
answer text and findings come from greedy generation parsed tolerantly. Same input, same output.

Quantization (bitsandbytes, 4-bit nf4 or 8-bit) quantizes the language model only: the vision tower, the
projector and the output head stay in full precision (their full module paths are passed as skip modules,
because transformers 5.x matches full paths).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from model_server.api import (
    CONDITIONS,
    AnalyzeRequest,
    AnalyzeResponse,
    ConceptsRequest,
    ConceptsResponse,
    ModelIdentity,
    Quantization,
)
from model_server.backends.base import Backend, BackendError
from model_server.backends.hf_scoring import Prompt, Scorer
from model_server.concepts import claims_response, concepts_prompt, read_claims
from model_server.differential import candidate_keys, to_differential
from model_server.identity import folder_identity
from model_server.parsing import parse_reply
from model_server.prepared import PreparedRequest
from model_server.prompts import Scrubber, answer_prompt, ranking_prompt

log = logging.getLogger(__name__)

# Submodule names that belong to the image side of common architectures; kept out of quantization.
VISION_MODULE_NAMES = frozenset(
    {
        "vision_tower",
        "vision_model",
        "visual",
        "multi_modal_projector",
        "qformer",
        "query_tokens",
        "language_projection",
        "connector",
        "mm_projector",
        "vision_embed_tokens",
    }
)


class HFBackend(Backend):
    """Loads `path` with `AutoProcessor` and `AutoModelForImageTextToText` (local files only)."""

    name = "hf"

    def __init__(
        self,
        path: Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        quantization: Quantization = "none",
        max_new_tokens: int = 64,
        concepts_max_new_tokens: int = 160,
        threads: int | None = None,
        rank_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.device_setting = device
        self.dtype_setting = dtype
        self.quantization = quantization
        self.max_new_tokens = max_new_tokens
        self.concepts_max_new_tokens = concepts_max_new_tokens
        self.threads = threads
        self.rank_temperature = rank_temperature
        self._scorer: Scorer | None = None
        self._scrub = Scrubber(())
        self._baseline: dict[str, float] = {}
        self._revision = ""

    @property
    def model_id(self) -> str:
        return self.path.name

    @property
    def model_revision(self) -> str:
        return self._revision

    def _compute_identity(self) -> ModelIdentity:
        return folder_identity(self.path, model_id=self.model_id, backend=self.name, quantization=self.quantization)

    @property
    def model(self) -> Any:
        """The loaded transformers model (for tests and diagnostics)."""
        return self._require().model

    @property
    def scrub(self) -> Scrubber:
        """What removes the model's special tokens from user text (complete once loaded)."""
        return self._scrub

    @property
    def scorer(self) -> Scorer:
        """The loaded `hf_scoring.Scorer`."""
        return self._require()

    # -- loading --------------------------------------------------------------------------------------------

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

        if self.threads:
            torch.set_num_threads(self.threads)
        device = resolve_device(self.device_setting)
        dtype = resolve_dtype(self.dtype_setting, device)
        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
        try:
            config = AutoConfig.from_pretrained(self.path, local_files_only=True)
            if self.quantization != "none":
                kwargs["quantization_config"] = self._quantization_config(config, dtype)
                kwargs["device_map"] = {"": str(device)}
            model: Any = AutoModelForImageTextToText.from_pretrained(self.path, **kwargs)
            processor = AutoProcessor.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"MODEL_PATH: cannot load {self.path} as an image-text-to-text model: {exc}") from exc
        if self.quantization == "none":
            model.to(device)
        model.eval()
        processor.tokenizer.padding_side = "left"
        if processor.tokenizer.pad_token is None:
            processor.tokenizer.pad_token = processor.tokenizer.eos_token
        self._scorer = Scorer(model, processor, device, dtype)
        self._scrub = Scrubber(_forbidden_markers(processor))
        self._revision = folder_revision(self.path)
        self._baseline = self._grey_baseline()
        log.info("loaded %s on %s (%s, quantization %s)", self.path, device, dtype, self.quantization)

    def _quantization_config(self, config: Any, dtype: Any) -> Any:
        if importlib.util.find_spec("bitsandbytes") is None:
            raise BackendError(
                f"MODEL_QUANTIZATION={self.quantization} needs bitsandbytes: install it "
                "(pip install 'bitsandbytes>=0.45') or set MODEL_QUANTIZATION=none"
            )
        from transformers import BitsAndBytesConfig

        skip = full_precision_modules(config)
        if self.quantization == "4bit":
            return BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=dtype,
                bnb_4bit_use_double_quant=True,
                llm_int8_skip_modules=skip,
            )
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)

    def _grey_baseline(self) -> dict[str, float]:
        """Each condition's score for a neutral grey photo and an empty questionnaire (computed once)."""
        grey = Image.new("RGB", (224, 224), (128, 128, 128))
        request = AnalyzeRequest()
        prompt = Prompt(images=[grey], text=ranking_prompt(request, self._scrub, 1))
        keys = list(CONDITIONS)
        scores = self._require().rank([prompt], [[CONDITIONS[k] for k in keys]])[0]
        return dict(zip(keys, scores, strict=True))

    def _require(self) -> Scorer:
        if self._scorer is None:
            raise BackendError("the hf backend is not loaded; call load() first")
        return self._scorer

    # -- inference ------------------------------------------------------------------------------------------

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        """Rank and generate for the whole batch; if the batch fails, retry item by item to isolate the culprit."""
        if not items:
            return []
        try:
            return list(self._analyze(items))
        except Exception as exc:
            if len(items) == 1:
                log.warning("analysis failed: %s", type(exc).__name__)
                return [exc]
            log.warning("a batch of %d failed (%s); retrying one by one", len(items), type(exc).__name__)
        results: list[AnalyzeResponse | Exception] = []
        for item in items:
            results += self.analyze_batch([item])
        return results

    def _analyze(self, items: list[PreparedRequest]) -> list[AnalyzeResponse]:
        scorer = self._require()
        keys = [candidate_keys(item.request.candidates) for item in items]
        scrub = self._scrub
        rank_prompts = [Prompt(item.images, ranking_prompt(item.request, scrub, len(item.images))) for item in items]
        scores = scorer.rank(rank_prompts, [[CONDITIONS[k] for k in row] for row in keys])
        answer_prompts = [Prompt(item.images, answer_prompt(item.request, scrub, len(item.images))) for item in items]
        replies = scorer.generate(answer_prompts, self.max_new_tokens)
        responses = []
        for item, row_keys, row_scores, reply in zip(items, keys, scores, replies, strict=True):
            parsed = parse_reply(scrub(reply))
            responses.append(
                AnalyzeResponse(
                    differential=to_differential(
                        dict(zip(row_keys, row_scores, strict=True)), self._baseline, self.rank_temperature
                    ),
                    findings=parsed.findings,
                    image_quality=item.image_quality,
                    answer=parsed.answer,
                    language=item.request.language,
                    backend=self.name,
                    model_id=self.model_id,
                    model_revision=self.model_revision,
                    identity=self.identity,
                )
            )
        return responses

    def concepts_batch(self, requests: list[ConceptsRequest]) -> list[ConceptsResponse | Exception]:
        """Greedy text-only generation of `{"concepts": [{"key", "quote"}]}` for the batch, parsed tolerantly.

        A failing batch is retried one by one, as for analyses. The server keeps only quotes found in the text.
        """
        if not requests:
            return []
        try:
            prompts = [Prompt(images=[], text=concepts_prompt(request, self._scrub)) for request in requests]
            replies = self._require().generate(prompts, self.concepts_max_new_tokens)
        except Exception as exc:
            if len(requests) == 1:
                log.warning("concept reading failed: %s", type(exc).__name__)
                return [exc]
            return [result for request in requests for result in self.concepts_batch([request])]
        return [
            claims_response(
                request, read_claims(reply), backend=self.name, model_id=self.model_id, identity=self.identity
            )
            for request, reply in zip(requests, replies, strict=True)
        ]

    def health_check(self) -> None:
        self._require().probe()

    def close(self) -> None:
        self._scorer = None
        self._loaded = False


def full_precision_modules(config: Any) -> list[str]:
    """Full module paths of the vision tower, projector and output head of the model `config` describes.

    Found on a weightless (meta device) instance of the model, so it works for any architecture whose image
    side uses one of `VISION_MODULE_NAMES`.
    """
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        skeleton = AutoModelForImageTextToText.from_config(config)
    paths: list[str] = []
    for path, _module in skeleton.named_modules():
        if path.rsplit(".", 1)[-1] in VISION_MODULE_NAMES and not any(path.startswith(p + ".") for p in paths):
            paths.append(path)
    for path, _module in skeleton.named_modules():
        if path.rsplit(".", 1)[-1] == "lm_head":
            paths.append(path)
    return paths


def _forbidden_markers(processor: Any) -> list[str]:
    tokenizer = processor.tokenizer
    markers = list(tokenizer.all_special_tokens)
    for attribute in ("image_token", "boi_token", "eoi_token", "video_token"):
        for owner in (processor, tokenizer):
            value = getattr(owner, attribute, None)
            if isinstance(value, str):
                markers.append(value)
    return markers


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"MODEL_DEVICE={setting} but torch sees no CUDA device; use cpu or auto")
    return torch.device(setting)


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[setting]


def folder_revision(path: Path) -> str:
    """A short content id: a hash of config.json and the names and sizes of the weight files (cheap, no read)."""
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:12]
