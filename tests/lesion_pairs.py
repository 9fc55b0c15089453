"""``python -m tests.lesion_pairs [--photos N] [--start K]``: how the lesion comparison behaves on real photos with a
scale coin, as a patient following a spot would send them. Prints figures; asserts nothing (docs/photo-quality.md).

Each PAD-UFES-20 dev photo (resized to 800 px wide, a grey coin 14 % of its width across drawn in a corner) is
compared with three later "visits": the same photo a shade brighter (no change), the lesion grown 1.3x across (the
photo enlarged about its centre, the coin drawn at the same size: +69 % of area), and the same lesion photographed
1.3x closer (the coin enlarged with it: no change). For each it counts the size, shape and colour verdicts and the
median band of the size change.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageEnhance

from tests.images import COIN_GREY
from tests.pad_ufes import dev_photos
from triage.lesions import compare_lesions, measure_lesion

COIN_MM = 24.26


def with_coin(photo: Image.Image, radius: float) -> Image.Image:
    out = photo.copy()
    x, y = out.width * 0.84, out.height * 0.8
    ImageDraw.Draw(out).ellipse((x - radius, y - radius, x + radius, y + radius), fill=COIN_GREY)
    return out


def closer(photo: Image.Image, zoom: float) -> Image.Image:
    w, h = photo.size
    left, top = round(w * (1 - 1 / zoom) / 2), round(h * (1 - 1 / zoom) / 2)
    return photo.crop((left, top, w - left, h - top)).resize((w, h), Image.Resampling.LANCZOS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lesion_pairs", description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--start", type=int, default=100)
    args = parser.parse_args(argv)
    pairs = {"same photo again": [], "grown 1.3x, same coin": [], "1.3x closer, coin too": []}
    unmeasured = 0
    for photo in dev_photos(args.photos, start=args.start):
        photo = photo.resize((800, round(800 * photo.height / photo.width)), Image.Resampling.LANCZOS)
        radius = 0.07 * photo.width
        first = measure_lesion(with_coin(photo, radius), coin_diameter_mm=COIN_MM)
        if first.problem:
            unmeasured += 1
            continue
        later = {
            "same photo again": with_coin(ImageEnhance.Brightness(photo).enhance(1.04), radius),
            "grown 1.3x, same coin": with_coin(closer(photo, 1.3), radius),
            "1.3x closer, coin too": with_coin(closer(photo, 1.3), radius * 1.3),
        }
        for name, image in later.items():
            pairs[name].append(compare_lesions(first, measure_lesion(image, coin_diameter_mm=COIN_MM)))
    print(f"{args.photos} PAD-UFES-20 dev photos from #{args.start}; {unmeasured} without a measurable lesion")
    print("| later visit | n | size changed / unchanged / unknown | shape changed | colour changed "
          "| median size band |")
    print("|---|---:|---|---:|---:|---:|")
    for name, changes in pairs.items():
        size = Counter(c.size.verdict for c in changes)
        bands = [c.size.change.uncertainty for c in changes if c.size.change is not None]
        band = f"±{statistics.median(bands):g} %" if bands else "–"
        print(f"| {name} | {len(changes)} | {size['changed']} / {size['unchanged']} / {size['unknown']} "
              f"| {sum(c.shape.verdict == 'changed' for c in changes)} "
              f"| {sum(c.colour.verdict == 'changed' for c in changes)} | {band} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
