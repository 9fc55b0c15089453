"""``python -m triage.lesions.benchmark``: how long measuring and comparing one pair of 1024 px photos takes.

The pair is a photo and the same photo taken closer (its central 80 % enlarged back to full size): by default a
drawn scene (textured skin, a brown lesion, a grey coin), or `--photo PATH` resized to a 1024 px long side.
Prints the median and slowest of `--repeat` runs; figures are in docs/photo-quality.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from triage.lesions.compare import track_lesion

SIDE = 1024


def drawn_scene(width: int = SIDE, height: int = SIDE * 3 // 4) -> Image.Image:
    """Textured skin with a 220 px brown ellipse and a 140 px grey coin; the same every time."""
    rng = np.random.default_rng(0)
    skin = np.array([200.0, 150.0, 120.0]) + rng.normal(0, 6, (height, width, 1))
    img = Image.fromarray(np.clip(skin, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(80):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(2, 10)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(160, 110, 85))
    draw.ellipse((320, 300, 540, 465), fill=(110, 70, 50))
    draw.ellipse((640, 310, 780, 450), fill=(168, 168, 164))
    return img


def closer(img: Image.Image, crop: float = 0.8) -> Image.Image:
    """`img` as if taken closer: its central `crop` share enlarged back to the full size."""
    w, h = img.size
    dx, dy = round(w * (1 - crop) / 2), round(h * (1 - crop) / 2)
    return img.crop((dx, dy, w - dx, h - dy)).resize((w, h), Image.Resampling.LANCZOS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.lesions.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, help="a photo to use instead of the drawn scene")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat must be between 1 and 100")
    if args.photo:
        try:
            with Image.open(args.photo) as opened:
                img = opened.convert("RGB")
        except (OSError, UnidentifiedImageError) as error:
            print(f"cannot read {args.photo}: {error}", file=sys.stderr)
            return 2
        scale = SIDE / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    else:
        img = drawn_scene()
    pair = [img, closer(img)]
    track_lesion(pair, coin_diameter_mm=23.25)  # the first call pays for imports and caches
    times, cpu = [], []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        track = track_lesion(pair, coin_diameter_mm=23.25)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    size = track.overall.size
    # CPU time is printed too: on a shared machine the wall clock also counts other processes' turns.
    print(f"{img.width}x{img.height} photo pair, {args.repeat} runs: median {statistics.median(times):.3f} s wall "
          f"({statistics.median(cpu):.3f} s CPU), slowest {max(times):.3f} s wall per pair (measure both, compare)")
    print(f"problems: {[m.problem for m in track.measurements]}; size {size.verdict}: {size.change} ({size.detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
