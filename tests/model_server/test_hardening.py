"""Regression tests for the inputs that used to get a 500 (found by hardening and fuzzing), and the last-resort
middleware. Each test is named after what it sends; every answer must be a 4xx in the error shape, and the
server must keep serving."""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from model_server.app import REQUEST_ID_HEADER, SERVER_HEADERS, init_app
from model_server.images import decode_image
from model_server.wire import MAX_JSON_DEPTH

from .conftest import ClientFactory, make_settings
from .helpers import (
    EXIF_ASCII,
    EXIF_RATIONAL,
    FakeBackend,
    jpeg,
    jpeg_with_raw_exif,
    json_body,
    orientation,
)
from .test_app import assert_error, assert_still_serving

GOOD = jpeg()
JSON = {"Content-Type": "application/json"}


def multipart_raw(body: bytes, boundary: str = "x") -> dict[str, Any]:
    return {"data": body, "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}


def part(name: str, content: bytes, headers: bytes = b"") -> bytes:
    return b'--x\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n' + headers + b"\r\n" + content


REQUEST_PART = part("request", b"{}")


# -- JSON bodies -------------------------------------------------------------------------------------------


async def test_json_nested_100000_levels_deep_is_a_400_not_a_recursion_error(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    body = b"[" * 100_000 + b"]" * 100_000
    await assert_error(await client.post("/v1/analyze", data=body, headers=JSON), 400, "invalid_json")
    await assert_still_serving(client)


async def test_answers_nested_deeper_than_the_limit_are_a_400(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    deep: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = {"k": deep}
    response = await client.post("/v1/analyze", json=json_body([GOOD], answers=deep))
    error = await assert_error(response, 400, "invalid_json")
    assert "nested too deeply" in error.error.message
    shallow: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH - 3):
        shallow = {"k": shallow}
    assert (await client.post("/v1/analyze", json=json_body([GOOD], answers=shallow))).status == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"images": [], "answers": {"note": "\\ud800"}}', id="lone-surrogate-in-an-answer"),
        pytest.param(b'{"images": [], "answers": {"\\udfff": 1}}', id="lone-surrogate-in-a-key"),
        pytest.param(b'{"images": [], "answers": {"t": NaN}}', id="nan"),
        pytest.param(b'{"images": [], "answers": {"t": -Infinity}}', id="infinity"),
        pytest.param(b'{"images": [], "question": "\xff\xfe"}', id="not-utf-8"),
        pytest.param('{"images": []}'.encode("utf-16"), id="utf-16"),
    ],
)
async def test_json_that_is_not_strict_json_text_is_a_400(app_client: ClientFactory, body: bytes) -> None:
    client = await app_client(FakeBackend())
    await assert_error(await client.post("/v1/analyze", data=body, headers=JSON), 400, "invalid_json")


