"""Property tests (hypothesis) of everything the server reads from the wire: image bytes (random, mutated,
truncated, odd EXIF), JSON bodies and multipart bodies. The property: a clear 4xx in the error shape or a
valid answer, never an exception that escapes (a 500). Bounded and derandomized so CI runs it in seconds;
`FUZZ_EXAMPLES=5000` runs it longer by hand."""

from __future__ import annotations

import json
import os
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from model_server.api import AnalyzeRequest
from model_server.errors import ImageTooLarge, InvalidImage
from model_server.images import MAX_KEPT_SIDE, decode_image
from model_server.prepared import prepare_request

from .helpers import FakeBackend, encode, jpeg, jpeg_with_raw_exif, orientation, skin_image
from .live import LiveServer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
CLIENT_ERRORS = {400, 413, 415, 422}

SEEDS = {
    "jpeg": jpeg(0, 64, 48),
    "png": encode(skin_image(64, 48).convert("RGBA"), "PNG"),
    "webp": encode(skin_image(64, 48), "WEBP"),
    "png-palette": encode(skin_image(32, 24).convert("P"), "PNG"),
    "jpeg-cmyk": encode(skin_image(32, 24).convert("CMYK"), "JPEG"),
    "png-16bit": encode(Image.new("I;16", (32, 24), 300), "PNG"),
}


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    """A seed file with a few bytes changed, inserted or removed, and maybe cut short."""
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            del data[position : position + draw(st.integers(1, 16))]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


exif_entries = st.lists(
    st.tuples(
        st.sampled_from([0x0112, 0x010F, 0x0110, 0x011A, 0x0132, 0x0156, 0x8769, 0x8825, 0x927C])
        | st.integers(0, 0xFFFF),
        st.integers(0, 13),
        st.binary(max_size=16),
    ),
    max_size=6,
)


def _decode_or_refuse(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd metadata; the property is about exceptions
        try:
            image = decode_image(data)
        except (InvalidImage, ImageTooLarge) as exc:
            assert exc.message
            return
        assert image.mode == "RGB" and 1 <= max(image.size) <= MAX_KEPT_SIDE
        prepare_request(AnalyzeRequest(), [data])  # the quality heuristics run on it too


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_cleanly(data: bytes) -> None:
    _decode_or_refuse(data)


@FUZZ
@given(mutated(SEEDS))
def test_mutated_and_truncated_images_decode_or_are_refused_cleanly(data: bytes) -> None:
    _decode_or_refuse(data)


@FUZZ
@given(st.integers(0, 9), exif_entries)
def test_any_exif_keeps_the_photo(turn: int, entries: list[tuple[int, int, bytes]]) -> None:
    # An orientation that turns the photo comes first: Pillow's exif_transpose then wrote the EXIF back, which
    # raised on a tag stored with an unexpected type. Any tag, type and value must leave a usable photo.
    raw = [orientation(turn)] + [(tag, kind if kind in (2, 3, 5) else 3, value) for tag, kind, value in entries]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = decode_image(jpeg_with_raw_exif(raw, width=40, height=30))
    assert sorted(image.size) == [30, 40]


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_a_garbage_exif_segment_keeps_the_photo(tiff: bytes, tag: int, kind: int) -> None:
    plain = jpeg(0, 40, 30)
    body = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">IHHH", 8, 1, tag, kind) + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = decode_image(plain[:2] + segment + plain[2:])
    assert sorted(image.size) == [30, 40]


# -- HTTP: JSON and multipart bodies against a real server --------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with LiveServer(FakeBackend()) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def assert_clean(response: httpx.Response) -> None:
    """A 200, or a 4xx whose body is an ErrorResponse; never a 5xx."""
    assert response.status_code == 200 or response.status_code in CLIENT_ERRORS, response.text[:300]
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=40,
)
GOOD_IMAGE = "data:image/jpeg;base64," + __import__("base64").b64encode(jpeg(0, 32, 24)).decode()
analyze_like = st.fixed_dictionaries(
    {},
    optional={
        "images": st.lists(st.just(GOOD_IMAGE) | st.text(max_size=30), max_size=7),
        "answers": st.dictionaries(st.text(max_size=12), json_values, max_size=4),
        "question": st.text(max_size=50),
        "history": st.lists(st.fixed_dictionaries({"role": st.text(max_size=9), "text": st.text(max_size=20)})),
        "language": st.text(max_size=8) | st.just("en"),
        "candidates": st.none() | st.lists(st.sampled_from(["acne", "melanoma", "x"]) | st.text(max_size=5)),
        "urgency": json_values,
    },
)
concepts_like = st.fixed_dictionaries(
    {},
    optional={
        "text": st.text(max_size=80) | json_values,
        "language": st.text(max_size=8) | st.just("fr"),
        "concepts": st.lists(
            st.fixed_dictionaries({}, optional={"key": st.text(max_size=12), "description": st.text(max_size=20)})
            | json_values,
            max_size=4,
        ),
    },
)


