"""A small labelled set made in the test: tiny skin-coloured photos and a CSV in the generic format."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.images import skin_photo
from triage.evaluate.cli import main
from triage.evaluate.results import CaseResult, Outcome

ROOT = Path(__file__).resolve().parents[2]

# (case id, diagnosis, symptoms, skipped, age, skin type, split, has a photo)
CASES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], float, str, str, bool], ...] = (
    ("mel-1", "melanoma", ("changing_size", "changing_shape"), (), 61, "II", "dev", True),
    ("mel-2", "melanoma", (), (), 45, "III", "holdout", True),
    ("scc-1", "squamous_cell_carcinoma", ("bleeding",), (), 78, "I", "dev", True),
    ("scc-2", "squamous_cell_carcinoma", (), ("bleeding",), 70, "", "holdout", True),
    ("bcc-1", "basal_cell_carcinoma", ("itch",), (), 66, "II", "dev", True),
    ("nev-1", "melanocytic_nevus", (), (), 12, "IV", "dev", True),
    ("nev-2", "melanocytic_nevus", ("itch",), ("changing_size",), 30, "V", "holdout", True),
    ("sek-1", "seborrheic_keratosis", (), (), 72, "VI", "dev", True),
    ("sek-2", "seborrheic_keratosis", ("diameter_7mm_or_more",), (), 50, "", "dev", False),
    ("ack-1", "actinic_keratosis", (), (), 68, "II", "holdout", False),
)


def write_dataset(folder: Path, *, photo_side: int = 240) -> Path:
    """Write the labelled set (photos and labels.csv) into ``folder``; return the CSV's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "photos").mkdir(exist_ok=True)
    photo = skin_photo(photo_side, photo_side, with_gps=False)
    path = folder / "labels.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["case_id", "image", "diagnosis", "answers", "age", "sex", "skin_type", "split"])
        for case_id, diagnosis, symptoms, skipped, age, skin, split, has_photo in CASES:
            image = ""
            if has_photo:
                (folder / "photos" / f"{case_id}.jpg").write_bytes(photo)
                image = f"photos/{case_id}.jpg"
            answers = {"patient": {}, "answers": {"symptoms": list(symptoms), "skipped": list(skipped),
                                                  "body_sites": ["back"], "extent": "single_spot"}}  # fmt: skip
            writer.writerow([case_id, image, diagnosis, json.dumps(answers), age, "female", skin, split])
    return path


def write_simulation(path: Path, confusion: dict[str, dict[str, float]], confidence: dict[str, Any]) -> Path:
    """Write a simulated model's JSON file and return its path."""
    path.write_text(json.dumps({"name": path.stem, "seed": 3, "confusion": confusion, "confidence": confidence}))
    return path


def evaluate(*args: str) -> int:
    """Run the command in this process and return its exit status."""
    return main(list(args))


def run_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m triage.evaluate ARGS`` as a real process and return it, finished."""
    return subprocess.run(
        [sys.executable, "-m", "triage.evaluate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=timeout,
        check=False,
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    """Return the rows of a per-case CSV."""
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def result(
    diagnosis: str,
    tier: str,
    *,
    forwarded: bool = False,
    validated_tier: str | None = None,
    differential: tuple[tuple[str, float], ...] = (),
    skin_type: int | None = None,
    age: float | None = None,
    case_id: str = "c",
) -> CaseResult:
    """A CaseResult built by hand, for the figures' tests."""
    second = validated_tier or tier
    forwarded_second = forwarded if validated_tier is None else validated_tier in ("emergency", "urgent", "soon")
    return CaseResult(
        case_id=case_id, split="", diagnosis=diagnosis, skin_type=skin_type, age_years=age, sex="female", images=1,
        model_used=bool(differential), backend="test" if differential else "", model_id="m" if differential else "",
        model_revision="", image_quality="good" if differential else "", differential=differential,
        outcomes=(Outcome(tier, forwarded, ("r",)), Outcome(second, forwarded_second, ("r",))),
        ruleset_version="test",
    )  # fmt: skip
