"""The `skingpt4` backend: SkinGPT-4 (MiniGPT-4's architecture) from a folder written by
`python -m model_server.skingpt4_convert`.

The folder holds a plain `Blip2ForConditionalGeneration` (EVA ViT-g, Q-Former, one projection, a Llama text
model), its tokenizer and image processor, and `skingpt4.json`: the conversation template SkinGPT-4 was trained
with and the details a Blip-2 config cannot say (the epsilon of the LayerNorm after the ViT).

A prompt is MiniGPT-4's single-separator conversation::

    Give the following image: <Img>ImageContent</Img>. You will be able to see the image once I provide it to
    you. Please answer my questions.###Human: <Img><ImageHere></Img> {question}###Assistant:

where each `<ImageHere>` becomes the image's projected query tokens (32 for SkinGPT-4). As in MiniGPT-4, the
text around the images is tokenized piece by piece (only the first piece gets the begin-of-sequence token) and
the pieces' embeddings are joined with the image embeddings. Several photos are several `Human` turns, the
question joining the last one, as MiniGPT-4's chat does when images are uploaded one after another.

Everything else is the `hf` backend's: the closed-vocabulary ranking with one shared prefill and calibration,
greedy generation (here stopped at `###`), tolerant parsing, one-by-one retry of a failing batch, quantization.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from model_server.backends.base import BackendError
from model_server.backends.hf import HFBackend, folder_revision, resolve_device, resolve_dtype
from model_server.backends.hf_scoring import Prompt, Scorer
from model_server.prompts import Scrubber

log = logging.getLogger(__name__)

TEMPLATE_FILE = "skingpt4.json"
IMAGE_SLOT = "<ImageHere>"


@dataclass(frozen=True)
class PromptTemplate:
    """MiniGPT-4's conversation template (`SeparatorStyle.SINGLE`) plus the ViT LayerNorm's epsilon.

    `system` opens the prompt; turns are `{sep}{role}: {message}`; the prompt ends with `{sep}{assistant}:`.
    `image` is one image's message, holding `IMAGE_SLOT` where its query tokens go. Generation stops at `sep`.
    """

    system: str = (
        "Give the following image: <Img>ImageContent</Img>. "
        "You will be able to see the image once I provide it to you. Please answer my questions."
    )
    sep: str = "###"
    human: str = "Human"
    assistant: str = "Assistant"
    image: str = "<Img><ImageHere></Img>"
    # LAVIS' `ln_vision` is a torch LayerNorm (eps 1e-5); a Blip-2 config has one epsilon for the whole ViT
    # (EVA's 1e-6), so the converter records this one and the backend sets it after loading.
    post_layernorm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if IMAGE_SLOT in self.system or self.image.count(IMAGE_SLOT) != 1:
            raise ValueError(f"{IMAGE_SLOT} must appear once, in the image message ({self.image!r})")
        if not self.sep.strip():
            raise ValueError("the separator must not be blank")

    @classmethod
    def from_json(cls, data: Any) -> PromptTemplate:
        """The template in a `skingpt4.json` object; raises ValueError when a field is missing or mistyped."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        defaults = cls()
        values: dict[str, Any] = {}
        for name, default in asdict(defaults).items():
            if name not in data:
                raise ValueError(f"missing {name!r}")
            value = data[name]
            if isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
                    raise ValueError(f"{name!r} must be a small positive number")
                value = float(value)
            elif not isinstance(value, str):
                raise ValueError(f"{name!r} must be a string")
            values[name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (what `from_json` reads back)."""
        return asdict(self)

    def segments(self, question: str, n_images: int) -> list[str]:
        """The prompt's text pieces around its `n_images` image slots (`n_images + 1` pieces).

        One `Human` turn per image, the question joining the last one; the question is added after splitting,
        so nothing in it can become an image slot.
        """
        pieces = (self.system + f"{self.sep}{self.human}: {self.image}" * n_images).split(IMAGE_SLOT)
        pieces[-1] += f" {question}" if n_images else f"{self.sep}{self.human}: {question}"
        pieces[-1] += f"{self.sep}{self.assistant}:"
        return pieces

    def render(self, question: str, n_images: int, slot: str = IMAGE_SLOT) -> str:
        """The whole prompt as text, each image's query tokens shown as `slot` (for logs and tests)."""
        return slot.join(self.segments(question, n_images))

    def markers(self) -> list[str]:
        """Strings that must never come from user text: the separator, the image markers and the turn openers."""
        before, after = self.image.split(IMAGE_SLOT)
        return [self.sep, before, after, IMAGE_SLOT, f"{self.sep}{self.human}:", f"{self.sep}{self.assistant}:"]


SKINGPT4_TEMPLATE = PromptTemplate()


def read_template(path: Path) -> PromptTemplate:
    """The prompt template in a converted folder's `skingpt4.json`. Raises `BackendError` saying what to do."""
    file = Path(path) / TEMPLATE_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackendError(
            f"MODEL_PATH: {path} is not a converted SkinGPT-4 folder (no {TEMPLATE_FILE}); convert the checkpoints "
            "with python -m model_server.skingpt4_convert (see model_server/README.md)"
        ) from None
    except (OSError, ValueError) as exc:
        raise BackendError(f"MODEL_PATH: cannot read {file}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != 1:
        raise BackendError(f"MODEL_PATH: {file} is not in a format this server knows (expected format 1)")
    try:
        return PromptTemplate.from_json(data.get("template"))
    except ValueError as exc:
        raise BackendError(f"MODEL_PATH: {file} has a bad template: {exc}") from None


@dataclass(frozen=True)
class SkinGPT4Processor:
    """The folder's tokenizer and image processor, in the shape `Scorer` expects of a processor."""

    tokenizer: Any
    image_processor: Any


class SkinGPT4Scorer(Scorer):
    """`hf_scoring.Scorer` for SkinGPT-4: a prompt becomes input embeddings (MiniGPT-4's text pieces with each
    image's projected query tokens between them), and ranking and generation run on the language model alone.

    The ranking itself (one shared prefill, label continuations from its key/value cache) is the parent's.
    """

    def __init__(
        self, model: Any, processor: SkinGPT4Processor, template: PromptTemplate, device: torch.device, dtype: Any
    ) -> None:
        super().__init__(model.language_model, processor, device, dtype)
        self.blip2 = model
        self.template = template
        self.image_processor = processor.image_processor
        self.image_token_id = int(model.config.image_token_index)
        self.num_query_tokens = int(model.config.num_query_tokens)

    def prompt_ids(self, prompt: Prompt) -> tuple[list[int], list[bool]]:
        """The prompt's token ids, image slots filled with the image token, and which positions are image slots.

        Each text piece is tokenized on its own, only the first with the begin-of-sequence token (MiniGPT-4).
        """
        ids: list[int] = []
        is_image: list[bool] = []
        for index, piece in enumerate(self.template.segments(prompt.text, len(prompt.images))):
            if index:
                ids += [self.image_token_id] * self.num_query_tokens
                is_image += [True] * self.num_query_tokens
            piece_ids = list(self.tokenizer(piece, add_special_tokens=index == 0)["input_ids"])
            ids += piece_ids
            is_image += [False] * len(piece_ids)
        return ids, is_image

    @torch.inference_mode()
    def image_features(self, images: Sequence[Any]) -> torch.Tensor:
        """Each image's projected query tokens, shape (images, query tokens, language model width)."""
        pixel_values = self.image_processor(list(images), return_tensors="pt")["pixel_values"]
        pixel_values = pixel_values.to(self.device, self.dtype)
        return self.blip2.get_image_features(pixel_values=pixel_values).pooler_output

    def encode(self, prompts: Sequence[Prompt]) -> dict[str, torch.Tensor]:
        """`inputs_embeds` and `attention_mask` for a batch, left padded."""
        rows = [self.prompt_ids(prompt) for prompt in prompts]
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        image_mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for row, (ids, is_image) in enumerate(rows):
            start = width - len(ids)
            input_ids[row, start:] = torch.tensor(ids, dtype=torch.long)
            attention[row, start:] = 1
            image_mask[row, start:] = torch.tensor(is_image, dtype=torch.bool)
        attention = attention.to(self.device)
        embeds = self.model.get_input_embeddings()(input_ids.to(self.device))
        images = [image for prompt in prompts for image in prompt.images]
        if images:
            features = self.image_features(images).to(embeds.dtype)
            embeds = embeds.masked_scatter(image_mask.to(self.device).unsqueeze(-1), features)
        return {"inputs_embeds": embeds, "attention_mask": attention}

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> list[str]:
        """Greedy replies, stopped at the separator (`###`) and cleaned as MiniGPT-4 cleans them."""
        inputs = self.encode(prompts)
        # Given only embeddings, generate() returns only the new tokens.
        output = self.model.generate(
            **inputs,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.pad_id,
            eos_token_id=self.tokenizer.eos_token_id,
            stop_strings=[self.template.sep],
            tokenizer=self.tokenizer,
        )
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        return [self.clean_reply(str(text)) for text in texts]

    def clean_reply(self, text: str) -> str:
        """The reply before the separator, after any echoed `Assistant:`, stripped."""
        text = text.split(self.template.sep, 1)[0]
        return text.split(f"{self.template.assistant}:")[-1].strip()


class SkinGPT4Backend(HFBackend):
    """SkinGPT-4 from a converted folder (`python -m model_server.skingpt4_convert`), local files only.

    Takes the `hf` backend's settings (device, dtype, quantization, max_new_tokens, threads, rank_temperature).
    """

    name = "skingpt4"

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer, Blip2Config, Blip2ForConditionalGeneration, BlipImageProcessorPil

        template = read_template(self.path)
        if self.threads:
            torch.set_num_threads(self.threads)
        device = resolve_device(self.device_setting)
        dtype = resolve_dtype(self.dtype_setting, device)
        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
        try:
            config = Blip2Config.from_pretrained(self.path, local_files_only=True)
            if config.image_token_index is None or not config.use_decoder_only_language_model:
                raise ValueError("its config has no image token or no decoder-only language model")
            if self.quantization != "none":
                kwargs["quantization_config"] = self._quantization_config(config, dtype)
                kwargs["device_map"] = {"": str(device)}
            model: Any = Blip2ForConditionalGeneration.from_pretrained(self.path, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            image_processor = BlipImageProcessorPil.from_pretrained(self.path, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(f"MODEL_PATH: cannot load {self.path} as a converted SkinGPT-4 folder: {exc}") from exc
        if self.quantization == "none":
            model.to(device)
        model.eval()
        model.vision_model.post_layernorm.eps = template.post_layernorm_eps
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        processor = SkinGPT4Processor(tokenizer=tokenizer, image_processor=image_processor)
        self._scorer = SkinGPT4Scorer(model, processor, template, device, dtype)
        self._scrub = Scrubber([*tokenizer.all_special_tokens, *template.markers()])
        self._revision = folder_revision(self.path)
        self._baseline = self._grey_baseline()
        log.info("loaded SkinGPT-4 %s on %s (%s, quantization %s)", self.path, device, dtype, self.quantization)
