"""Build tiny random-weight vision-language model folders offline, for tests, demos and the benchmark.

`build_tiny_model(path, arch="gemma3")` writes a folder that `AutoProcessor.from_pretrained(path)` and
`AutoModelForImageTextToText.from_pretrained(path)` load through the real code path: a config built from
scratch, random weights, a byte-level BPE tokenizer trained here on a few hundred words (it never meets an
unknown character), an image processor and a chat template. Nothing is downloaded.

The weights are random, so the model's text is gibberish: the folder exercises code, never medicine.

CLI: `python -m model_server.tiny DIR [--arch gemma3|llava] [--size tiny|16m] [--seed 0]`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from model_server.api import CONDITIONS

Arch = Literal["gemma3", "llava"]
Size = Literal["tiny", "16m"]


@dataclass(frozen=True)
class _Dims:
    """Layer sizes. Every width is >= 64 so that bitsandbytes' CPU 4-bit path accepts the linear layers."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vision_hidden: int
    vision_intermediate: int
    vision_layers: int
    vision_heads: int
    image_size: int
    patch_size: int
    tokens_per_image: int  # gemma3 only: the pooled image tokens (a square number)


_SIZES: dict[Size, _Dims] = {
    "tiny": _Dims(
        vocab=640, hidden=64, intermediate=128, layers=2, heads=2, kv_heads=1,
        vision_hidden=64, vision_intermediate=128, vision_layers=2, vision_heads=2,
        image_size=32, patch_size=8, tokens_per_image=4,
    ),
    "16m": _Dims(
        vocab=1024, hidden=256, intermediate=1024, layers=10, heads=4, kv_heads=2,
        vision_hidden=256, vision_intermediate=1024, vision_layers=7, vision_heads=4,
        image_size=64, patch_size=8, tokens_per_image=16,
    ),
}  # fmt: skip

_GEMMA_SPECIALS = {
    "pad": "<pad>",
    "eos": "<eos>",
    "bos": "<bos>",
    "unk": "<unk>",
    "start_of_turn": "<start_of_turn>",
    "end_of_turn": "<end_of_turn>",
    "boi": "<start_of_image>",
    "eoi": "<end_of_image>",
    "image": "<image_soft_token>",
}
_LLAVA_SPECIALS = {"pad": "<pad>", "eos": "</s>", "bos": "<s>", "unk": "<unk>", "image": "<image>"}

# Gemma's turn format; images are the begin-of-image marker the processor expands.
_GEMMA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# The llava-1.5 style: "USER: <image>\n... ASSISTANT:".
_LLAVA_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}ASSISTANT: {% else %}USER: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_CORPUS_WORDS = """
the a an of and or with on in to is are be it this that what which most likely diagnosis condition skin
image images photo photos patient question answer answers history reply language findings differential
describe visible lesion lesions rash red redness swelling itch itchy pain painful blister blisters spot spots
mole moles raised flat dark brown black pink scaly dry crusted bleeding ulcer wound border irregular colour
color size shape change changing weeks days months fever child adult arm leg face hand foot back chest
json list bullet none unknown yes no please clinician doctor see soon today urgent routine self care
{ } [ ] " : , . - ( ) ; / ' ! ? 0 1 2 3 4 5 6 7 8 9
""".split()


def _corpus() -> list[str]:
    """Training text: prompt words plus every condition key and label, so they tokenize into few pieces."""
    lines = [" ".join(_CORPUS_WORDS)]
    for key, label in CONDITIONS.items():
        lines += [key, label, f"The most likely diagnosis is {label}.", f'{{"findings": ["{label}"]}}']
    return lines * 3