async def test_a_control_character_in_an_answer_key_is_a_422(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    response = await client.post("/v1/analyze", json=json_body([GOOD], answers={"fever\x00": True}))
    await assert_error(response, 422, "invalid_request")
    # in free text they are kept out of prompts by scrubbing, and the patient's message is not lost
    tolerated = await client.post("/v1/analyze", json=json_body([GOOD], question="bell\x07 and nul\x00"))
    assert tolerated.status == 200


# -- multipart bodies --------------------------------------------------------------------------------------

MALFORMED_MULTIPART = [
    ("empty-boundary", multipart_raw(b"--x\r\n", boundary="")),
    ("wrong-boundary", multipart_raw(b"--y\r\nContent-Disposition: form-data; name=request\r\n\r\n{}\r\n--y--\r\n")),
    ("garbage-preamble-only", multipart_raw(b"hello\r\n" * 10)),
    ("truncated-in-a-part", multipart_raw(REQUEST_PART)),
    (
        "part-header-line-of-200-kb",
        multipart_raw(part("request", b"{}\r\n--x--\r\n", b"X-A: " + b"a" * 200_000 + b"\r\n")),
    ),
    ("100000-part-headers", multipart_raw(part("request", b"{}\r\n--x--\r\n", b"X-A: a\r\n" * 100_000))),
    (
        "nested-multipart-without-a-boundary",
        multipart_raw(part("request", b"--y\r\n\r\nhi\r\n--y--\r\n--x--\r\n", b"Content-Type: multipart/mixed\r\n")),
    ),
]


@pytest.mark.parametrize(("kwargs"), [pytest.param(k, id=name) for name, k in MALFORMED_MULTIPART])
async def test_malformed_multipart_is_a_400_not_a_500(app_client: ClientFactory, kwargs: dict[str, Any]) -> None:
    backend = FakeBackend()
    client = await app_client(backend)
    await assert_error(await client.post("/v1/analyze", **kwargs), 400, "malformed_body")
    assert backend.batches == []
    await assert_still_serving(client)


async def test_a_part_without_a_name_is_a_422(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    body = b"--x\r\nContent-Type: text/plain\r\n\r\n{}\r\n--x--\r\n"
    error = await assert_error(await client.post("/v1/analyze", **multipart_raw(body)), 422, "invalid_request")
    assert "without a name" in error.error.message


async def test_an_image_part_in_base64_transfer_encoding_is_an_invalid_image(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    body = REQUEST_PART + b"\r\n" + part("image", b"/9j/4AAQ\r\n--x--\r\n", b"Content-Transfer-Encoding: base64\r\n")
    await assert_error(await client.post("/v1/analyze", **multipart_raw(body)), 400, "invalid_image")


# -- EXIF ----------------------------------------------------------------------------------------------------

# Pillow's ImageOps.exif_transpose writes the EXIF back after turning the photo; a tag stored with a type its
# standard does not allow made that raise, and the whole request was a 500. Found by mutating EXIF bytes.
CORRUPT_EXIF = [
    ("ascii-stored-under-a-short-tag", (0x0156, EXIF_ASCII, b"2020:01:01\x00")),  # struct.error
    ("ascii-stored-under-a-rational-tag", (0x011A, EXIF_ASCII, b"seventy-two\x00")),  # TypeError
    ("rational-stored-under-an-ascii-tag", (0x010F, EXIF_RATIONAL, struct.pack(">II", 1, 2))),  # AttributeError
]


@pytest.mark.parametrize("entry", [pytest.param(e, id=name) for name, e in CORRUPT_EXIF])
def test_a_corrupt_exif_tag_keeps_the_photo_and_its_orientation(entry: tuple[int, int, bytes]) -> None:
    image = decode_image(jpeg_with_raw_exif([orientation(6), entry], width=80, height=40))
    assert image.size == (40, 80)  # turned upright, as the orientation says


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([orientation(9)], id="orientation-out-of-range"),
        pytest.param([(0x0112, EXIF_ASCII, b"six\x00")], id="orientation-as-text"),
        pytest.param([(0x0112, EXIF_RATIONAL, struct.pack(">II", 6, 1))], id="orientation-as-a-fraction"),
    ],
)
def test_an_unusable_orientation_keeps_the_photo_as_stored(entries: list[tuple[int, int, bytes]]) -> None:
    assert decode_image(jpeg_with_raw_exif(entries, width=80, height=40)).size == (80, 40)


async def test_a_photo_with_a_corrupt_exif_is_analysed(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    photo = jpeg_with_raw_exif([orientation(6), CORRUPT_EXIF[0][1]])
    assert (await client.post("/v1/analyze", json=json_body([photo]))).status == 200


# -- the last resort ---------------------------------------------------------------------------------------


@pytest.fixture
async def boom_client() -> AsyncIterator[TestClient[Any, Any]]:
    """The app with one more route that raises an exception quoting patient words."""

    async def boom(request: web.Request) -> web.Response:
        raise KeyError("my baby has a purple rash")

    app = init_app(make_settings(), FakeBackend())
    app.router.add_get("/boom", boom)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def test_an_unexpected_exception_is_a_500_json_with_the_server_headers(
    boom_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = await boom_client.get("/boom", headers={REQUEST_ID_HEADER: "case-42.attempt-1"})
    error = await assert_error(response, 500, "internal_error")
    assert response.headers[REQUEST_ID_HEADER] == "case-42.attempt-1"
    assert "case-42.attempt-1" in error.error.message
    for name, value in SERVER_HEADERS.items():
        assert response.headers[name] == value
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "KeyError" in logged and "case-42.attempt-1" in logged
    assert "purple rash" not in logged and not any(record.exc_info for record in caplog.records)
    assert 'model_errors_total{code="internal_error"} 1' in await (await boom_client.get("/metrics")).text()


async def test_a_hostile_request_id_is_replaced(boom_client: TestClient[Any, Any]) -> None:
    for hostile in ("two words", "x" * 65, "ünïcode"):
        response = await boom_client.get("/healthz", headers={REQUEST_ID_HEADER: hostile})
        assert response.headers[REQUEST_ID_HEADER] != hostile
        assert len(response.headers[REQUEST_ID_HEADER]) == 16


async def test_every_answer_carries_the_server_headers(app_client: ClientFactory) -> None:
    client = await app_client(FakeBackend())
    for response in (
        await client.post("/v1/analyze", json=json_body([GOOD])),
        await client.post("/v1/analyze", data=b"{", headers=JSON),
        await client.get("/nowhere"),
        await client.get("/metrics"),
    ):
        assert response.headers["Cache-Control"] == "no-store" and REQUEST_ID_HEADER in response.headers
    json.dumps(dict(response.headers))