def mutate_text(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if data and draw(st.booleans()):
            data[position] = draw(st.sampled_from(b'{}[]",:\\0 \x00\xff\xc3'))
        else:
            data[position:position] = draw(
                st.sampled_from([b"[", b"{", b'"\\ud800"', b"NaN", b"\\u0000", b"\xed\xa0\x80"])
            )
    return bytes(data)


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    """Arrays and objects nested up to 5000 levels, alone or as an answer (json.loads recursed past the limit)."""
    depth = draw(st.integers(1, 5000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"k":', b"}")]))
    nested = opener * depth + b"1" + closer * depth
    return b'{"images": [], "answers": {"a": ' + nested + b"}}" if draw(st.booleans()) else nested


@st.composite
def json_bodies(draw: st.DrawFn, shape: st.SearchStrategy[Any]) -> bytes:
    if draw(st.integers(0, 7)) == 0:
        return draw(deeply_nested())
    value = draw(shape | json_values)
    raw = json.dumps(value).encode()
    return mutate_text(draw, raw) if draw(st.booleans()) else raw


@FUZZ
@given(json_bodies(analyze_like))
def test_any_json_body_to_analyze_gets_a_clean_answer(http: httpx.Client, body: bytes) -> None:
    assert_clean(http.post("/v1/analyze", content=body, headers={"Content-Type": "application/json"}))


@FUZZ
@given(json_bodies(concepts_like))
def test_any_json_body_to_concepts_gets_a_clean_answer(http: httpx.Client, body: bytes) -> None:
    response = http.post("/v1/concepts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code != 501 or response.json()["error"]["code"] == "not_supported"
    if response.status_code != 501:
        assert_clean(response)


boundaries = st.sampled_from(["x", "----formdata-fuzz", "a" * 70, "b" * 71, "", '"quoted"', "sp ace"])


@st.composite
def multipart_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A multipart body built from random parts, then maybe cut short; and its Content-Type header."""
    boundary = draw(boundaries)
    written = draw(st.sampled_from([boundary, boundary, "other"]))
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["request", "image", "file", ""]) | st.text(max_size=6))
        headers = []
        if draw(st.integers(0, 5)):
            quoted = json.dumps(name) if draw(st.booleans()) else name
            headers.append(f"Content-Disposition: form-data; name={quoted}".encode("utf-8", "surrogatepass"))
        if draw(st.booleans()):
            headers.append(
                b"Content-Type: "
                + draw(
                    st.sampled_from([b"application/json", b"image/jpeg", b"multipart/mixed", b"text/plain; charset=x"])
                )
            )
        if draw(st.booleans()):
            headers.append(
                draw(
                    st.sampled_from(
                        [
                            b"Content-Transfer-Encoding: base64",
                            b"Content-Encoding: gzip",
                            b"X-Long: " + b"h" * 9000,
                            b"broken header line",
                        ]
                    )
                )
            )
        content = draw(
            st.sampled_from([b"{}", b'{"question": "hi"}', jpeg(0, 32, 24), b"\x00\xff", b""]) | st.binary(max_size=40)
        )
        parts.append(b"--" + written.encode() + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + content + b"\r\n")
    body = b"".join(parts) + (b"--" + written.encode() + b"--\r\n" if draw(st.booleans()) else b"")
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    return f"multipart/form-data; boundary={boundary}", body


@FUZZ
@given(multipart_bodies())
def test_any_multipart_body_gets_a_clean_answer(http: httpx.Client, sample: tuple[str, bytes]) -> None:
    content_type, body = sample
    assert_clean(http.post("/v1/analyze", content=body, headers={"Content-Type": content_type}))
