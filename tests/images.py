"""Test images made in memory: skin-toned photos (one with EXIF GPS), textured skin, and hostile files."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageChops, ImageDraw


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


def textured_image(width: int, height: int, *, seed: int = 0,
                   skin: tuple[int, int, int] = (200, 150, 120)) -> Image.Image:
    """A skin-coloured photo-like RGB image with sharp detail at any size: freckles, hairs, creases and sensor
    noise, all laid out relative to the image size, so a larger image shows the same scene in more pixels."""
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), skin)
    draw = ImageDraw.Draw(img)
    scale = min(width, height) / 256
    for _ in range(60):  # freckles and pores
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(1.0, 4.0) * scale
        shade = rng.randint(25, 70)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(max(0, c - shade) for c in skin))
    for _ in range(12):  # hairs and skin creases
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        dx, dy = rng.uniform(-60, 60) * scale, rng.uniform(-60, 60) * scale
        draw.line((x, y, x + dx, y + dy), fill=tuple(c // 3 for c in skin), width=max(1, round(scale)))
    # Sensor noise, uniform in -6..+6 and seeded (Pillow's effect_noise is not), centred on 128 for `add`.
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height)).point(lambda v: 122 + v % 13)
    return Image.merge("RGB", [ImageChops.add(band, noise, offset=-128) for band in img.split()])


def tiff_block(entries: list[tuple[int, int, int, bytes]], data: bytes = b"") -> bytes:
    """A big-endian TIFF/EXIF block with one IFD of `(tag, type, count, 4-byte value or offset)` entries, then
    `data` (offsets into it start at 8 + 2 + 12 * len(entries) + 4)."""
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHI", *e[:3]) + e[3] for e in entries)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + ifd + b"\x00\x00\x00\x00" + data


def jpeg_with_exif_block(tiff: bytes, *, size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG of a textured skin image carrying `tiff` verbatim as its EXIF (APP1) block."""
    out = io.BytesIO()
    textured_image(*size).save(out, format="JPEG", exif=b"Exif\x00\x00" + tiff)
    return out.getvalue()
