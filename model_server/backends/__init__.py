"""Backends, chosen by `MODEL_BACKEND`. Each is imported only when chosen, so no backend's heavy dependencies
(torch, transformers, timm) are imported by a server that does not use them."""

from __future__ import annotations

from model_server.backends.base import Backend, BackendBase, BackendError, RemoteBackend
from model_server.settings import Settings


def create_backend(settings: Settings) -> BackendBase:
    """The backend `settings.backend` names, configured but not loaded. Raises `BackendError`."""
    if settings.backend in ("hf", "skingpt4"):
        from model_server.backends.hf import HFBackend
        from model_server.backends.skingpt4 import SkinGPT4Backend

        assert settings.path is not None  # checked by check_settings
        backend_class = HFBackend if settings.backend == "hf" else SkinGPT4Backend
        return backend_class(
            settings.path,
            device=settings.device,
            dtype=settings.dtype,
            quantization=settings.quantization,
            max_new_tokens=settings.max_new_tokens,
            concepts_max_new_tokens=settings.concepts_max_new_tokens,
            threads=settings.threads,
            rank_temperature=settings.rank_temperature,
        )
    if settings.backend == "classifier":
        from model_server.backends.classifier import ClassifierBackend

        assert settings.path is not None
        return ClassifierBackend(
            settings.path, labels=settings.labels, device=settings.device, threads=settings.threads
        )
    if settings.backend == "openai":
        from model_server.backends.openai import OpenAIBackend

        return OpenAIBackend(
            settings.openai_url,
            settings.openai_model,
            api_key=settings.openai_api_key.get_secret_value(),
            max_new_tokens=settings.max_new_tokens,
            concepts_max_new_tokens=settings.concepts_max_new_tokens,
            timeout_s=settings.request_timeout_s,
            max_connections=settings.max_concurrency,
        )
    if settings.backend == "instant":
        from model_server.backends.instant import InstantBackend

        return InstantBackend(concepts_script=settings.instant_concepts, delay_s=settings.instant_delay_s)
    raise BackendError(f"MODEL_BACKEND={settings.backend} is not available in this build")


__all__ = ["Backend", "BackendBase", "BackendError", "RemoteBackend", "create_backend"]
