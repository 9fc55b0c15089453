"""Test images made in memory: skin-toned photos (one with EXIF GPS), textured skin, and hostile files."""

from __future__ import annotations

import io
import math
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


COIN_GREY = (168, 168, 164)
NEVUS_BROWN = (110, 70, 50)


def lesion_photo(size: tuple[int, int] = (1024, 768), *, radius: float = 110.0, aspect: float = 0.75,
                 irregular: bool = False, colour: tuple[int, int, int] = NEVUS_BROWN,
                 dark_patch: float = 0.0, coin_radius: float | None = 70.0, zoom: float = 1.0,
                 seed: int = 1) -> Image.Image:
    """A textured skin photo with a lesion left of centre and, when `coin_radius` is set, a grey coin to its right.

    The lesion is an ellipse (`radius` px across its long half-axis, `aspect` = short / long) or, `irregular`, a
    lobed blob; `dark_patch` darkens that share of its area in one corner. `zoom` photographs the same scene
    from closer: everything is drawn `zoom` times larger about the centre and the photo keeps its size.
    """
    if zoom < 1:
        raise ValueError("zoom >= 1: draw the farther photo at zoom 1 and the closer one zoomed in")
    width, height = size
    canvas_w, canvas_h = round(width * zoom), round(height * zoom)
    img = textured_image(canvas_w, canvas_h, seed=seed)
    draw = ImageDraw.Draw(img)
    cx, cy = canvas_w * 0.42, canvas_h * 0.5
    r = radius * zoom

    def outline(scale: float, x: float, y: float) -> list[tuple[float, float]]:
        points = []
        for i in range(180):
            angle = 2 * math.pi * i / 180
            wobble = 1 + (0.22 * math.sin(3 * angle) + 0.1 * math.sin(7 * angle + 1) if irregular else 0)
            points.append((x + scale * r * wobble * math.cos(angle), y + scale * r * aspect * wobble * math.sin(angle)))
        return points

    draw.polygon(outline(1.0, cx, cy), fill=colour)
    if dark_patch:
        # A smaller copy of the outline, tucked into the upper-left part of the lesion.
        scale = math.sqrt(dark_patch)
        draw.polygon(outline(scale, cx - (1 - scale) * r * 0.5, cy - (1 - scale) * r * aspect * 0.5),
                     fill=tuple(c * 2 // 5 for c in colour))
    if coin_radius is not None:
        cr, x = coin_radius * zoom, cx + r + 40 * zoom + coin_radius * zoom
        draw.ellipse((x - cr, cy - cr, x + cr, cy + cr), fill=COIN_GREY)
    left, top = (canvas_w - width) // 2, (canvas_h - height) // 2
    return img.crop((left, top, left + width, top + height))
