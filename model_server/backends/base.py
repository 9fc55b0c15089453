"""The interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from model_server.api import AnalyzeResponse
from model_server.prepared import PreparedRequest


class BackendError(Exception):
    """A backend cannot start (bad folder, missing dependency) or cannot answer; the message says what to do."""


class Backend(ABC):
    """A model behind `POST /v1/analyze`.

    The server calls `load()` once at start, then `analyze_batch()` and `health_check()` from one worker thread
    only, never concurrently: implementations need no locking and may block.
    """

    #: short name reported in responses and metrics ("hf", "classifier", "openai", ...)
    name: str = "base"

    def __init__(self) -> None:
        self._loaded = False

    @property
    def loaded(self) -> bool:
        """Whether `load()` has completed."""
        return self._loaded

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What model answers (a folder name or a remote model name)."""

    @property
    def model_revision(self) -> str:
        """A version of the weights (a content hash or a remote revision); empty when unknown."""
        return ""

    def load(self) -> None:
        """Load the model once (later calls do nothing); raises `BackendError` with a clear message when it cannot."""
        if not self._loaded:
            self._load()
            self._loaded = True

    @abstractmethod
    def _load(self) -> None:
        """Do the loading; called at most once by `load()`."""

    @abstractmethod
    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        """Analyse a batch; one result per item, in order. A failing item yields its exception, not a raise."""

    @abstractmethod
    def health_check(self) -> None:
        """Run a real minimal forward pass; raises when the model cannot answer."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release resources (sessions, GPU memory). Called once at shutdown."""
