"""The identity of the running model: what exactly answers, as one stable digest (`api.ModelIdentity`).

Local backends hash the contents of their weight files once, at load (sha256; about a second per GB, read in
1 MiB blocks, so memory stays flat whatever the size), and the small files that shape the answers (configs,
tokenizer, chat template, label map). Remote backends cannot see the weights: they report the remote model's
name and the revision the remote server reports, marked `weights_hashed: false`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from model_server.api import ModelIdentity, Quantization

# What counts as weights in a model folder, and which other files change what a model answers.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
CONFIG_SUFFIXES = (".json", ".jinja", ".txt", ".model", ".tiktoken")
_BLOCK = 1024 * 1024


def files_sha256(files: Iterable[Path], root: Path | None = None) -> str:
    """A sha256 over the files' names (relative to `root`) and contents, in name order; "" for no files.

    Each file contributes its name, its size and its own content hash, so moving bytes from one file to another
    changes the digest. Raises OSError when a file cannot be read.
    """
    digest = hashlib.sha256()
    count = 0
    for path in sorted(files, key=lambda p: p.as_posix()):
        name = path.relative_to(root).as_posix() if root else path.name
        content = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                content.update(block)
                size += len(block)
        digest.update(f"{name}\0{size}\0{content.hexdigest()}\n".encode())
        count += 1
    return digest.hexdigest() if count else ""


def folder_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The regular files under `folder` (recursively) whose names end with one of `suffixes`."""
    return [path for path in folder.rglob("*") if path.is_file() and path.name.endswith(suffixes)]


def make_identity(
    *,
    model_id: str,
    backend: str,
    quantization: Quantization = "none",
    weights_sha256: str = "",
    config_sha256: str = "",
    revision: str = "",
) -> ModelIdentity:
    """A `ModelIdentity` whose `identity` is a sha256 over every other field (canonical JSON)."""
    fields: dict[str, Any] = {
        "model_id": model_id,
        "backend": backend,
        "quantization": quantization,
        "weights_sha256": weights_sha256,
        "weights_hashed": bool(weights_sha256),
        "config_sha256": config_sha256,
        "revision": revision,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return ModelIdentity(identity=hashlib.sha256(canonical.encode()).hexdigest(), **fields)


def folder_identity(
    folder: Path,
    *,
    model_id: str,
    backend: str,
    quantization: Quantization = "none",
    extra_config: Iterable[Path] = (),
) -> ModelIdentity:
    """The identity of a model loaded from `folder`: its weight files and config files hashed.

    `extra_config` adds files outside the folder that shape the answers (a label map given elsewhere).
    Raises OSError when a file cannot be read.
    """
    weights = files_sha256(folder_files(folder, WEIGHT_SUFFIXES), folder)
    configs = folder_files(folder, CONFIG_SUFFIXES)
    inside = folder.resolve()
    extra = [path for path in extra_config if path.is_file() and inside not in path.resolve().parents]
    config = files_sha256(configs, folder)
    if extra:
        config = hashlib.sha256((config + files_sha256(extra)).encode()).hexdigest()
    return make_identity(
        model_id=model_id, backend=backend, quantization=quantization, weights_sha256=weights, config_sha256=config
    )
