"""The photo quality gate: blur is caught at every brightness and size, sharp photos pass, real photos agree."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from tests.images import textured_image
from tests.pad_ufes import dev_photos
from triage.images import sanitize_image
from triage.photo_quality import (
    DEFAULT_THRESHOLDS,
    WORK_SHORT_SIDE,
    QualityMeasures,
    measure_quality,
    quality_flags,
    quality_verdict,
)
from triage.photo_quality_eval import VARIANTS, choose_min_sharpness, flag_table, main, spoil

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 40_000_000}
# Skin tones from very light to very dark: mean luma of the photos about 225, 197, 160, 110, 73 and 50.
SKIN_TONES = [(250, 220, 200), (230, 190, 160), (200, 150, 120), (150, 100, 75), (100, 65, 50), (70, 45, 35)]
SIZES = [(240, 320), (480, 640), (1200, 1600)]


def blurred(img: Image.Image, working_px: float) -> Image.Image:
    """`img` blurred by a Gaussian of `working_px` pixels as seen in the gate's working copy."""
    return img.filter(ImageFilter.GaussianBlur(working_px * min(img.size) / WORK_SHORT_SIDE))


def as_jpeg(img: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("skin", SKIN_TONES, ids=lambda c: f"skin{c[0]}")
def test_blurred_photos_are_flagged_and_sharp_ones_pass_at_every_brightness_and_size(
        skin: tuple[int, int, int], size: tuple[int, int]) -> None:
    sharp = textured_image(*size, seed=7, skin=skin)
    assert DEFAULT_THRESHOLDS.min_brightness < measure_quality(sharp).brightness < DEFAULT_THRESHOLDS.max_brightness
    assert sanitize_image(as_jpeg(sharp), **LIMITS).quality["verdict"] == "good"
    assert sanitize_image(as_jpeg(blurred(sharp, 3)), **LIMITS).quality["verdict"] == "blurred"


def test_sharpness_does_not_depend_on_the_photos_resolution() -> None:
    values = [measure_quality(textured_image(w, h, seed=3)).sharpness for w, h in [*SIZES, (2000, 3000)]]
    assert max(values) - min(values) < 0.05
    # Blurred, the smallest photo keeps a little more of its pixel-level noise; all stay far below the threshold.
    values = [measure_quality(blurred(textured_image(w, h, seed=3), 3)).sharpness for w, h in SIZES]
    assert max(values) - min(values) < 0.1
    assert max(values) < DEFAULT_THRESHOLDS.min_sharpness - 0.05


@pytest.mark.parametrize("gain", [0.4, 0.7, 1.2])
def test_sharpness_does_not_depend_on_exposure(gain: float) -> None:
    photo = textured_image(480, 640, seed=11)
    exposed = photo.point(lambda v: min(255, round(v * gain)))
    assert abs(measure_quality(exposed).sharpness - measure_quality(photo).sharpness) < 0.05
    assert measure_quality(blurred(exposed, 3)).sharpness < DEFAULT_THRESHOLDS.min_sharpness


def test_a_sharp_frame_around_a_blurred_photo_does_not_make_it_sharp() -> None:
    """The old measure was dominated by the 1-px border a 3x3 kernel leaves unfiltered."""
    photo = blurred(textured_image(480, 640, seed=5, skin=(230, 190, 160)), 4)
    ImageDraw.Draw(photo).rectangle((0, 0, photo.width - 1, photo.height - 1), outline=(0, 0, 0), width=2)
    assert sanitize_image(as_jpeg(photo), **LIMITS).quality["verdict"] == "blurred"


def test_jpeg_noise_does_not_hide_blur() -> None:
    photo = blurred(textured_image(480, 640, seed=9), 3)
    assert sanitize_image(as_jpeg(photo, quality=40), **LIMITS).quality["verdict"] == "blurred"


def test_a_featureless_photo_counts_as_blurred() -> None:
    flat = Image.new("RGB", (640, 480), (200, 150, 120))
    measures = measure_quality(flat)
    assert measures.detail == 0 and measures.sharpness == 0
    assert quality_verdict(measures) == "blurred"


def test_the_quality_dict_keeps_its_keys_and_adds_detail() -> None:
    quality = sanitize_image(as_jpeg(textured_image(480, 640)), **LIMITS).quality
    assert {"brightness", "sharpness", "skin", "verdict", "detail"} <= set(quality)
    assert all(isinstance(quality[k], float) for k in ("brightness", "sharpness", "skin", "detail"))


def test_the_verdict_reports_the_first_failed_check_and_flags_report_all() -> None:
    dark_and_blurred = QualityMeasures(width=640, height=480, brightness=20, sharpness=0.1, detail=1, skin=0.0)
    assert quality_verdict(dark_and_blurred) == "too_dark"
    flags = quality_flags(dark_and_blurred)
    assert flags == {"too_small": False, "too_dark": True, "too_bright": False, "blurred": True, "not_skin": True}


# Real smartphone photos: the same checks on a handful of PAD-UFES-20 dev photos.

def test_real_photos_blurred_by_two_pixels_are_flagged_and_most_originals_pass() -> None:
    photos = dev_photos(8)
    originals = [measure_quality(spoil(p, VARIANTS[0])) for p in photos]
    blurred_2 = [measure_quality(spoil(p, next(v for v in VARIANTS if v.blur == 2 and not v.stops))) for p in photos]
    assert all(quality_flags(m)["blurred"] for m in blurred_2)
    assert all(o.sharpness > b.sharpness + 0.1 for o, b in zip(originals, blurred_2, strict=True))
    assert sum(not quality_flags(m)["blurred"] for m in originals) >= 6


def test_real_photos_keep_their_sharpness_when_under_or_over_exposed() -> None:
    for photo in dev_photos(4, start=20):
        sharpness = [measure_quality(spoil(photo, v)).sharpness for v in VARIANTS if not v.blur and abs(v.stops) <= 1.5]
        assert max(sharpness) - min(sharpness) < 0.06


def test_the_evaluation_table_and_threshold_rule_on_real_photos() -> None:
    photos = dev_photos(3, start=40)
    rows = [[measure_quality(spoil(p, v)) for v in VARIANTS] for p in photos]
    table = flag_table(rows)
    assert table.count("\n") == len(VARIANTS) + 1
    assert "| blur 5 px | blurred | 3 | 100% |" in table
    threshold, low, high = choose_min_sharpness(rows)
    assert high < threshold < low


def test_the_evaluation_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    assert main(["--images", str(images)]) == 2
    assert "splits.csv" in capsys.readouterr().err
    (tmp_path / "splits.csv").write_text("name,kind\nPAT_1_1_1.png,dev\n")
    assert main(["--images", str(images)]) == 2
    assert "splits.csv" in capsys.readouterr().err
    (tmp_path / "splits.csv").write_text("img_id,split\nPAT_1_1_1.png,holdout\n")
    assert main(["--images", str(images)]) == 2
    assert "no photos of split holdout" in capsys.readouterr().err
    (images / "PAT_1_1_1.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert main(["--images", str(images)]) == 2
    assert "cannot read a photo" in capsys.readouterr().err
    for bad in (["--limit", "-1"], ["--split", "everything"]):
        with pytest.raises(SystemExit):
            main(bad)


def test_the_evaluation_command_prints_the_table_for_a_small_folder(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    textured_image(300, 300, seed=1).save(images / "PAT_1_1_1.jpg", quality=90)
    (tmp_path / "splits.csv").write_text("img_id,split\nPAT_1_1_1.png,dev\n")
    assert main(["--images", str(images), "--split", "dev", "--choose"]) == 0
    out = capsys.readouterr().out
    assert "1 photos of split dev" in out and "| blur 3 px | blurred | 1 | 100% |" in out
    assert "min_sharpness half-way" in out


def test_missing_photos_skip_with_a_reason_but_fail_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pad_ufes import pad_ufes_dir

    monkeypatch.setenv("SHARED_DIR", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="set SHARED_DIR"):
        pad_ufes_dir()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        pad_ufes_dir()
    (tmp_path / "data" / "pad-ufes-20" / "images").mkdir(parents=True)
    assert pad_ufes_dir() == tmp_path / "data" / "pad-ufes-20"
