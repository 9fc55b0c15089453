from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from PIL import Image

from tests.images import gif_image, png_bomb, skin_photo
from triage.images import ImageRejected, ImageStore, load_keys, sanitize_image

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}


def test_it_strips_every_bit_of_metadata_and_keeps_the_pixels() -> None:
    raw = skin_photo()
    assert b"PhoneMaker" in raw
    clean = sanitize_image(raw, **LIMITS)
    assert b"PhoneMaker" not in clean.data
    img = Image.open(io.BytesIO(clean.data))
    assert img.format == "JPEG"
    assert not img.getexif()
    assert "icc_profile" not in img.info and "xmp" not in img.info
    assert (clean.width, clean.height) == (640, 480)
    assert clean.quality["verdict"] == "good"


def test_it_applies_exif_orientation_before_stripping_it() -> None:
    img = Image.new("RGB", (400, 200), (200, 150, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    clean = sanitize_image(out.getvalue(), **LIMITS)
    assert (clean.width, clean.height) == (200, 400)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"%PDF-1.7\n" + b"x" * 100, "unsupported_format"),
        (gif_image(), "unsupported_format"),
        (skin_photo()[:2000], "unreadable"),
        (png_bomb(), "too_many_pixels"),
        (b"", "unreadable"),
        (b"\x00" * 50, "unsupported_format"),
    ],
    ids=["pdf", "gif", "truncated-jpeg", "30000px-png-bomb", "empty", "zeros"],
)
def test_it_rejects_hostile_and_broken_files_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as info:
        sanitize_image(raw, **LIMITS)
    assert info.value.reason == reason


def test_it_rejects_oversized_files_before_decoding() -> None:
    with pytest.raises(ImageRejected) as info:
        sanitize_image(b"\xff\xd8" + b"\x00" * 2048, max_bytes=1024, max_pixels=10**6)
    assert info.value.reason == "too_large"


def test_it_flags_dark_and_tiny_photos() -> None:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (5, 5, 5)).save(out, format="PNG")
    assert sanitize_image(out.getvalue(), **LIMITS).quality["verdict"] == "too_dark"
    assert sanitize_image(skin_photo(120, 90), **LIMITS).quality["verdict"] == "too_small"


def test_store_encrypts_at_rest_and_reads_back(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", [Fernet.generate_key()])
    data = skin_photo(with_gps=False)
    key = store.put(data)
    files = list((tmp_path / "images").rglob("*.bin"))
    assert len(files) == 1
    assert data not in files[0].read_bytes() and data[:64] not in files[0].read_bytes()
    assert store.get(key) == data
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert not list((tmp_path / "images").rglob("*.bin"))


def test_key_rotation_keeps_old_images_readable_and_rewrites_them(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    key = ImageStore(tmp_path, [old]).put(b"photo-bytes")
    rotated = ImageStore(tmp_path, [new, old])
    assert rotated.get(key) == b"photo-bytes"
    assert rotated.rotate() == 1
    assert ImageStore(tmp_path, [new]).get(key) == b"photo-bytes"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        ImageStore(tmp_path, [old]).get(key)


def test_store_refuses_path_traversal_keys(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, [Fernet.generate_key()])
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


def test_embedded_default_generates_a_private_key_file_once(tmp_path: Path) -> None:
    key_file = tmp_path / "k" / "image.key"
    first = load_keys("", key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_keys("", key_file) == first
    with pytest.raises(ValueError, match="IMAGE_ENCRYPTION_KEYS"):
        load_keys("not-a-key", key_file)


def test_the_rotation_command_reencrypts_under_the_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from triage.admin import main

    old, new = Fernet.generate_key(), Fernet.generate_key()
    key = ImageStore(tmp_path / "images", [old]).put(b"photo")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGE_ENCRYPTION_KEYS", f"{new.decode()},{old.decode()}")
    assert main(["rotate-image-keys"]) == 0
    assert "re-encrypted 1 photos" in capsys.readouterr().out
    assert ImageStore(tmp_path / "images", [new]).get(key) == b"photo"
    monkeypatch.setenv("IMAGE_ENCRYPTION_KEYS", "not-a-key")
    assert main(["rotate-image-keys"]) == 2
    assert "IMAGE_ENCRYPTION_KEYS" in capsys.readouterr().err
