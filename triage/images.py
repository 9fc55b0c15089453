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
from PIL import Image, ImageOps, UnidentifiedImageError

from triage.photo_quality import quality_report

log = logging.getLogger(__name__)

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
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
    """Cheap, deterministic photo checks (size, brightness, sharpness, skin); see `triage.photo_quality`.
    Heuristics, not a diagnosis."""
    return quality_report(img)


def upright(img: Image.Image) -> Image.Image:
    """Return `img` turned as its EXIF orientation says, or unturned when the EXIF cannot be read.

    Pillow's `exif_transpose` parses and rewrites the whole EXIF block, and a corrupt entry in it raises
    `struct.error`, `TypeError`, `ValueError` and others. A photo is worth more than its orientation tag, so any
    failure there keeps the photo as stored; the EXIF is dropped on re-encoding either way.
    """
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # any EXIF failure, whatever its type, leaves the photo unturned (see above)
        log.info("photo kept unrotated: unreadable EXIF (%s)", type(exc).__name__)
        return img


@functools.cache
def register_heif() -> bool:
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
    register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
            if opened.width * opened.height > max_pixels:  # read from the header, before any decoding
                raise ImageRejected("too_many_pixels", f"{opened.width}x{opened.height}")
            opened.load()
            img = upright(opened).convert("RGB")
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_many_pixels", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageRejected("unsupported_format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # EOFError: a truncated HEIC (pillow-heif)
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
