"""Convert SkinGPT-4 / MiniGPT-4 checkpoints (LAVIS key names) to a local Hugging Face folder for `skingpt4`.

```bash
python -m model_server.skingpt4_convert --vit eva_vit_g.pth --qformer blip2_pretrained_flant5xxl.pth \\
    --proj skingpt4_llama2_13bchat.pth --llama Llama-2-13b-chat-hf --out /models/skingpt4
```

SkinGPT-4 is MiniGPT-4: EVA ViT-g -> `ln_vision` -> BLIP-2 Q-Former (32 query tokens) -> `llama_proj` -> Llama.
Its released checkpoint holds essentially only `llama_proj` (frozen parts are dropped when saving), so the parts
come from four places, read in this order (a later source overrides an earlier one for the same key):

- `--llama`: a Hugging Face Llama folder (config, tokenizer and usually the weights);
- `--vit`: the EVA ViT-g checkpoint, LAVIS' `eva_vit_g.pth` (bare keys: `blocks.0.attn.qkv.weight`...) or any
  checkpoint with `visual_encoder.*` keys;
- `--qformer`: the BLIP-2 checkpoint MiniGPT-4 loads (`Qformer.*`, `query_tokens`, `ln_vision.*`);
- `--proj`: the SkinGPT-4 checkpoint (`llama_proj.*`, and whatever else it saved: a full state dict also works,
  its language model as `llama_model.*` (Vicuna version) or `llm_model.*` (Llama-2 version)).

The result is a `Blip2ForConditionalGeneration` with a Llama text model (safetensors), the tokenizer, the image
processor (224 px bicubic, CLIP mean and std) and `skingpt4.json` (the prompt template, see
`backends/skingpt4.py`). It loads with `Blip2ForConditionalGeneration.from_pretrained(out,
local_files_only=True)` with no missing or unexpected keys; the converter refuses to write anything otherwise.

The key mapping (`lavis_to_hf`):
- `visual_encoder.*` -> `vision_model.*`; EVA's separate `q_bias`/`v_bias` become the qkv bias with zeros for k;
- `ln_vision` -> `vision_model.post_layernorm` (its epsilon, 1e-5, differs from the ViT's 1e-6: it is kept in
  `skingpt4.json` and set by the backend);
- `Qformer.bert.*` -> `qformer.*` (`embeddings.LayerNorm` -> `layernorm`, `*.self.*` -> `*.attention.*`);
- `query_tokens` -> `query_tokens`; `llama_proj` -> `language_projection`; `llama_model.*`/`llm_model.*` ->
  `language_model.*`.
Keys MiniGPT-4 itself never uses (EVA's own head and final norm, the Q-Former's text embeddings, text
feed-forward layers and language-model head, BLIP-2's other heads) are dropped and counted; any other key stops
the conversion.

The image placeholder is the tokenizer's `<unk>` token: Llama's byte-fallback tokenizer never produces it from
text, so no token is added and the vocabulary (and every log-probability) stays exactly the original's.

Conversion needs about the model's size in memory (26 GB for the 13B model in float16) plus the ViT.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model_server.backends.skingpt4 import SKINGPT4_TEMPLATE, TEMPLATE_FILE, PromptTemplate

log = logging.getLogger(__name__)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
EVA_LAYER_NORM_EPS = 1e-6  # EVA ViT-g's block LayerNorms
QFORMER_LAYER_NORM_EPS = 1e-12  # BERT's

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}

# Top-level names of a LAVIS MiniGPT-4 / SkinGPT-4 state dict.
_LAVIS_PREFIXES = (
    "visual_encoder.",
    "ln_vision.",
    "Qformer.",
    "query_tokens",
    "llama_proj.",
    "llama_model.",
    "llm_model.",
)

_BLOCK = r"visual_encoder\.blocks\.(\d+)\."
_QLAYER = r"Qformer\.bert\.encoder\.layer\.(\d+)\."

# LAVIS name (full match) -> Hugging Face name. q_bias/v_bias are handled apart (they merge into one tensor).
_RENAMES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), r)
    for p, r in [
        (r"visual_encoder\.cls_token", "vision_model.embeddings.class_embedding"),
        (r"visual_encoder\.pos_embed", "vision_model.embeddings.position_embedding"),
        (r"visual_encoder\.patch_embed\.proj\.(weight|bias)", r"vision_model.embeddings.patch_embedding.\1"),
        (_BLOCK + r"norm(1|2)\.(weight|bias)", r"vision_model.encoder.layers.\1.layer_norm\2.\3"),
        (_BLOCK + r"attn\.qkv\.(weight|bias)", r"vision_model.encoder.layers.\1.self_attn.qkv.\2"),
        (_BLOCK + r"attn\.proj\.(weight|bias)", r"vision_model.encoder.layers.\1.self_attn.projection.\2"),
        (_BLOCK + r"mlp\.(fc1|fc2)\.(weight|bias)", r"vision_model.encoder.layers.\1.mlp.\2.\3"),
        (r"ln_vision\.(weight|bias)", r"vision_model.post_layernorm.\1"),
        (r"query_tokens", "query_tokens"),
        (r"Qformer\.bert\.embeddings\.LayerNorm\.(weight|bias)", r"qformer.layernorm.\1"),
        (
            _QLAYER + r"(attention|crossattention)\.self\.(query|key|value)\.(weight|bias)",
            r"qformer.encoder.layer.\1.\2.attention.\3.\4",
        ),
        (
            _QLAYER + r"(attention|crossattention)\.output\.(dense|LayerNorm)\.(weight|bias)",
            r"qformer.encoder.layer.\1.\2.output.\3.\4",
        ),
        (
            _QLAYER + r"(intermediate_query|output_query)\.(dense|LayerNorm)\.(weight|bias)",
            r"qformer.encoder.layer.\1.\2.\3.\4",
        ),
        (r"llama_proj\.(weight|bias)", r"language_projection.\1"),
        (r"(?:llama_model|llm_model)\.(.+)", r"language_model.\1"),
    ]
]
_QKV_BIAS = re.compile(_BLOCK + r"attn\.(q|k|v)_bias")

# Keys MiniGPT-4 never uses (it loads its parts with strict=False, or sets these modules to None).
_UNUSED: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), why)
    for p, why in [
        (r"visual_encoder\.(norm|fc_norm|head|rel_pos_bias)\.", "EVA's own final norm, head and position bias"),
        (_BLOCK + r"attn\.relative_position_", "EVA's own final norm, head and position bias"),
        (r"Qformer\.bert\.embeddings\.(word_embeddings|position_embeddings|position_ids)", "Q-Former text parts"),
        (_QLAYER + r"(intermediate|output)\.", "Q-Former text parts"),
        (r"Qformer\.cls\.", "Q-Former text parts"),
        (r"(vision_proj|text_proj|itm_head|t5_proj|opt_proj|t5_model|opt_model)\.|temp$", "other BLIP-2 heads"),
    ]
]


class ConversionError(Exception):
    """The inputs cannot be converted; the message names the input and says what is wrong."""


@dataclass(frozen=True)
class Sources:
    """The converter's inputs."""

    vit: Path
    qformer: Path
    proj: Path
    llama: Path


