"""Decoding untrusted images, and the quality heuristics."""

from __future__ import annotations

import pytest
from PIL import Image, ImageFilter

from model_server.api import AnalyzeRequest
from model_server.errors import ImageTooLarge, InvalidImage
from model_server.images import MAX_KEPT_SIDE, decode_image
from model_server.prepared import prepare_request
from model_server.quality import assess_image

from .helpers import encode, jpeg, png_bomb, png_header_only, skin_image, textured


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_it_decodes_the_allowed_formats_to_rgb(fmt: str) -> None:
    source = skin_image(64, 48).convert("RGBA") if fmt == "PNG" else skin_image(64, 48)
    image = decode_image(encode(source, fmt))
    assert image.mode == "RGB" and image.size == (64, 48)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_it_refuses_formats_outside_the_allow_list(fmt: str) -> None:
    with pytest.raises(InvalidImage, match="not a JPEG, PNG or WebP"):
        decode_image(encode(skin_image(32, 32), fmt))


def test_it_refuses_bytes_that_are_not_an_image() -> None:
    with pytest.raises(InvalidImage):
        decode_image(b"%PDF-1.7 definitely not a photo")
    with pytest.raises(InvalidImage, match="empty"):
        decode_image(b"")


def test_it_refuses_a_truncated_jpeg() -> None:
    data = jpeg()
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_it_refuses_a_png_declaring_30000_by_30000_pixels_without_decoding_it() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(png_header_only(30_000, 30_000))


def test_it_refuses_a_decompression_bomb() -> None:
    bomb = png_bomb(8_000, 6_000)  # 48 megapixels in about 50 kB
    assert len(bomb) < 200_000
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode_image(bomb)


def test_it_refuses_too_many_bytes() -> None:
    with pytest.raises(ImageTooLarge, match="bytes"):
        decode_image(b"\xff" * (12 * 1024 * 1024 + 1))


def test_it_applies_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(skin_image(80, 40), "JPEG", exif=exif)
    assert decode_image(data).size == (40, 80)


def test_it_shrinks_huge_photos_after_decoding() -> None:
    image = decode_image(encode(Image.new("RGB", (4200, 100), (200, 150, 120)), "PNG"))
    assert max(image.size) == MAX_KEPT_SIDE


def test_prepare_names_the_broken_image() -> None:
    with pytest.raises(InvalidImage, match=r"^image 2: "):
        prepare_request(AnalyzeRequest(), [jpeg(), b"nope"])


def test_a_textured_skin_photo_is_good() -> None:
    report = assess_image(skin_image())
    assert report.verdict == "good", report


def test_a_grey_wall_is_not_skin() -> None:
    grey = textured(320, 240, (128, 128, 128)).convert("L").convert("RGB")  # textured but colourless
    assert assess_image(grey).verdict == "not_skin"


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(skin_image(100, 80), id="too-small"),
        pytest.param(Image.eval(skin_image(), lambda v: v // 8), id="too-dark"),
        pytest.param(skin_image().filter(ImageFilter.GaussianBlur(6)), id="blurred"),
    ],
)
def test_small_dark_or_blurred_skin_photos_are_poor(image: Image.Image) -> None:
    assert assess_image(image).verdict == "poor"
