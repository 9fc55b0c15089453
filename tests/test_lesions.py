"""Lesion measurement: synthetic lesions whose size, shape and colour the test sets, and a few real photos."""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance

from tests.images import lesion_photo, png_bomb, skin_photo, textured_image
from tests.pad_ufes import dev_photos
from triage.lesions import Estimate, LesionMeasurement, compare_lesions, measure_lesion, track_lesion

COIN_MM = 23.25  # a 1-euro coin; the tests' coin is grey, as the detector requires


@cache
def measured(**scene: object) -> LesionMeasurement:
    """The measurement of one synthetic scene (cached: several tests compare against the same baseline)."""
    return measure_lesion(lesion_photo(**scene), coin_diameter_mm=COIN_MM)  # type: ignore[arg-type]


def test_it_finds_the_lesion_and_the_coin_and_measures_them_in_millimetres() -> None:
    m = measured()
    assert m.problem is None and m.coin_found and m.confidence > 0.7
    assert m.mm_per_px is not None and m.area_mm2 is not None and m.diameter_mm is not None
    # The scene: coin radius 70 px, lesion half-axes 110 and 82.5 px.
    true_mm_per_px = COIN_MM / 140
    true_area = math.pi * 110 * 82.5 * true_mm_per_px**2
    assert abs(m.mm_per_px.value - true_mm_per_px) <= m.mm_per_px.uncertainty
    assert abs(m.area_mm2.value - true_area) <= m.area_mm2.uncertainty
    assert abs(m.diameter_mm.value - 220 * true_mm_per_px) <= m.diameter_mm.uncertainty
    assert m.diameter_px is not None and abs(m.diameter_px.value - 220) <= m.diameter_px.uncertainty
    xs = [x for x, _ in m.outline]
    assert abs(min(xs) - (1024 * 0.42 - 110)) < 8 and abs(max(xs) - (1024 * 0.42 + 110)) < 8


def test_a_lesion_30_percent_wider_with_the_same_coin_has_changed_in_size() -> None:
    change = compare_lesions(measured(), measured(radius=110 * 1.3))
    assert change.size.verdict == "changed"
    assert change.size.change is not None and change.size.change.value > 0
    assert abs(change.size.change.value - (1.3**2 - 1) * 100) <= change.size.change.uncertainty


def test_a_ten_percent_larger_area_is_within_what_a_phone_photo_can_tell() -> None:
    change = compare_lesions(measured(), measured(radius=110 * math.sqrt(1.1)))
    assert change.size.verdict == "unchanged"
    assert change.size.change is not None and change.size.change.uncertainty >= 10


@pytest.mark.parametrize("zoom", [1.3, 1.6])
def test_the_same_lesion_photographed_closer_is_unchanged_in_size(zoom: float) -> None:
    far, near = measured(), measured(zoom=zoom)
    assert near.area_px is not None and far.area_px is not None
    assert near.area_px.value > far.area_px.value * zoom**2 * 0.85  # it does look bigger in pixels
    change = compare_lesions(far, near)
    assert change.size.verdict == "unchanged"
    assert change.shape.verdict == "unchanged" and change.colour.verdict == "unchanged"


def test_a_dark_patch_inside_the_lesion_is_a_colour_change() -> None:
    before, after = measured(), measured(dark_patch=0.2)
    change = compare_lesions(before, after)
    assert change.colour.verdict == "changed"
    assert change.colour.change is not None and change.colour.change.value < 0  # darker
    assert change.size.verdict == "unchanged"
    assert after.colour_clusters > before.colour_clusters


def test_an_irregular_border_is_a_shape_change_and_scores_as_less_regular() -> None:
    before, after = measured(), measured(irregular=True)
    change = compare_lesions(before, after)
    assert change.shape.verdict == "changed"
    assert before.compactness is not None and after.compactness is not None
    assert after.compactness.value > before.compactness.value
    assert before.solidity is not None and after.solidity is not None
    assert after.solidity.value < before.solidity.value


