"""``python -m triage.photo_quality_eval``: how often the quality gate flags real skin photos, sharp and spoiled.

Each photo of a PAD-UFES-20 split is measured as it is (taken as sharp), blurred with known Gaussian radii (in
pixels of the gate's working copy), under- and over-exposed, and both. It prints, for each variant, the share of
photos that each check flags, as a Markdown table (docs/photo-quality.md holds the holdout run). `--choose` prints
the sharpness threshold that the dev split supports (docs/photo-quality.md gives the rule).

Reads the photos where they are (`--images`, else `$SHARED_DIR/data/pad-ufes-20/images`, else the nearest
`shared/data/pad-ufes-20/images` above this checkout); writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from triage.photo_quality import (
    DEFAULT_THRESHOLDS,
    WORK_SHORT_SIDE,
    QualityMeasures,
    QualityThresholds,
    measure_quality,
    quality_flags,
)

DATASET = Path("data") / "pad-ufes-20"
CHECKS = ("blurred", "too_dark", "too_bright", "not_skin")
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Variant:
    """One way of spoiling a photo: Gaussian blur (sd in working-copy pixels), then exposure (in stops)."""

    name: str
    blur: float = 0.0
    stops: float = 0.0
    expect: str = "good"  # what the gate should say: `good` or the check that should fire


VARIANTS = (
    Variant("original (sharp)"),
    Variant("blur 1 px", blur=1, expect="mild"),
    Variant("blur 2 px", blur=2, expect="blurred"),
    Variant("blur 3 px", blur=3, expect="blurred"),
    Variant("blur 5 px", blur=5, expect="blurred"),
    Variant("under-exposed 1.5 stops", stops=-1.5),
    Variant("over-exposed 1 stop", stops=1.0),
    Variant("under-exposed 1.5 stops, blur 3 px", blur=3, stops=-1.5, expect="blurred"),
    Variant("over-exposed 1 stop, blur 3 px", blur=3, stops=1.0, expect="blurred"),
    Variant("under-exposed 5 stops", stops=-5.0, expect="too_dark"),
    Variant("over-exposed 3 stops", stops=3.0, expect="too_bright"),
)


def find_dataset(start: Path | None = None) -> Path | None:
    """Return the PAD-UFES-20 folder: `$SHARED_DIR/data/pad-ufes-20`, else the nearest
    `shared/data/pad-ufes-20` in `start` (default: this checkout) or a parent. None when neither exists."""
    shared = os.environ.get("SHARED_DIR")
    if shared:
        candidate = Path(shared) / DATASET
        return candidate if (candidate / "images").is_dir() else None
    here = (start or Path(__file__)).resolve()
    for parent in (here, *here.parents):
        candidate = parent / "shared" / DATASET
        if (candidate / "images").is_dir():
            return candidate
    return None


def read_splits(dataset: Path) -> dict[str, str]:
    """Map each image stem (`PAT_46_881_939`) to its split (`dev` or `holdout`) from `splits.csv`."""
    with (dataset / "splits.csv").open(newline="") as fh:
        return {Path(row["img_id"]).stem: row["split"] for row in csv.DictReader(fh)}


def spoil(img: Image.Image, variant: Variant) -> Image.Image:
    """Apply `variant` to an RGB photo and return it as a phone would send it (JPEG, quality 90, decoded)."""
    out = img
    if variant.blur:
        # Blur on the full-size photo with the radius scaled, so that it is `blur` px in the working copy.
        out = out.filter(ImageFilter.GaussianBlur(variant.blur * min(img.size) / WORK_SHORT_SIDE))
    if variant.stops:
        linear = (np.asarray(out, dtype=np.float32) / 255.0) ** 2.2  # sRGB approximated as gamma 2.2
        exposed = np.clip(linear * 2.0**variant.stops, 0.0, 1.0) ** (1 / 2.2)
        out = Image.fromarray(np.round(exposed * 255.0).astype(np.uint8))
    buffer = io.BytesIO()
    out.save(buffer, format="JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def measure_all(paths: Sequence[Path], variants: Sequence[Variant] = VARIANTS) -> list[list[QualityMeasures]]:
    """Measure every variant of every photo: one row per photo, one column per variant."""
    rows = []
    for path in paths:
        with Image.open(path) as opened:
            img = opened.convert("RGB")
        rows.append([measure_quality(spoil(img, v)) for v in variants])
    return rows


def flag_table(rows: Sequence[Sequence[QualityMeasures]], variants: Sequence[Variant] = VARIANTS,
               thresholds: QualityThresholds = DEFAULT_THRESHOLDS) -> str:
    """The Markdown table: for each variant, the share of photos that each check flags, and the median measures."""
    lines = ["| variant | should be | n | " + " | ".join(f"flagged {c}" for c in CHECKS)
             + " | verdict good | median sharpness | median brightness |",
             "|---|---|---:|" + "---:|" * (len(CHECKS) + 3)]
    for column, variant in enumerate(variants):
        measures = [row[column] for row in rows]
        flags = [quality_flags(m, thresholds) for m in measures]
        shares = [_percent(sum(f[c] for f in flags), len(flags)) for c in CHECKS]
        good = _percent(sum(not any(f.values()) for f in flags), len(flags))
        sharpness = float(np.median([m.sharpness for m in measures]))
        brightness = float(np.median([m.brightness for m in measures]))
        lines.append(f"| {variant.name} | {variant.expect} | {len(measures)} | " + " | ".join(shares)
                     + f" | {good} | {sharpness:.2f} | {brightness:.0f} |")
    return "\n".join(lines)


def choose_min_sharpness(rows: Sequence[Sequence[QualityMeasures]], variants: Sequence[Variant] = VARIANTS
                         ) -> tuple[float, float, float]:
    """Return (threshold, low, high): `low` is the 5th percentile of sharpness over the sharp, usable variants (the
    originals and the mildly exposed ones), `high` the 95th percentile over the photos blurred by 2 px, and the
    threshold lies half-way between them (to 0.01), so that both errors get the same margin."""
    sharp = [row[i].sharpness for row in rows for i, v in enumerate(variants) if v.expect == "good"]
    blurred = [row[i].sharpness for row in rows for i, v in enumerate(variants) if v.blur == 2 and not v.stops]
    low, high = float(np.quantile(sharp, 0.05)), float(np.quantile(blurred, 0.95))
    return round((low + high) / 2, 2), low, high


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}%" if total else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.photo_quality_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, help="folder of PAD-UFES-20 JPEGs (splits.csv in its parent)")
    parser.add_argument("--split", choices=("dev", "holdout", "all"), default="holdout")
    parser.add_argument("--limit", type=int, default=0, help="measure only the first N photos of the split")
    parser.add_argument("--choose", action="store_true", help="print the sharpness threshold this split supports")
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be 0 (all) or more")
    dataset = args.images.parent if args.images else find_dataset()
    images = args.images or (dataset / "images" if dataset else None)
    if dataset is None or images is None or not images.is_dir():
        print("no PAD-UFES-20 images found: pass --images DIR or set SHARED_DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        splits = read_splits(dataset)
    except (OSError, KeyError, csv.Error) as error:
        print(f"cannot read {dataset / 'splits.csv'}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    paths = sorted(p for p in images.glob("*.jpg") if args.split == "all" or splits.get(p.stem) == args.split)
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        print(f"no photos of split {args.split} in {images}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.choose and args.split != "dev":
        print("warning: thresholds are chosen on the dev split only", file=sys.stderr)
    try:
        rows = measure_all(paths)
    except (OSError, UnidentifiedImageError) as error:
        print(f"cannot read a photo: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{len(paths)} photos of split {args.split}; thresholds {DEFAULT_THRESHOLDS}\n")
    print(flag_table(rows))
    if args.choose:
        threshold, low, high = choose_min_sharpness(rows)
        print(f"\nsharpness: 5th percentile of the sharp variants {low:.3f}, 95th percentile of the 2-px blurred"
              f" {high:.3f}; min_sharpness half-way: {threshold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