def _first_line(exc: BaseException) -> str:
    """An exception as one short line (torch's and transformers' messages often span several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


# -- reading ------------------------------------------------------------------------------------------------


def read_checkpoint(path: Path, flag: str) -> dict[str, torch.Tensor]:
    """The state dict in a `.pth` file (unwrapped from `{"model": ...}` as LAVIS saves it), read safely.

    Raises `ConversionError` naming `flag` when the file is missing, unreadable or not a state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{flag} {path}: no such file")
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError... for bad files
        raise ConversionError(f"{flag} {path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    for wrapper in ("model", "state_dict"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
            break
    if not isinstance(data, dict) or not data:
        raise ConversionError(f"{flag} {path}: holds no state dict (got {type(data).__name__})")
    bad = [str(key) for key, value in data.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise ConversionError(f"{flag} {path}: not a state dict of tensors (e.g. {', '.join(bad[:3])})")
    if not any(key.startswith(_LAVIS_PREFIXES) for key in data):
        if flag != "--vit" or not any(key.startswith(("blocks.", "cls_token", "patch_embed.")) for key in data):
            raise ConversionError(f"{flag} {path}: no LAVIS / MiniGPT-4 keys (e.g. {', '.join(list(data)[:3])})")
        data = {f"visual_encoder.{key}": value for key, value in data.items()}  # a bare EVA ViT checkpoint
    return data


def read_llama_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of a Hugging Face causal LM folder as `llama_model.*` keys; empty when it holds none."""
    from safetensors.torch import load_file

    weights: dict[str, torch.Tensor] = {}
    files = sorted(folder.glob("*.safetensors"))
    for file in files:
        try:
            weights.update(load_file(file))
        except Exception as exc:  # safetensors raises its own error types
            raise ConversionError(f"--llama {file}: not a readable safetensors file ({_first_line(exc)})") from None
    if not files:
        for file in sorted(folder.glob("pytorch_model*.bin")):
            try:
                weights.update(torch.load(file, map_location="cpu", weights_only=True))
            except Exception as exc:
                raise ConversionError(f"--llama {file}: not a readable PyTorch file ({_first_line(exc)})") from None
    return {f"llama_model.{key}": value for key, value in weights.items()}


# -- mapping ------------------------------------------------------------------------------------------------


def lavis_to_hf(lavis: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], Counter[str]]:
    """Rename a LAVIS state dict to `Blip2ForConditionalGeneration` names.

    Returns the renamed weights and how many keys were dropped as unused, per reason. Raises `ConversionError`
    listing the keys that are neither mapped nor known to be unused.
    """
    out: dict[str, torch.Tensor] = {}
    dropped: Counter[str] = Counter()
    unknown: list[str] = []
    biases: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in lavis.items():
        if match := _QKV_BIAS.fullmatch(key):
            biases.setdefault(match.group(1), {})[match.group(2)] = value
            continue
        for pattern, target in _RENAMES:
            if pattern.fullmatch(key):
                out[pattern.sub(target, key)] = value
                break
        else:
            reason = next((why for pattern, why in _UNUSED if pattern.match(key)), None)
            if reason is None:
                unknown.append(key)
            else:
                dropped[reason] += 1
    if unknown:
        shown = ", ".join(sorted(unknown)[:8])
        raise ConversionError(
            f"{len(unknown)} unexpected keys that are not part of SkinGPT-4 / MiniGPT-4 ({shown}"
            f"{', ...' if len(unknown) > 8 else ''}); is each input the right file (LoRA weights must be merged first)?"
        )
    for block, parts in biases.items():
        if "q" not in parts or "v" not in parts:
            raise ConversionError(f"visual_encoder.blocks.{block}.attn has only {sorted(parts)} of the q and v biases")
        # EVA has no key bias: LAVIS adds zeros for it, as the Hugging Face layer's fused bias expects.
        key_bias = parts.get("k", torch.zeros_like(parts["q"]))
        out[f"vision_model.encoder.layers.{block}.self_attn.qkv.bias"] = torch.cat([parts["q"], key_bias, parts["v"]])
    return out, dropped


def _layer_indices(keys: Mapping[str, Any], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in keys if (m := regex.match(key))})


def _need(weights: Mapping[str, torch.Tensor], key: str, lavis_key: str, flag: str) -> torch.Tensor:
    if key not in weights:
        raise ConversionError(f"no {lavis_key} in any input: is {flag} the right file?")
    return weights[key]


def blip2_config(
    hf: Mapping[str, torch.Tensor], text_config: Any, *, vit_heads: int, qformer_heads: int, image_token_id: int
) -> Any:
    """A `Blip2Config` whose shapes are read from the (renamed) weights. Raises `ConversionError`."""
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig

    cls_token = _need(hf, "vision_model.embeddings.class_embedding", "visual_encoder.cls_token", "--vit")
    patch = _need(hf, "vision_model.embeddings.patch_embedding.weight", "visual_encoder.patch_embed", "--vit")
    positions = _need(hf, "vision_model.embeddings.position_embedding", "visual_encoder.pos_embed", "--vit").shape[1]
    grid = math.isqrt(positions - 1)
    if grid * grid != positions - 1:
        raise ConversionError(f"--vit: {positions - 1} patch positions do not make a square grid")
    vit_layers = _layer_indices(hf, r"vision_model\.encoder\.layers\.(\d+)\.")
    vit_width = int(cls_token.shape[-1])
    query_tokens = _need(hf, "query_tokens", "query_tokens", "--qformer")
    q_width = int(query_tokens.shape[-1])
    q_layers = _layer_indices(hf, r"qformer\.encoder\.layer\.(\d+)\.")
    cross = _layer_indices(hf, r"qformer\.encoder\.layer\.(\d+)\.crossattention\.")
    if not vit_layers or not q_layers or not cross or cross[0] != 0:
        raise ConversionError("--vit/--qformer: the ViT blocks or the Q-Former layers are missing")
    # Counted up to the highest index, so that a layer missing in the middle is reported as missing weights.
    n_vit, n_qformer = vit_layers[-1] + 1, q_layers[-1] + 1
    frequency = cross[1] - cross[0] if len(cross) > 1 else n_qformer
    if cross != list(range(0, n_qformer, frequency)):
        raise ConversionError(f"--qformer: cross-attention in layers {cross}, not every n-th layer as BLIP-2 has it")
    for name, width, heads in (("--vit-heads", vit_width, vit_heads), ("--qformer-heads", q_width, qformer_heads)):
        if heads < 1 or width % heads:
            raise ConversionError(f"{name} {heads} does not divide the width {width}")
    vision = Blip2VisionConfig(
        hidden_size=vit_width,
        intermediate_size=int(
            _need(hf, "vision_model.encoder.layers.0.mlp.fc1.weight", "visual_encoder.blocks.0.mlp", "--vit").shape[0]
        ),
        num_hidden_layers=n_vit,
        num_attention_heads=vit_heads,
        image_size=grid * int(patch.shape[-1]),
        patch_size=int(patch.shape[-1]),
        hidden_act="gelu",
        layer_norm_eps=EVA_LAYER_NORM_EPS,
        qkv_bias="vision_model.encoder.layers.0.self_attn.qkv.bias" in hf,
    )
    intermediate = _need(
        hf, "qformer.encoder.layer.0.intermediate_query.dense.weight", "Qformer.bert.encoder.layer.0", "--qformer"
    )
    qformer = Blip2QFormerConfig(
        hidden_size=q_width,
        num_hidden_layers=n_qformer,
        num_attention_heads=qformer_heads,
        intermediate_size=int(intermediate.shape[0]),
        hidden_act="gelu",
        layer_norm_eps=QFORMER_LAYER_NORM_EPS,
        cross_attention_frequency=frequency,
        encoder_hidden_size=vit_width,
    )
    return Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text_config.to_dict(),
        num_query_tokens=int(query_tokens.shape[1]),
        image_token_index=image_token_id,
    )


# -- the conversion -----------------------------------------------------------------------------------------


def _missing_message(missing: set[str]) -> str:
    sources = {
        "vision_model.post_layernorm": "--qformer (ln_vision, in the BLIP-2 checkpoint)",
        "vision_model": "--vit",
        "qformer": "--qformer",
        "query_tokens": "--qformer",
        "language_projection": "--proj (llama_proj, the SkinGPT-4 checkpoint)",
        "language_model": "--llama (a folder with its weights) or llama_model.* keys in a checkpoint",
    }
    by_source: Counter[str] = Counter()
    for key in missing:
        by_source[next(source for prefix, source in sources.items() if key.startswith(prefix))] += 1
    detail = "; ".join(f"{count} expected from {source}" for source, count in by_source.items())
    return f"{len(missing)} weights missing (e.g. {sorted(missing)[0]}): {detail}"


def build_model(hf: dict[str, torch.Tensor], config: Any, dtype: torch.dtype) -> Any:
    """A `Blip2ForConditionalGeneration` holding exactly `hf` (cast to `dtype`, the Q-Former kept in float32).

    Built without allocating weights first (meta device, then the tensors assigned), so a 13B model needs no
    second copy. Raises `ConversionError` for missing, unexpected or mis-shaped weights.
    """
    from transformers import Blip2ForConditionalGeneration

    with torch.device("meta"):
        model = Blip2ForConditionalGeneration(config)
    expected = set(model.state_dict())
    head, embeddings = "language_model.lm_head.weight", "language_model.model.embed_tokens.weight"
    if config.text_config.tie_word_embeddings and head not in hf and embeddings in hf:
        hf[head] = hf[embeddings]
    missing, unexpected = expected - hf.keys(), hf.keys() - expected
    if missing:
        raise ConversionError(_missing_message(missing))
    if unexpected:
        raise ConversionError(
            f"{len(unexpected)} weights the model does not have (e.g. {', '.join(sorted(unexpected)[:5])}); "
            "merge any LoRA weights first"
        )
    fp32 = tuple(model._keep_in_fp32_modules or ())
    for key, value in hf.items():
        hf[key] = value.to(torch.float32 if key.startswith(fp32) else dtype)
    try:
        model.load_state_dict(hf, strict=True, assign=True)
    except RuntimeError as exc:  # torch lists each "size mismatch for KEY: ..." on a line of its own
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
        raise ConversionError(f"the inputs do not fit together (are they all from the same model?): {detail}") from None
    model.tie_weights()
    return model


def convert(
    sources: Sources,
    out: Path,
    *,
    dtype: str = "float16",
    vit_heads: int = 16,
    qformer_heads: int = 12,
    template: PromptTemplate = SKINGPT4_TEMPLATE,
) -> Path:
    """Write the converted folder at `out` (which must not exist or be empty) and return it.

    The folder is written next to `out` and renamed when complete, so a failed conversion leaves nothing behind.
    Raises `ConversionError` with a message naming the input at fault.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoTokenizer, BlipImageProcessorPil, GenerationConfig
    from transformers.image_utils import PILImageResampling

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConversionError(f"--out {out}: exists and is not an empty folder; choose a new one")
    if dtype not in DTYPES:
        raise ConversionError(f"--dtype {dtype}: use one of {', '.join(DTYPES)}")
    llama = Path(sources.llama)
    if not (llama / "config.json").is_file():
        raise ConversionError(f"--llama {llama}: not a Hugging Face model folder (no config.json)")
    try:
        text_config = AutoConfig.from_pretrained(llama, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(llama, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ConversionError(f"--llama {llama}: cannot read its config or tokenizer: {_first_line(exc)}") from None
    if getattr(text_config, "is_encoder_decoder", False):
        raise ConversionError(f"--llama {llama}: an encoder-decoder model; SkinGPT-4 needs a decoder-only one")
    if tokenizer.unk_token_id is None or tokenizer.eos_token_id is None:
        raise ConversionError(f"--llama {llama}: the tokenizer has no <unk> or no end-of-sequence token")

    lavis = read_llama_weights(llama)
    for flag, path in (("--vit", sources.vit), ("--qformer", sources.qformer), ("--proj", sources.proj)):
        lavis.update(read_checkpoint(path, flag))
    hf, dropped = lavis_to_hf(lavis)
    del lavis  # the mapped dict holds every tensor still needed
    config = blip2_config(
        hf, text_config, vit_heads=vit_heads, qformer_heads=qformer_heads, image_token_id=tokenizer.unk_token_id
    )
    model = build_model(hf, config, DTYPES[dtype])
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        do_sample=False,
    )
    image_processor = BlipImageProcessorPil(
        size={"height": config.vision_config.image_size, "width": config.vision_config.image_size},
        resample=PILImageResampling.BICUBIC,  # PIL's, as MiniGPT-4's torchvision Resize of PIL images
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(partial, max_shard_size="5GB")
        # save_pretrained records the first parameter's dtype, the float32 query tokens; say what the bulk is.
        model.config.dtype = dtype
        model.config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        image_processor.save_pretrained(partial)
        manifest = {
            "format": 1,
            "template": template.to_json(),
            "image_token": tokenizer.unk_token,
            "num_query_tokens": config.num_query_tokens,
            "converted_from": {name: Path(getattr(sources, name)).name for name in ("vit", "qformer", "proj", "llama")},
            "dropped_unused_keys": dict(dropped),
        }
        (partial / TEMPLATE_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info(
        "converted: ViT %d blocks, Q-Former %d layers, %d query tokens, %s %d layers; dropped unused keys: %s",
        config.vision_config.num_hidden_layers,
        config.qformer_config.num_hidden_layers,
        config.num_query_tokens,
        config.text_config.model_type,
        config.text_config.num_hidden_layers,
        dict(dropped) or "none",
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (2 when the inputs cannot be converted)."""
    parser = argparse.ArgumentParser(
        prog="python -m model_server.skingpt4_convert", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--vit", type=Path, required=True, help="EVA ViT-g checkpoint (eva_vit_g.pth)")
    parser.add_argument("--qformer", type=Path, required=True, help="BLIP-2 checkpoint (Q-Former, ln_vision)")
    parser.add_argument("--proj", type=Path, required=True, help="SkinGPT-4 checkpoint (llama_proj)")
    parser.add_argument("--llama", type=Path, required=True, help="Hugging Face Llama folder")
    parser.add_argument("--out", type=Path, required=True, help="folder to write (must not exist or be empty)")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float16", help="weights' dtype (Q-Former: float32)")
    parser.add_argument("--vit-heads", type=int, default=16, help="ViT attention heads (EVA ViT-g: 16)")
    parser.add_argument("--qformer-heads", type=int, default=12, help="Q-Former attention heads (BLIP-2: 12)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sources = Sources(vit=args.vit, qformer=args.qformer, proj=args.proj, llama=args.llama)
    try:
        out = convert(sources, args.out, dtype=args.dtype, vit_heads=args.vit_heads, qformer_heads=args.qformer_heads)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}; serve it with MODEL_BACKEND=skingpt4 MODEL_PATH={out} python -m model_server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
