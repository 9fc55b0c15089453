"""Real photos from PAD-UFES-20 for tests, read where they lie (never copied into the repository).

The folder is `$SHARED_DIR/data/pad-ufes-20`, else the nearest `shared/data/pad-ufes-20` above the checkout (and
CLINICAL.md likewise). Tests that need them are skipped with a reason when they are absent, except when CI=true
and SHARED_DIR is set: then their absence is a failure, since CI was told where the shared folder is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
from PIL import Image

from triage.photo_quality_eval import find_dataset, read_splits


def pad_ufes_dir() -> Path:
    """The PAD-UFES-20 folder; skips (or fails, under CI=true with SHARED_DIR set) the test when it is absent."""
    dataset = find_dataset(Path(__file__))
    return dataset if dataset is not None else _absent("PAD-UFES-20 photos", "data/pad-ufes-20")


def clinical_md() -> Path:
    """../shared/CLINICAL.md; skips (or fails, under CI=true with SHARED_DIR set) the test when it is absent."""
    candidates = [Path(os.environ["SHARED_DIR"]) / "CLINICAL.md"] if os.environ.get("SHARED_DIR") else []
    candidates += [parent / "shared" / "CLINICAL.md" for parent in Path(__file__).resolve().parents]
    found = next((path for path in candidates if path.is_file()), None)
    return found if found is not None else _absent("CLINICAL.md", "CLINICAL.md")


def _absent(what: str, path: str) -> NoReturn:
    shared = os.environ.get("SHARED_DIR")
    if shared and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} not found under SHARED_DIR={shared}/{path}, and CI=true requires it")
    where = f"SHARED_DIR={shared}" if shared else f"no shared/{path} above the checkout and no SHARED_DIR"
    pytest.skip(f"{what} not available ({where}); set SHARED_DIR to the shared folder to run this test")


def dev_photos(count: int, *, start: int = 0) -> list[Image.Image]:
    """`count` photos of the dev split (sorted by name, from `start`), decoded as RGB."""
    dataset = pad_ufes_dir()
    splits = read_splits(dataset)
    paths = sorted(p for p in (dataset / "images").glob("*.jpg") if splits.get(p.stem) == "dev")[start : start + count]
    photos = []
    for path in paths:
        with Image.open(path) as opened:
            photos.append(opened.convert("RGB"))
    return photos
