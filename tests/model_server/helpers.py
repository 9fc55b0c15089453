"""Test helpers for the model server: image bytes of every kind, a scriptable fake backend, request builders."""

from __future__ import annotations

import base64
import io
import json
import random
import struct
import threading
import zlib
from typing import Any

from aiohttp import FormData
from PIL import Image

from model_server.api import CONDITIONS, AnalyzeResponse
from model_server.backends.base import Backend
from model_server.differential import candidate_keys, to_differential
from model_server.prepared import PreparedRequest


def textured(width: int, height: int, colour: tuple[int, int, int], seed: int = 0, spread: int = 80) -> Image.Image:
    """An RGB image of `colour` with uniform noise of +-spread/2 per channel (deterministic for a seed)."""
    rng = random.Random(seed)
    channels = []
    for base in colour:
        noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
        low = base - spread // 2
        channels.append(noise.point(lambda v, low=low: min(255, max(0, low + v * spread // 255))))
    return Image.merge("RGB", channels)


def skin_image(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A skin-toned RGB photo with texture (graded `good` by the quality heuristics)."""
    return textured(width, height, (200, 150, 120), seed)


def encode(image: Image.Image, fmt: str = "JPEG", **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def jpeg(seed: int = 0, width: int = 320, height: int = 240) -> bytes:
    return encode(skin_image(width, height, seed), "JPEG", quality=90)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` pixels but holds almost no data (a header bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of zeros: megapixels that compress to kilobytes (a decompression bomb)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def json_body(images: list[bytes], **fields: Any) -> dict[str, Any]:
    return {"images": [base64.b64encode(image).decode() for image in images], **fields}


def multipart(images: list[bytes], request: dict[str, Any] | str | None = None) -> FormData:
    form = FormData()
    if request is not None:
        text = request if isinstance(request, str) else json.dumps(request)
        form.add_field("request", text, content_type="application/json")
    for index, image in enumerate(images):
        form.add_field("image", image, filename=f"photo{index}.jpg", content_type="image/jpeg")
    return form


class FakeBackend(Backend):
    """A backend without a model: records what it runs; can block, fail an item, or fail its health check.

    An item whose question is "fail" fails alone; `gate` (when set) makes every batch wait until it is set.
    """

    name = "fake"

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.batches: list[list[str]] = []
        self.started = threading.Event()  # set when a batch enters the model
        self.healthy = True
        self.loads = 0

    @property
    def model_id(self) -> str:
        return "fake-model"

    def _load(self) -> None:
        self.loads += 1

    def analyze_batch(self, items: list[PreparedRequest]) -> list[AnalyzeResponse | Exception]:
        self.batches.append([item.request.question for item in items])
        self.started.set()
        if self.gate is not None and not self.gate.wait(10):
            raise TimeoutError("the test never opened the gate")
        results: list[AnalyzeResponse | Exception] = []
        for item in items:
            if item.request.question == "fail":
                results.append(RuntimeError("this item breaks the model"))
                continue
            keys = candidate_keys(item.request.candidates)
            scores = {key: float(len(CONDITIONS[key])) / 10 for key in keys}
            results.append(
                AnalyzeResponse(
                    differential=to_differential(scores),
                    findings=["a finding"],
                    image_quality=item.image_quality,
                    answer=f"echo: {item.request.question}",
                    language=item.request.language,
                    backend=self.name,
                    model_id=self.model_id,
                )
            )
        return results

    def health_check(self) -> None:
        if not self.healthy:
            raise RuntimeError("the fake model is unwell")


# EXIF field types (TIFF): what a tag's value is stored as.
EXIF_SHORT, EXIF_ASCII, EXIF_RATIONAL = 3, 2, 5


def jpeg_with_raw_exif(entries: list[tuple[int, int, bytes]], width: int = 80, height: int = 40) -> bytes:
    """A JPEG whose EXIF (big-endian TIFF) holds exactly `entries`: (tag, type, value bytes), written by hand so
    that a tag can be stored with a type its standard does not allow. Values over 4 bytes go after the IFD."""
    sizes = {EXIF_SHORT: 2, EXIF_ASCII: 1, EXIF_RATIONAL: 8}
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    ifd = struct.pack(">H", len(entries))
    extra = b""
    for tag, kind, value in entries:
        count = max(1, len(value) // sizes[kind])
        if len(value) <= 4:
            ifd += struct.pack(">HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            ifd += struct.pack(">HHII", tag, kind, count, data_offset + len(extra))
            extra += value
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0) + extra
    plain = jpeg(0, width, height)
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return plain[:2] + segment + plain[2:]  # right after the start-of-image marker


def orientation(value: int) -> tuple[int, int, bytes]:
    """The EXIF orientation entry (tag 0x0112, a SHORT)."""
    return (0x0112, EXIF_SHORT, struct.pack(">H", value))
