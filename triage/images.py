"""Patient photos: checked at the door, stripped of metadata, encrypted at rest.

`sanitize_image` decodes with an allow-list of formats and hard byte and pixel caps, applies the EXIF
orientation and re-encodes from pixels, so no EXIF (GPS, camera), XMP or ICC data survives. It is CPU work:
call it off the event loop. `ImageStore` keeps each image as a Fernet-encrypted file under a random name;
several keys (newest first) allow rotation: new images use the first key, old ones still decrypt, and
`rotate()` re-encrypts everything under the newest key.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from PIL import Image, ImageChops, ImageFilter, ImageOps, ImageStat, UnidentifiedImageError

log = logging.getLogger(__name__)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
MIN_SIDE = 200
MAX_STORED_SIDE = 2560


class ImageRejected(ValueError):
    """The upload is not a usable photo. `reason` is a stable code the bot turns into a message."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    width: int
    height: int
    sha256: str
    quality: dict[str, float | str] = field(default_factory=dict)
    content_type: str = "image/jpeg"


def _quality(img: Image.Image) -> dict[str, float | str]:
    """Cheap, deterministic photo checks: size, brightness and sharpness. Heuristics, not a diagnosis."""
    small = img.convert("L").resize((256, 256))
    brightness = ImageStat.Stat(small).mean[0]
    edges = small.filter(_LAPLACIAN)
    sharpness = ImageStat.Stat(edges).var[0]
    verdict = "good"
    if min(img.size) < MIN_SIDE:
        verdict = "too_small"
    elif brightness < 35:
        verdict = "too_dark"
    elif brightness > 235:
        verdict = "too_bright"
    elif sharpness < 8:
        verdict = "blurred"
    skin = _skin_fraction(img)
    if verdict == "good" and skin < 0.08:
        verdict = "not_skin"
    return {"brightness": round(brightness, 1), "sharpness": round(sharpness, 1), "skin": round(skin, 3),
            "verdict": verdict}


def _skin_fraction(img: Image.Image) -> float:
    """Share of pixels inside a classic YCbCr skin-colour box (Cb 77-127, Cr 133-173), on every skin tone.
    A crude screen for photos of something other than skin (a screenshot, a document, a pet)."""
    _, cb, cr = img.resize((64, 64)).convert("YCbCr").split()
    cb_ok = cb.point(lambda v: 255 if 77 <= v <= 127 else 0)
    cr_ok = cr.point(lambda v: 255 if 133 <= v <= 173 else 0)
    both = ImageChops.multiply(cb_ok, cr_ok)
    return float(ImageStat.Stat(both).mean[0] / 255)


# Edge strength: the variance of a Laplacian-filtered image is low for a blurred photo.
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)


@functools.cache
def _register_heif() -> bool:
    """Let Pillow open HEIC/HEIF (iPhone photos sent as files) when pillow-heif is installed."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - pillow-heif is a base dependency
        return False
    pillow_heif.register_heif_opener()
    return True


def sanitize_image(raw: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Decode, check and re-encode one uploaded photo as a metadata-free JPEG.

    Raises `ImageRejected` with reason `too_large`, `unsupported_format`, `unreadable`, `too_many_pixels`.
    """
    if len(raw) > max_bytes:
        raise ImageRejected("too_large", f"{len(raw)} bytes > {max_bytes}")
    if len(raw) < 16:
        raise ImageRejected("unreadable", "empty file")
    _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
            if opened.width * opened.height > max_pixels:  # read from the header, before any decoding
                raise ImageRejected("too_many_pixels", f"{opened.width}x{opened.height}")
            opened.load()
            img = ImageOps.exif_transpose(opened).convert("RGB")
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_many_pixels", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageRejected("unsupported_format") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("unreadable", str(exc)[:200]) from None
    if max(img.size) > MAX_STORED_SIDE:
        img.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE), Image.Resampling.LANCZOS)
    quality = _quality(img)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, optimize=True)
    data = out.getvalue()
    return CleanImage(data, img.width, img.height, hashlib.sha256(data).hexdigest(), quality)


def load_keys(configured: str, key_file: Path) -> list[bytes]:
    """The Fernet keys, newest first: from configuration, else a key file made on first use (embedded default)."""
    keys = [k.strip().encode() for k in configured.split(",") if k.strip()]
    if not keys:
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
            log.warning("generated an image encryption key at %s; set IMAGE_ENCRYPTION_KEYS in production", key_file)
        keys = [key_file.read_bytes().strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError("IMAGE_ENCRYPTION_KEYS: each key must be a urlsafe-base64 32-byte Fernet key") from None
    return keys


class ImageStore:
    """Encrypted image files under `root`, named by random keys, never by anything about the patient."""

    def __init__(self, root: Path, keys: list[bytes]) -> None:
        self.root = root
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("bad storage key")
        return self.root / key[:2] / f"{key}.bin"

    def put(self, data: bytes) -> str:
        key = secrets.token_hex(16)
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self._fernet.encrypt(data))
        os.replace(tmp, path)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._fernet.decrypt(self._path(key).read_bytes())
        except InvalidToken:
            raise ValueError(f"image {key} cannot be decrypted with the configured keys") from None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def rotate(self) -> int:
        """Re-encrypt every image under the newest key. Returns how many files were rewritten."""
        count = 0
        for path in self.root.glob("*/*.bin"):
            token = path.read_bytes()
            rotated = self._fernet.rotate(token)
            if rotated != token:
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(rotated)
                os.replace(tmp, path)
                count += 1
        return count