def test_without_a_coin_in_one_photo_size_is_unknown_but_shape_and_colour_still_compare() -> None:
    no_coin = measured(coin_radius=None)
    assert no_coin.problem is None and not no_coin.coin_found and no_coin.area_mm2 is None
    assert no_coin.area_px is not None  # pixels are still measured
    change = compare_lesions(measured(), no_coin)
    assert change.size.verdict == "unknown" and change.size.change is None and "coin" in change.size.detail
    assert change.shape.verdict == "unchanged" and change.colour.verdict == "unchanged"


def test_without_a_coin_even_a_doubled_lesion_is_not_called_a_size_change() -> None:
    change = compare_lesions(measured(coin_radius=None), measured(coin_radius=None, radius=155))
    assert change.size.verdict == "unknown"


def test_without_a_stated_coin_diameter_there_are_no_millimetres() -> None:
    m = measure_lesion(lesion_photo())
    assert m.coin_found and m.area_mm2 is None and m.mm_per_px is None
    assert compare_lesions(m, m).size.verdict == "unknown"


def test_a_photo_without_a_lesion_is_unknown_not_a_crash() -> None:
    plain = measure_lesion(textured_image(1024, 768, seed=4), coin_diameter_mm=COIN_MM)
    assert plain.problem == "no_lesion" and plain.area_px is None
    change = compare_lesions(measured(), plain)
    assert {change.size.verdict, change.shape.verdict, change.colour.verdict} == {"unknown"}
    assert "no_lesion" in change.colour.detail


def test_a_poor_photo_gives_unknown() -> None:
    dark = ImageEnhance.Brightness(lesion_photo()).enhance(0.1)
    m = measure_lesion(dark, coin_diameter_mm=COIN_MM)
    assert m.problem == "poor_photo:too_dark"
    assert compare_lesions(measured(), m).size.verdict == "unknown"


def test_it_reads_bytes_and_arrays_alike_and_is_deterministic() -> None:
    img = lesion_photo(size=(640, 480), radius=70, coin_radius=45)
    out = io.BytesIO()
    img.save(out, format="PNG")
    from_bytes = measure_lesion(out.getvalue(), coin_diameter_mm=COIN_MM)
    from_array = measure_lesion(np.asarray(img), coin_diameter_mm=COIN_MM)
    assert from_bytes == from_array == measure_lesion(img, coin_diameter_mm=COIN_MM)


def test_tracking_compares_each_visit_with_the_next_and_the_first_with_the_last() -> None:
    photos = [lesion_photo(), lesion_photo(zoom=1.3), lesion_photo(radius=143, zoom=1.3)]
    track = track_lesion(photos, coin_diameter_mm=COIN_MM)
    assert len(track.measurements) == 3 and len(track.steps) == 2
    assert [s.size.verdict for s in track.steps] == ["unchanged", "changed"]
    assert track.overall.size.verdict == "changed"
    with pytest.raises(ValueError, match="at least two photos"):
        track_lesion(photos[:1])


def test_estimates_are_rounded_to_what_their_band_allows() -> None:
    assert Estimate.of(23.437, 1.56, "mm") == Estimate(23.0, 3.0, "mm")
    assert Estimate.of(23.437, 0.71, "mm") == Estimate(23.4, 1.4, "mm")
    assert Estimate.of(0.05671, 0.0123, "") == Estimate(0.06, 0.02, "")
    assert Estimate.of(0.05671, 0.0073, "") == Estimate(0.057, 0.015, "")
    assert Estimate.of(5.0, 0.0, "mm") == Estimate(5.0, 0.0, "mm")


# Hostile and malformed input: a clear answer, never a crash.

@pytest.mark.parametrize("raw", [b"", b"not an image", skin_photo()[:500], png_bomb(), b"GIF89a" + b"\x00" * 64],
                         ids=["empty", "text", "truncated-jpeg", "png-bomb", "gif"])
def test_unreadable_bytes_are_reported_not_raised(raw: bytes) -> None:
    m = measure_lesion(raw, coin_diameter_mm=COIN_MM)
    assert m.problem == "unreadable" and m.area_px is None


@pytest.mark.parametrize("size", [(1, 1), (3, 4000), (150, 150)], ids=["pixel", "sliver", "tiny"])
def test_tiny_photos_are_poor_photos(size: tuple[int, int]) -> None:
    assert measure_lesion(Image.new("RGB", size, (120, 80, 60))).problem == "poor_photo:too_small"


