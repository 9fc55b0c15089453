"""Reading untrusted bodies off the wire: bounded reads and strict JSON, every failure a 4xx `ApiError`.

JSON must be UTF-8, at most `MAX_JSON_DEPTH` levels deep (deeper nesting would exhaust Python's recursion
limit while parsing or rendering), hold no lone surrogate (`"\\ud800"`: not text, and it breaks any later
UTF-8 encoding) and no `NaN`/`Infinity` (not JSON). A body that ends early or whose transfer encoding is
broken is a 400; a client that hangs up gets nothing (there is no one to answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from model_server.errors import ApiError, InvalidRequest

MAX_JSON_DEPTH = 32
_CHUNK = 256 * 1024
_SURROGATE = re.compile(r"[\ud800-\udfff]")

M = TypeVar("M", bound=BaseModel)


class BodyTooLarge(ApiError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidJson(ApiError):
    status = 400
    code = "invalid_json"


class MalformedBody(ApiError):
    """The body's framing is broken: truncated, a bad transfer encoding, an unreadable multipart layout."""

    status = 400
    code = "malformed_body"


class ClientClosed(ApiError):
    """The client hung up while its body was read (nobody reads the answer; counted in metrics)."""

    status = 499
    code = "client_closed"


def require_content_type(request: web.Request, *accepted: str) -> str:
    """The request's media type when it is one of `accepted`; raises `UnsupportedMediaType` otherwise."""
    if request.content_type not in accepted:
        raise UnsupportedMediaType(
            f"content type {request.content_type[:100]!r} is not accepted; send {' or '.join(accepted)}"
        )
    return request.content_type


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it exceeds `limit` bytes, before reading it when the length is
    declared. Raises `BodyTooLarge`, `MalformedBody` (truncated, bad chunked encoding) or `ClientClosed`."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body has {request.content_length} bytes; the limit is {limit}")
    return await read_limited(lambda: request.content.read(_CHUNK), limit, "the body")


async def read_limited(
    read_chunk: Callable[[], Awaitable[bytes]], limit: int, what: str, too_large: type[ApiError] = BodyTooLarge
) -> bytes:
    """Everything `read_chunk` yields until it returns b"", stopping with `too_large` as soon as the total
    exceeds `limit`. Framing errors become `MalformedBody` (see `guarded`)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await guarded(read_chunk(), what):
        size += len(chunk)
        if size > limit:
            raise too_large(f"{what} is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def guarded(awaitable: Any, what: str) -> Any:
    """Await a read of the body; its framing errors become `MalformedBody`, a hang-up `ClientClosed`.

    aiohttp reports broken framing as HttpProcessingError (a line too long, too many headers, a bad chunk) or
    ValueError/AssertionError (a missing boundary, reading after the end): both are the client's doing here.
    """
    try:
        return await awaitable
    except ApiError:
        raise
    except (ConnectionError, web.HTTPException):
        raise
    except HttpProcessingError as exc:
        raise MalformedBody(f"{what} is malformed: {exc.message or type(exc).__name__}"[:300]) from None
    except (ValueError, AssertionError, EOFError) as exc:
        raise MalformedBody(f"{what} is malformed or ends early: {exc}"[:300]) from None


def parse_json(raw: bytes, what: str = "the body") -> Any:
    """`raw` as a JSON value. Raises `InvalidJson` (not UTF-8, bad syntax, too deep, lone surrogates, NaN)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"{what} is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidJson(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:
        raise InvalidJson(f"{what} is not valid JSON: {exc}") from None
    _check_tree(value, what)
    return value


def validate(model: type[M], payload: Any, what: str = "the request") -> M:
    """`payload` as a `model`; raises `InvalidRequest` naming the first offending field."""
    if not isinstance(payload, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        code = "too_many_images" if first["loc"][:1] == ("images",) and first["type"] == "too_long" else None
        raise InvalidRequest(f"{where}: {first['msg']}", code=code) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _check_tree(value: Any, what: str) -> None:
    """Walk the parsed value without recursion: depth and strings (keys too) checked."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not node.isascii() and _SURROGATE.search(node):
                raise InvalidJson(f"{what} holds a lone surrogate escape (\\ud800-\\udfff), which is not text")
        elif isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidJson(f"{what} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
                stack.extend((child, depth + 1) for child in node.values())
            else:
                stack.extend((child, depth + 1) for child in node)
