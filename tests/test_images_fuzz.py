"""`sanitize_image` on hostile bytes: it returns a CleanImage or raises ImageRejected, and nothing else.

The fuzz test draws random bytes behind real magic numbers, real JPEG/PNG/WebP/HEIF files with bytes flipped,
inserted or cut, and JPEGs whose EXIF block is corrupted. Its examples are derandomised (the same every run) and
bounded by IMAGE_FUZZ_EXAMPLES (default 150, a few seconds); raise it for a longer hunt. Every crash it found
is a named regression test below.
"""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.images import jpeg_with_exif_block, textured_image, tiff_block
from triage.images import CleanImage, ImageRejected, register_heif, sanitize_image

LIMITS = {"max_bytes": 2 * 1024 * 1024, "max_pixels": 4_000_000}
FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
MAGIC = (b"", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xe1", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WEBPVP8 ",
         b"\x00\x00\x00\x1cftypheic", b"\x00\x00\x00\x18ftypmif1")
EXAMPLES = int(os.environ.get("IMAGE_FUZZ_EXAMPLES", "150"))
register_heif()  # as the bot does on its first photo: HEIC files are decoded too, whatever ran before
# Pillow warns about every corrupt EXIF tag it skips; that is the input these tests are made of.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")


def encoded(fmt: str, width: int, height: int, mode: str, *, exif: bool = False) -> bytes:
    """A real photo-like file in `fmt`; JPEGs carry an orientation, camera and GPS EXIF block when `exif`."""
    img = textured_image(width, height, seed=width * 31 + height)
    if mode != "RGB":
        img = img.convert(mode)
    if fmt in ("JPEG", "HEIF") and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    out = io.BytesIO()
    extra: dict[str, object] = {}
    if exif:
        tags = Image.Exif()
        tags[0x0112] = 6
        tags[0x010F] = "PhoneMaker"
        tags[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
        extra["exif"] = tags
    img.save(out, format=fmt, **extra)
    return out.getvalue()


@st.composite
def real_files(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(("RGB", "L", "RGBA", "P", "I;16") if fmt == "PNG" else ("RGB", "L")))
    return encoded(fmt, draw(st.integers(1, 260)), draw(st.integers(1, 260)), mode, exif=fmt == "JPEG")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(real_files()))
    for _ in range(draw(st.integers(1, 8))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(("flip", "insert", "delete")))
        if action == "flip":
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=64))
        elif len(data) > 1:
            del data[where : where + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    data = draw(real_files())
    return data[: draw(st.integers(0, len(data) - 1))]


def _ifd_entries(tiff: bytes | bytearray) -> list[int]:
    """Offsets (in `tiff`) of the 12-byte entries of IFD0 and of the GPS IFD it points to."""
    entries: list[int] = []
    ifd = struct.unpack(">I", tiff[4:8])[0]
    while ifd and ifd + 2 <= len(tiff) and len(entries) < 64:
        count = struct.unpack(">H", tiff[ifd : ifd + 2])[0]
        here = [ifd + 2 + 12 * i for i in range(count)]
        entries += here
        gps = [struct.unpack(">I", tiff[e + 8 : e + 12])[0] for e in here if tiff[e : e + 2] == b"\x88\x25"]
        ifd = gps[0] if gps and gps[0] != ifd else 0
    return entries


TAGS = (0x0001, 0x0002, 0x0004, 0x0102, 0x010F, 0x0112, 0x0132, 0x8769, 0x8825, 0xA005)


@st.composite
def corrupt_exif(draw: st.DrawFn) -> bytes:
    """A valid JPEG whose EXIF block (and only that) is damaged: an entry's tag, type or count replaced by another
    plausible value (how a buggy editor breaks EXIF), or any byte changed."""
    data = bytearray(encoded("JPEG", 96, 64, "RGB", exif=True))
    start = data.index(b"Exif\x00\x00") + 6
    length = struct.unpack(">H", data[start - 8 : start - 6])[0] - 8
    tiff = data[start : start + length]
    entries = _ifd_entries(tiff)
    for _ in range(draw(st.integers(1, 4))):
        entry = draw(st.sampled_from(entries))
        field = draw(st.sampled_from(("tag", "type", "count", "byte")))
        if field == "tag":
            tiff[entry : entry + 2] = struct.pack(">H", draw(st.sampled_from(TAGS)))
        elif field == "type":
            tiff[entry + 2 : entry + 4] = struct.pack(">H", draw(st.integers(0, 13)))
        elif field == "count":
            tiff[entry + 4 : entry + 8] = struct.pack(">I", draw(st.sampled_from((0, 1, 2, 3, 255, 2**31, 2**32 - 1))))
        else:
            tiff[draw(st.integers(0, len(tiff) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:start] + tiff + data[start + length :])


@st.composite
def noise_behind_magic(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(MAGIC)) + draw(st.binary(max_size=4096))


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(raw=st.one_of(noise_behind_magic(), real_files(), mutated(), truncated()))
def test_it_only_ever_returns_a_clean_image_or_rejects(raw: bytes) -> None:
    _assert_clean_or_rejected(raw)


@FUZZ
@given(raw=corrupt_exif())
def test_a_corrupt_exif_block_never_escapes_as_another_error(raw: bytes) -> None:
    _assert_clean_or_rejected(raw)


def _assert_clean_or_rejected(raw: bytes) -> None:
    try:
        clean = sanitize_image(raw, **LIMITS)
    except ImageRejected as rejected:
        assert rejected.reason in ("too_large", "unsupported_format", "unreadable", "too_many_pixels")
        return
    assert isinstance(clean, CleanImage)
    with Image.open(io.BytesIO(clean.data)) as reopened:
        assert reopened.format == "JPEG" and reopened.size == (clean.width, clean.height)
        assert not reopened.getexif()
    assert clean.quality["verdict"] in ("good", "too_small", "too_dark", "too_bright", "blurred", "not_skin")


# Regression tests: crashes the fuzz test found, each rebuilt by hand so it survives changes in Pillow's encoder.

ORIENTATION_6 = (0x0112, 3, 1, struct.pack(">HH", 6, 0))


def test_a_corrupt_heic_is_rejected_even_when_its_decoder_raises_eof_error() -> None:
    """Found by the fuzz run above once pillow-heif was registered: a HEIC with a few bytes changed makes its
    decoder raise EOFError (not an OSError), which escaped sanitize_image. These mutations (seeded) include one."""
    import random

    out = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 150, 120)).save(out, format="HEIF")
    original = out.getvalue()
    rng = random.Random(1)
    for _ in range(60):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        _assert_clean_or_rejected(bytes(data))


