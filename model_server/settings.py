"""The model server's settings: environment variables with the `MODEL_` prefix, checked once at start.

`load_settings()` returns a `Settings` or raises `SettingsError` whose message is one line naming the variable,
e.g. `MODEL_PATH: /x is not a model folder (no config.json)`. `python -m model_server` prints it and exits 2.
Secrets may come from a file: `MODEL_OPENAI_API_KEY_FILE=/run/secrets/key`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MODEL_"

BackendName = Literal["hf", "classifier", "openai", "skingpt4", "instant"]


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line that names the variable."""


class Settings(BaseSettings):
    """Every knob of the model server. Defaults suit a laptop; see model_server/README.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    backend: BackendName = "hf"
    path: Path | None = Field(default=None, description="local model folder (hf, skingpt4, classifier)")
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    quantization: Literal["none", "4bit", "8bit"] = "none"
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=1, le=65535)
    max_batch_size: int = Field(default=8, ge=1, le=256)
    max_wait_ms: float = Field(default=10.0, ge=0.0, le=10_000.0)
    max_queue: int = Field(default=64, ge=1, le=100_000)
    max_concurrency: int = Field(default=32, ge=1, le=4096, description="remote backends: calls in flight at once")
    request_timeout_s: float = Field(default=120.0, gt=0.0, le=3600.0)
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    concepts_max_new_tokens: int = Field(default=160, ge=16, le=4096)
    threads: int | None = Field(default=None, ge=1, le=1024, description="torch CPU threads (default: torch's)")
    rank_temperature: float = Field(default=1.0, gt=0.0, le=100.0)
    labels: Path | None = Field(default=None, description="classifier: JSON label map (default PATH/labels.json)")
    openai_url: str = Field(default="", description="openai: base URL, e.g. http://vllm:8000/v1")
    openai_model: str = ""
    openai_api_key: SecretStr = SecretStr("")
    instant_concepts: Path | None = Field(default=None, description="instant: a JSON script of concepts to report")
    instant_delay_s: float = Field(default=0.0, ge=0.0, le=60.0,
                                   description="instant: seconds each batch takes, standing in for a model's time")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def env_name(field: str) -> str:
    """The environment variable behind a settings field (`path` -> `MODEL_PATH`)."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read and check the settings from the environment (`MODEL_*`, `MODEL_*_FILE`), then `overrides`.

    Raises `SettingsError` with a one-line message naming the first bad variable.
    """
    values: dict[str, object] = {}
    for name in Settings.model_fields:
        file_variable = f"{env_name(name)}_FILE"
        if os.environ.get(file_variable) and not os.environ.get(env_name(name)):
            values[name] = _read_secret_file(file_variable, os.environ[file_variable])
    values.update(overrides)
    try:
        settings = Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        raise SettingsError(f"{env_name(field)}: {first['msg']} (got {first.get('input')!r})") from None
    check_settings(settings)
    return settings


def check_settings(settings: Settings) -> None:
    """Checks that span several fields or touch the file system; raises `SettingsError`."""
    if settings.backend in ("hf", "skingpt4", "classifier"):
        if settings.path is None:
            raise SettingsError(f"{env_name('path')}: missing; set it to a local model folder")
        if not settings.path.is_dir():
            raise SettingsError(f"{env_name('path')}: {settings.path} is not a folder")
        if not (settings.path / "config.json").is_file():
            raise SettingsError(f"{env_name('path')}: {settings.path} is not a model folder (no config.json)")
    if settings.backend == "classifier":
        labels = settings.labels or (settings.path / "labels.json" if settings.path else None)
        if labels is None or not labels.is_file():
            raise SettingsError(f"{env_name('labels')}: no label map at {labels}; see model_server/README.md")
    if settings.backend == "openai":
        if not settings.openai_url.startswith(("http://", "https://")):
            raise SettingsError(f"{env_name('openai_url')}: set it to the server's base URL (http://host:port/v1)")
        if not settings.openai_model:
            raise SettingsError(f"{env_name('openai_model')}: missing; set it to the served model's name")
    if settings.instant_concepts is not None:
        if settings.backend != "instant":
            raise SettingsError(f"{env_name('instant_concepts')}: only the instant backend reads a concepts script")
        if not settings.instant_concepts.is_file():
            raise SettingsError(f"{env_name('instant_concepts')}: {settings.instant_concepts} is not a file")
    if settings.instant_delay_s and settings.backend != "instant":
        raise SettingsError(f"{env_name('instant_delay_s')}: only the instant backend waits instead of computing")
    if settings.quantization != "none" and settings.backend not in ("hf", "skingpt4"):
        raise SettingsError(f"{env_name('quantization')}: only the hf and skingpt4 backends quantize")


def _read_secret_file(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None
