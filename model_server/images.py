"""Decoding untrusted image bytes safely: format allow-list, byte and pixel caps before the full decode.

Runs off the event loop (the app calls it in a thread). Pillow only parses the header in `Image.open`, so the
pixel cap is checked before any pixel data is decompressed; a decompression-bomb warning counts as an error.
The EXIF orientation is applied best effort: a corrupt EXIF never loses the photo (it is kept as stored).
"""

from __future__ import annotations

import io
import logging
import warnings

from PIL import Image, UnidentifiedImageError

from model_server.api import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from model_server.errors import ImageTooLarge, InvalidImage

ALLOWED_FORMATS = ["JPEG", "PNG", "WEBP"]

# Photos are kept at most this long on their long side once decoded: every processor resizes to far less
# (224 to 896 px), and a 40-megapixel photo would otherwise hold 120 MB per image while it waits in the queue.
MAX_KEPT_SIDE = 2048

_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transposition that shows the photo upright (as `ImageOps.exif_transpose` does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

log = logging.getLogger(__name__)


def decode_image(data: bytes) -> Image.Image:
    """Return the image in `data` as an upright RGB `PIL.Image` no longer than `MAX_KEPT_SIDE` on its long side.

    Raises `ImageTooLarge` (over `MAX_IMAGE_BYTES`, over `MAX_IMAGE_PIXELS`, a decompression bomb) or
    `InvalidImage` (empty, not JPEG/PNG/WebP, truncated or corrupt).
    """
    if not data:
        raise InvalidImage("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"the image has {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"the image is too large to decode safely: {exc}") from None
        except UnidentifiedImageError:
            raise InvalidImage("the file is not a JPEG, PNG or WebP image") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidImage(f"the image header cannot be read: {exc}") from None
        width, height = image.size
        if width < 1 or height < 1:
            raise InvalidImage("the image has no pixels")
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(f"the image is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS} pixels")
        try:
            if image.format == "JPEG":
                # Lets libjpeg decode at 1/2, 1/4 or 1/8 scale: much faster for big photos.
                image.draft("RGB", (MAX_KEPT_SIDE, MAX_KEPT_SIDE))
            image.load()
            rgb = upright(image).convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"the image is too large to decode safely: {exc}") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise InvalidImage(f"the image is truncated or corrupt: {exc}") from None
    if max(rgb.size) > MAX_KEPT_SIDE:
        rgb.thumbnail((MAX_KEPT_SIDE, MAX_KEPT_SIDE), Image.Resampling.BICUBIC)
    return rgb


def upright(image: Image.Image) -> Image.Image:
    """`image` turned as its EXIF orientation says; `image` itself when there is none or it cannot be read.

    Only the orientation is read; the EXIF is never written back. `ImageOps.exif_transpose` re-serialises the
    EXIF, which raises (struct.error, TypeError, AttributeError) when a tag is stored with an unexpected type.
    The metadata is dropped anyway; the pixels are what matter.
    """
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception as exc:  # any corrupt EXIF: Pillow raises many kinds (struct.error, SyntaxError, ...)
        log.info("unreadable EXIF (%s); the photo is kept as stored", type(exc).__name__)
        return image
    method = _UPRIGHT.get(orientation) if type(orientation) is int else None
    return image.transpose(method) if method is not None else image
