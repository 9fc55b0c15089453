"""Reading an analyze request off the wire: JSON with base64 images, or multipart with raw image parts.

Everything is checked at the door, before any image is decoded: the content type (415), the body size (413),
the JSON syntax (400) and the contract (422: unknown fields, too many or no images, text too long).
Returns the validated `AnalyzeRequest` and the images' raw bytes; decoding happens later, off the loop.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import BodyPartReader, web
from pydantic import ValidationError

from model_server.api import MAX_BODY_BYTES, MAX_IMAGE_BYTES, MAX_IMAGES, AnalyzeRequest
from model_server.errors import ApiError, ImageTooLarge, InvalidImage, InvalidRequest

MAX_REQUEST_PART_BYTES = 1024 * 1024  # the `request` JSON part of a multipart body
_CHUNK = 256 * 1024


class BodyTooLarge(ApiError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidJson(ApiError):
    status = 400
    code = "invalid_json"


async def read_analyze_request(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    """Parse and validate the body of `POST /v1/analyze`. Raises an `ApiError` subclass for bad input."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body has {request.content_length} bytes; the limit is {MAX_BODY_BYTES}")
    if request.content_type == "application/json":
        analyze, images = await _read_json(request)
    elif request.content_type == "multipart/form-data":
        analyze, images = await _read_multipart(request)
    else:
        raise UnsupportedMediaType(
            f"content type {request.content_type!r} is not accepted; send application/json or multipart/form-data"
        )
    if not images:
        raise InvalidRequest("send at least one image", code="no_images")
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"send at most {MAX_IMAGES} images (got {len(images)})", code="too_many_images")
    return analyze, images


def validate_request(payload: Any) -> AnalyzeRequest:
    """The payload as an `AnalyzeRequest`; raises `InvalidRequest` naming the first offending field."""
    if not isinstance(payload, dict):
        raise InvalidRequest("the request must be a JSON object")
    try:
        return AnalyzeRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        code = "too_many_images" if first["loc"][:1] == ("images",) and first["type"] == "too_long" else None
        raise InvalidRequest(f"{where}: {first['msg']}", code=code) from None


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from None


async def _read_json(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    raw = await request.read()  # enforces client_max_size (413)
    analyze = validate_request(_parse_json(raw))
    images = [_decode_base64(position, text) for position, text in enumerate(analyze.images, start=1)]
    return analyze.model_copy(update={"images": []}), images


def _decode_base64(position: int, text: str) -> bytes:
    if "," in text[:100] and text.startswith("data:"):
        text = text.split(",", 1)[1]  # tolerate data URLs
    if len(text) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
        raise ImageTooLarge(f"image {position}: over {MAX_IMAGE_BYTES} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage(f"image {position}: not valid base64") from None


async def _read_multipart(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise InvalidRequest(f"the multipart body cannot be read: {exc}") from None
    analyze: AnalyzeRequest | None = None
    images: list[bytes] = []
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InvalidRequest("nested multipart bodies are not accepted")
        if part.name == "request":
            if analyze is not None:
                raise InvalidRequest("send one `request` part")
            raw = await _read_part(part, MAX_REQUEST_PART_BYTES, "the request part")
            analyze = validate_request(_parse_json(raw))
            if analyze.images:
                raise InvalidRequest("in multipart form, leave `images` empty and send `image` parts")
            total += len(raw)
        elif part.name == "image":
            if len(images) >= MAX_IMAGES:
                raise InvalidRequest(f"send at most {MAX_IMAGES} images", code="too_many_images")
            data = await _read_part(part, MAX_IMAGE_BYTES, f"image {len(images) + 1}", ImageTooLarge)
            images.append(data)
            total += len(data)
        else:
            raise InvalidRequest(f"unknown part {part.name!r}: send `request` and `image` parts")
        if total > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
    if analyze is None:
        raise InvalidRequest("the multipart body has no `request` part")
    return analyze, images


async def _read_part(part: BodyPartReader, limit: int, what: str, too_large: type[ApiError] = BodyTooLarge) -> bytes:
    """Read a part's (decoded) bytes, stopping as soon as it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise too_large(f"{what} is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