def _train_tokenizer(specials: dict[str, str], vocab: int) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer`; the special tokens come first, in `specials` order."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=list(specials.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def _fast_tokenizer(specials: dict[str, str], vocab: int, template: str, extra: dict[str, str]) -> Any:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(specials, vocab),
        bos_token=specials["bos"],
        eos_token=specials["eos"],
        pad_token=specials["pad"],
        unk_token=specials["unk"],
        extra_special_tokens=extra,
        padding_side="left",
        chat_template=template,
    )
    return tokenizer


def _build_gemma3(d: _Dims) -> tuple[Any, Any]:
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor, Gemma3TextConfig, SiglipVisionConfig

    s = _GEMMA_SPECIALS
    tokenizer = _fast_tokenizer(
        s, d.vocab, _GEMMA_TEMPLATE, {"image_token": s["image"], "boi_token": s["boi"], "eoi_token": s["eoi"]}
    )
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in s.items()}
    head_dim = d.hidden // d.heads
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=d.hidden,
        intermediate_size=d.intermediate,
        num_hidden_layers=d.layers,
        num_attention_heads=d.heads,
        num_key_value_heads=d.kv_heads,
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        max_position_embeddings=4096,
        sliding_window=512,
        pad_token_id=ids["pad"],
        eos_token_id=ids["eos"],
        bos_token_id=ids["bos"],
    )
    vision = SiglipVisionConfig(
        hidden_size=d.vision_hidden,
        intermediate_size=d.vision_intermediate,
        num_hidden_layers=d.vision_layers,
        num_attention_heads=d.vision_heads,
        image_size=d.image_size,
        patch_size=d.patch_size,
        vision_use_head=False,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=d.tokens_per_image,
        boi_token_index=ids["boi"],
        eoi_token_index=ids["eoi"],
        image_token_index=ids["image"],
    )
    image_processor = Gemma3ImageProcessor(
        size={"height": d.image_size, "width": d.image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=_GEMMA_TEMPLATE,
        image_seq_length=d.tokens_per_image,
    )
    return config, processor


def _build_llava(d: _Dims) -> tuple[Any, Any]:
    from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaProcessor

    s = _LLAVA_SPECIALS
    tokenizer = _fast_tokenizer(s, d.vocab, _LLAVA_TEMPLATE, {"image_token": s["image"]})
    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in s.items()}
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d.hidden,
        intermediate_size=d.intermediate,
        num_hidden_layers=d.layers,
        num_attention_heads=d.heads,
        num_key_value_heads=d.kv_heads,
        max_position_embeddings=4096,
        pad_token_id=ids["pad"],
        eos_token_id=ids["eos"],
        bos_token_id=ids["bos"],
    )
    vision = CLIPVisionConfig(
        hidden_size=d.vision_hidden,
        intermediate_size=d.vision_intermediate,
        num_hidden_layers=d.vision_layers,
        num_attention_heads=d.vision_heads,
        image_size=d.image_size,
        patch_size=d.patch_size,
        projection_dim=d.vision_hidden,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=ids["image"],
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=(d.image_size // d.patch_size) ** 2,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": d.image_size},
        crop_size={"height": d.image_size, "width": d.image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=d.patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_TEMPLATE,
    )
    return config, processor


def tiny_config(arch: Arch = "gemma3", size: Size = "tiny") -> tuple[Any, Any]:
    """The model config and the processor (with its freshly trained tokenizer) of a tiny model, unsaved.

    Raises ValueError for an unknown arch or size.
    """
    if arch not in ("gemma3", "llava"):
        raise ValueError(f"unknown arch {arch!r}: use gemma3 or llava")
    if size not in _SIZES:
        raise ValueError(f"unknown size {size!r}: use {' or '.join(_SIZES)}")
    dims = _SIZES[size]
    return _build_gemma3(dims) if arch == "gemma3" else _build_llava(dims)


def build_tiny_model(path: str | Path, arch: Arch = "gemma3", seed: int = 0, size: Size = "tiny") -> Path:
    """Write a random-weight image-text-to-text model folder at `path` and return it.

    `arch` is "gemma3" (Gemma3 text + SigLIP vision, the MedGemma architecture) or "llava" (Llama text + CLIP
    vision); `size` "tiny" (about 200k parameters, under a second) or "16m" (about 16M, for the benchmark).
    The same `seed` gives the same weights. Raises ValueError for an unknown arch or size.
    """
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    config, processor = tiny_config(arch, size)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.eval()
    tokenizer = processor.tokenizer
    eos = [tokenizer.eos_token_id]
    if arch == "gemma3":  # Gemma ends a turn with <end_of_turn>
        eos.append(tokenizer.convert_tokens_to_ids(_GEMMA_SPECIALS["end_of_turn"]))
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model_server.tiny", description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="folder to write (created if missing)")
    parser.add_argument("--arch", choices=["gemma3", "llava"], default="gemma3")
    parser.add_argument("--size", choices=list(_SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_model(args.dir, arch=args.arch, seed=args.seed, size=args.size)
    print(f"wrote a {args.size} {args.arch} model to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
