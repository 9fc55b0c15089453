"""Errors that become an `api.ErrorResponse`: each carries its HTTP status and a stable machine-readable code."""

from __future__ import annotations


class ApiError(Exception):
    """A request the server answers with `status` and `{"error": {"code": code, "message": message}}`.

    `retry_after` (seconds) is sent as a Retry-After header when set.
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.retry_after: int | None = None


class InvalidImage(ApiError):
    """The bytes are not a readable JPEG, PNG or WebP image (permanent: send another photo)."""

    status = 400
    code = "invalid_image"


class ImageTooLarge(ApiError):
    """The image exceeds the byte or pixel cap, or looks like a decompression bomb (permanent)."""

    status = 413
    code = "image_too_large"


class InvalidRequest(ApiError):
    """The request does not follow the contract in `api.py` (permanent)."""

    status = 422
    code = "invalid_request"


class QueueFull(ApiError):
    """Too many requests are waiting; retry after `retry_after` seconds."""

    status = 503
    code = "queue_full"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(ApiError):
    """The request waited or ran longer than the server's request timeout (retryable)."""

    status = 504
    code = "timeout"


class ModelError(ApiError):
    """The model failed on this request (may be retryable; the server keeps serving)."""

    status = 500
    code = "model_error"
