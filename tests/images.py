"""Test images made in memory: a skin-toned photo with EXIF GPS, and hostile files."""

from __future__ import annotations

import io
import zlib

from PIL import Image


def skin_photo(width: int = 640, height: int = 480, *, fmt: str = "JPEG", with_gps: bool = True) -> bytes:
    """A textured skin-coloured image, with camera and GPS EXIF tags when `with_gps`."""
    img = Image.new("RGB", (width, height), (200, 150, 120))
    pixels = img.load()
    assert pixels is not None
    for y in range(0, height, 4):
        for x in range(0, width, 4):
            shade = (x * 7 + y * 13) % 60
            pixels[x, y] = (170 + shade // 2, 120 + shade // 3, 90 + shade // 4)
    out = io.BytesIO()
    if with_gps and fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x0110] = "PhoneModel"  # Model
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPS
        img.save(out, format=fmt, exif=exif)
    else:
        img.save(out, format=fmt)
    return out.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A tiny PNG that claims `side` x `side` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    body = zlib.compress(row * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def gif_image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 150, 120)).save(out, format="GIF")
    return out.getvalue()