@pytest.mark.parametrize(("photo", "error"), [
    (np.zeros((10, 10), dtype=np.uint8), ValueError), (np.zeros((10, 10, 3), dtype=np.float64), ValueError),
    (np.zeros((0, 10, 3), dtype=np.uint8), ValueError), ("photo.jpg", TypeError), (None, TypeError),
], ids=["grey-array", "float-array", "empty-array", "path", "none"])
def test_programming_errors_raise_with_a_clear_message(photo: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="expected"):
        measure_lesion(photo)  # type: ignore[arg-type]


@pytest.mark.parametrize("diameter", [0.0, -23.25, math.nan, math.inf])
def test_a_nonsense_coin_diameter_is_refused(diameter: float) -> None:
    with pytest.raises(ValueError, match="coin_diameter_mm"):
        measure_lesion(lesion_photo(size=(320, 240), radius=40, coin_radius=25), coin_diameter_mm=diameter)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=st.one_of(st.binary(max_size=2048), st.builds(lambda cut: skin_photo(320, 240)[:cut], st.integers(0, 9000))))
def test_any_bytes_give_a_measurement_and_never_an_exception(raw: bytes) -> None:
    assert isinstance(measure_lesion(raw, coin_diameter_mm=COIN_MM), LesionMeasurement)


# Real photos: PAD-UFES-20 dev photos (no coin), resized and recoloured by the test.

@cache
def real_photos() -> tuple[Image.Image, ...]:
    return tuple(dev_photos(6, start=100))


def test_it_finds_the_lesion_in_real_photos_near_the_centre() -> None:
    found = [measure_lesion(photo) for photo in real_photos()]
    measured_ok = [m for m in found if m.problem is None]
    assert len(measured_ok) >= 4  # PAD photos centre the lesion; a few are soft or low-contrast
    for m in measured_ok:
        assert m.area_px is not None and 0.005 * m.width * m.height < m.area_px.value < 0.6 * m.width * m.height
        xs, ys = [x for x, _ in m.outline], [y for _, y in m.outline]
        centre_x, centre_y = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        assert abs(centre_x - m.width / 2) < 0.3 * m.width and abs(centre_y - m.height / 2) < 0.3 * m.height


def test_a_real_photo_taken_closer_without_a_coin_is_not_called_a_size_change() -> None:
    compared = 0
    for photo in real_photos():
        w, h = photo.size
        # "Closer": the central 75 % of the frame enlarged back to the photo's size, so the lesion is 1.33x wider.
        closer = photo.crop((w // 8, h // 8, w - w // 8, h - h // 8)).resize((w, h), Image.Resampling.LANCZOS)
        before, after = measure_lesion(photo), measure_lesion(closer)
        if before.problem or after.problem:
            continue
        assert before.area_px is not None and after.area_px is not None
        assert after.area_px.value > before.area_px.value  # it does look bigger
        change = compare_lesions(before, after)
        assert change.size.verdict == "unknown" and change.size.change is None
        compared += 1
    assert compared >= 4


def test_a_darkened_patch_on_a_real_lesion_is_a_colour_change() -> None:
    changed = 0
    for photo in real_photos():
        before = measure_lesion(photo)
        if before.problem or not before.outline:
            continue
        xs, ys = [x for x, _ in before.outline], [y for _, y in before.outline]
        # Darken the upper-left quarter of the lesion's bounding box, inside the lesion only.
        box = (round(min(xs)), round(min(ys)), round((min(xs) + max(xs)) / 2), round((min(ys) + max(ys)) / 2))
        recoloured = photo.copy()
        region = recoloured.crop(box)
        recoloured.paste(ImageEnhance.Brightness(region).enhance(0.45), box)
        after = measure_lesion(recoloured)
        if after.problem:
            continue
        change = compare_lesions(before, after)
        changed += change.colour.verdict == "changed"
    assert changed >= 3


def test_the_benchmark_command_runs_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triage.lesions.benchmark import main

    assert main(["--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "1024x768 photo pair" in out and "size unchanged" in out  # the closer photo is the same lesion
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 nothing")
    assert main(["--photo", str(tmp_path / "bad.jpg")]) == 2
    assert main(["--photo", str(tmp_path / "missing.jpg")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--repeat", "0"])
