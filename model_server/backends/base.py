"""The interfaces inference backends implement: `Backend` (a local model on the model thread) and
`RemoteBackend` (a model on another server, awaited on the event loop, many calls at once)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from model_server.api import AnalyzeResponse, ConceptsRequest, ConceptsResponse, ModelIdentity, Quantization
from model_server.errors import ApiError
from model_server.identity import make_identity
from model_server.prepared import PreparedRequest


class BackendError(Exception):
    """A backend cannot start (bad folder, missing dependency) or cannot answer; the message says what to do."""


class ConceptsUnsupported(ApiError):
    """This backend has no language model, so it cannot read the patient's words (permanent)."""

    status = 501
    code = "not_supported"


class BackendBase(ABC):
    """What every backend has: a name, the model's id and identity, loading and closing."""

    #: short name reported in responses and metrics ("hf", "classifier", "openai", ...)
    name: str = "base"
    #: none, 8bit or 4bit; set by the backends that quantize
    quantization: Quantization = "none"

    def __init__(self) -> None:
        self._loaded = False
        self._identity: ModelIdentity | None = None

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
        """A short version of the weights (a content hash or a remote revision); empty when unknown."""
        return ""

    @property
    def identity(self) -> ModelIdentity:
        """What exactly answers (`api.ModelIdentity`), computed once at load and cached."""
        if self._identity is None:
            self._identity = self._compute_identity()
        return self._identity

    def _compute_identity(self) -> ModelIdentity:
        """The identity without hashed weights; backends with weight files override this."""
        return make_identity(model_id=self.model_id, backend=self.name, quantization=self.quantization)

    def load(self) -> None:
        """Load the model once (later calls do nothing); raises `BackendError` with a clear message when it cannot.

        The identity (and so the weights' hash) is computed here, once.
        """
        if not self._loaded:
            self._load()
            self._identity = self._compute_identity()
            self._loaded = True

    @abstractmethod
    def _load(self) -> None:
        """Do the loading; called at most once by `load()`."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release resources (sessions, GPU memory). Called once at shutdown."""


class Backend(BackendBase):
    """A local model behind the batcher.

    The server calls `load()` once at start, then `analyze_batch()`, `concepts_batch()` and `health_check()`
    from one worker thread only, never concurrently: implementations need no locking and may block.
    """

    @abstractmethod
    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        """Analyse a batch; one result per item, in order. A failing item yields its exception, not a raise."""

    def concepts_batch(self, requests: list[ConceptsRequest]) -> list[ConceptsResponse | Exception]:
        """The concepts each text states, one result per request, in order; quotes are checked by the server.

        The default is for backends without a language model: every request fails with `ConceptsUnsupported`.
        """
        return [ConceptsUnsupported(f"the {self.name} backend cannot read text") for _ in requests]

    @abstractmethod
    def health_check(self) -> None:
        """Run a real minimal forward pass; raises when the model cannot answer."""


class RemoteBackend(BackendBase):
    """A model on another server. Each request is its own call, awaited on the event loop; the server runs up to
    `MODEL_MAX_CONCURRENCY` of them at once and the remote server does the batching.

    `load()` (sync, before serving) checks the configuration; `start()` and `aclose()` run on the serving loop.
    """

    async def start(self) -> None:
        """Open connections on the running loop (called once the server's loop runs)."""

    @abstractmethod
    async def analyze_one(self, item: PreparedRequest) -> AnalyzeResponse:
        """Analyse one request; raises on failure (the server answers for this request only)."""

    @abstractmethod
    async def concepts_one(self, request: ConceptsRequest) -> ConceptsResponse:
        """The concepts one text states; raises on failure. Quotes are checked by the server."""

    @abstractmethod
    async def check_health(self) -> None:
        """Ask the remote model for a minimal answer; raises when it cannot answer."""

    async def aclose(self) -> None:
        """Close connections (called on the serving loop at shutdown)."""
