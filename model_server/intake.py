"""Reading request bodies: an analyze request as JSON with base64 images or multipart with raw image parts,
and a concepts request as JSON.

Everything is checked at the door, before any image is decoded: the content type (415), the body size (413),
the JSON and multipart syntax (400) and the contract (422: unknown fields, too many or no images, text too long,
control characters in keys). Returns validated requests and the images' raw bytes; decoding happens later,
off the loop.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import BodyPartReader, MultipartReader, web

from model_server.api import MAX_BODY_BYTES, MAX_IMAGE_BYTES, MAX_IMAGES, AnalyzeRequest, ConceptsRequest
from model_server.errors import ApiError, ImageTooLarge, InvalidImage, InvalidRequest
from model_server.wire import (
    BodyTooLarge,
    InvalidJson,
    MalformedBody,
    UnsupportedMediaType,
    guarded,
    parse_json,
    read_body,
    read_limited,
    require_content_type,
    validate,
)

MAX_REQUEST_PART_BYTES = 1024 * 1024  # the `request` JSON part of a multipart body
MAX_CONCEPTS_BODY_BYTES = 256 * 1024  # a concepts request: 4000 characters of text and 64 descriptions
_CHUNK = 256 * 1024

__all__ = [
    "BodyTooLarge",
    "InvalidJson",
    "MalformedBody",
    "UnsupportedMediaType",
    "read_analyze_request",
    "read_concepts_request",
    "validate_request",
]


async def read_analyze_request(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    """Parse and validate the body of `POST /v1/analyze`. Raises an `ApiError` subclass for bad input."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body has {request.content_length} bytes; the limit is {MAX_BODY_BYTES}")
    if require_content_type(request, "application/json", "multipart/form-data") == "application/json":
        analyze, images = await _read_json(request)
    else:
        analyze, images = await _read_multipart(request)
    if not images:
        raise InvalidRequest("send at least one image", code="no_images")
    if len(images) > MAX_IMAGES:
        raise InvalidRequest(f"send at most {MAX_IMAGES} images (got {len(images)})", code="too_many_images")
    return analyze, images


async def read_concepts_request(request: web.Request) -> ConceptsRequest:
    """Parse and validate the body of `POST /v1/concepts` (JSON only). Raises an `ApiError` subclass."""
    require_content_type(request, "application/json")
    raw = await read_body(request, MAX_CONCEPTS_BODY_BYTES)
    return validate(ConceptsRequest, parse_json(raw))


def validate_request(payload: object) -> AnalyzeRequest:
    """The payload as an `AnalyzeRequest`; raises `InvalidRequest` naming the first offending field."""
    return validate(AnalyzeRequest, payload)


async def _read_json(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    analyze = validate_request(parse_json(await read_body(request, MAX_BODY_BYTES)))
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


async def _open_multipart(request: web.Request) -> MultipartReader:
    try:
        return await request.multipart()
    except (ValueError, AssertionError, KeyError) as exc:
        raise MalformedBody(f"the multipart body cannot be read: {exc}"[:300]) from None


async def _read_multipart(request: web.Request) -> tuple[AnalyzeRequest, list[bytes]]:
    reader = await _open_multipart(request)
    analyze: AnalyzeRequest | None = None
    images: list[bytes] = []
    total = 0
    while True:
        part = await guarded(reader.next(), "the multipart body")
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InvalidRequest("nested multipart bodies are not accepted")
        if part.name == "request":
            if analyze is not None:
                raise InvalidRequest("send one `request` part")
            raw = await _read_part(part, MAX_REQUEST_PART_BYTES, "the request part")
            analyze = validate_request(parse_json(raw, "the request part"))
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
            shown = "without a name" if part.name is None else repr(part.name[:40])
            raise InvalidRequest(f"unknown part {shown}: send `request` and `image` parts")
        if total > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
    if analyze is None:
        raise InvalidRequest("the multipart body has no `request` part")
    return analyze, images


async def _read_part(part: BodyPartReader, limit: int, what: str, too_large: type[ApiError] = BodyTooLarge) -> bytes:
    """Read a part's raw bytes, stopping as soon as it exceeds `limit`."""
    return await read_limited(lambda: part.read_chunk(_CHUNK), limit, what, too_large)