def test_a_text_value_in_a_numeric_exif_tag_keeps_the_photo_unrotated() -> None:
    """Found by the fuzz test: BitsPerSample typed ASCII made exif_transpose raise struct.error."""
    data_at = 8 + 2 + 2 * 12 + 4
    raw = jpeg_with_exif_block(tiff_block([(0x0102, 2, 11, struct.pack(">I", data_at)), ORIENTATION_6],
                                          b"PhoneMaker\x00"), size=(300, 200))
    clean = sanitize_image(raw, **LIMITS)
    assert (clean.width, clean.height) == (300, 200)  # orientation 6 could not be applied: kept as stored
    assert b"PhoneMaker" not in clean.data


def test_a_text_gps_latitude_keeps_the_photo_unrotated() -> None:
    """Found by the fuzz test: GPSLatitude typed ASCII made exif_transpose raise TypeError (abs of a str)."""
    gps_at = 8 + 2 + 2 * 12 + 4
    gps_ifd = struct.pack(">H", 1) + struct.pack(">HHI", 2, 2, 3) + b"NN\x00\x00" + b"\x00" * 4
    raw = jpeg_with_exif_block(tiff_block([ORIENTATION_6, (0x8825, 4, 1, struct.pack(">I", gps_at))], gps_ifd),
                               size=(300, 200))
    clean = sanitize_image(raw, **LIMITS)
    assert (clean.width, clean.height) == (300, 200)


def test_a_readable_orientation_is_still_applied_next_to_the_corrupt_cases() -> None:
    raw = jpeg_with_exif_block(tiff_block([ORIENTATION_6]), size=(300, 200))
    assert (sanitize_image(raw, **LIMITS).width, sanitize_image(raw, **LIMITS).height) == (200, 300)


@pytest.mark.parametrize("size", [(1, 40_000), (40_000, 1), (1, 1)], ids=["sliver-tall", "sliver-wide", "one-pixel"])
def test_slivers_are_measured_on_a_bounded_copy_and_called_too_small(size: tuple[int, int]) -> None:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 150, 120)).save(out, format="PNG")
    clean = sanitize_image(out.getvalue(), **LIMITS)
    assert clean.quality["verdict"] == "too_small"
