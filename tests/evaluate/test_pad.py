"""The PAD-UFES-20 adapter: each mapping on rows made here, then the real metadata when it is present."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import pytest

from tests.evaluate.helpers import ROOT
from tests.images import skin_photo
from triage.evaluate.answers import rules_only
from triage.evaluate.labels import BadInput, LabelledCase
from triage.evaluate.pad import find_pad_dir, load_pad, pad_answers
from triage.evaluate.run import evaluate_case
from triage.evaluate.summary import SOON_OR_ABOVE

HEADER = ("patient_id,lesion_id,smoke,drink,background_father,background_mother,age,pesticide,gender,"
          "skin_cancer_history,cancer_history,has_piped_water,has_sewage_system,fitspatrick,region,diameter_1,"
          "diameter_2,diagnostic,itch,grew,hurt,changed,bleed,elevation,img_id,biopsed").split(",")  # fmt: skip


def row(**values: str) -> dict[str, str]:
    """A metadata row: every question answered False, a 55-year-old woman, skin type 2, 5 x 4 mm on the neck."""
    base = dict.fromkeys(HEADER, "")
    base.update(age="55", gender="FEMALE", fitspatrick="2.0", region="NECK", diameter_1="5.0", diameter_2="4.0",
                diagnostic="BCC", itch="False", grew="False", hurt="False", changed="False", bleed="False",
                elevation="True", img_id="PAT_1_2_3.png")  # fmt: skip
    base.update(values)
    return base


def test_answers_false_are_no_and_nothing_is_skipped() -> None:
    answers = pad_answers(row())
    assert answers == {
        "patient": {"age_years": 55, "sex": "female", "skin_type": 2},
        "answers": {"symptoms": [], "extent": "single_spot", "skipped": [], "body_sites": ["neck"]},
    }


def test_answers_true_set_the_questionnaires_symptoms() -> None:
    answers = pad_answers(row(itch="True", grew="True", hurt="True", changed="True", bleed="True", diameter_2="7"))
    assert answers["answers"]["symptoms"] == [
        "itch", "changing_size", "pain", "changing_shape", "bleeding", "diameter_7mm_or_more",
    ]  # fmt: skip


def test_unknown_or_empty_answers_are_skipped_questions_not_noes() -> None:
    answers = pad_answers(row(grew="UNK", changed="UNK", bleed="", diameter_1="", diameter_2=""))["answers"]
    assert answers["symptoms"] == []
    assert answers["skipped"] == ["changing_size", "changing_shape", "changing_colour", "bleeding",
                                  "diameter_7mm_or_more"]  # fmt: skip


def test_missing_demographics_are_left_out_and_regions_map_to_body_sites() -> None:
    answers = pad_answers(row(gender="", fitspatrick="", region="NOSE"))
    assert answers["patient"] == {"age_years": 55}
    assert answers["answers"]["body_sites"] == ["face"]
    assert pad_answers(row(region="THIGH"))["answers"]["body_sites"] == ["legs"]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"itch": "maybe"}, "itch: expected True, False or UNK"),
        ({"region": "ELBOW"}, "region: not a PAD body region"),
        ({"gender": "X"}, "gender: expected FEMALE or MALE"),
        ({"age": "old"}, "age: not a number"),
        ({"age": "-3"}, "age: expected 0 to 150"),
        ({"fitspatrick": "7"}, "fitspatrick: not a Fitzpatrick skin type"),
        ({"diameter_1": "wide"}, "diameter_1: not a number"),
    ],
)
def test_values_outside_pads_vocabulary_name_the_row_and_column(values: dict[str, str], words: str) -> None:
    with pytest.raises(BadInput, match=words):
        pad_answers(row(**values), "metadata.csv line 7")


def write_pad(folder: Path, rows: list[dict[str, str]], *, splits: bool = True) -> Path:
    (folder / "images").mkdir(parents=True)
    with (folder / "metadata.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    if splits:
        (folder / "splits.csv").write_text("img_id,split\n" + "".join(f"{r['img_id']},dev\n" for r in rows))
    return folder


def test_a_pad_folder_loads_with_photos_where_present_and_the_split(tmp_path: Path) -> None:
    folder = write_pad(tmp_path / "pad", [row(img_id="PAT_1_2_3.png"), row(img_id="PAT_4_5_6.png", diagnostic="MEL")])
    (folder / "images" / "PAT_1_2_3.jpg").write_bytes(skin_photo(240, 240, with_gps=False))
    cases = load_pad(folder)
    assert [(c.case_id, c.diagnosis, c.split, len(c.images)) for c in cases] == [
        ("PAT_1_2_3", "basal_cell_carcinoma", "dev", 1),
        ("PAT_4_5_6", "melanoma", "dev", 0),
    ]
    assert cases[0].skin_type == 2


def test_a_pad_folder_with_bad_rows_is_refused_with_the_line(tmp_path: Path) -> None:
    folder = write_pad(tmp_path / "pad", [row(), row(diagnostic="XYZ", img_id="PAT_9_9_9.png")])
    with pytest.raises(BadInput, match=r"metadata.csv line 3: diagnostic: not a PAD class"):
        load_pad(folder)
    repeated = write_pad(tmp_path / "pad2", [row(), row()])
    with pytest.raises(BadInput, match="img_id repeated"):
        load_pad(repeated)


def test_a_metadata_file_without_a_needed_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pad").mkdir()
    (tmp_path / "pad" / "metadata.csv").write_text("img_id,diagnostic\nPAT_1_2_3.png,BCC\n")
    with pytest.raises(BadInput, match="missing column"):
        load_pad(tmp_path / "pad")


def test_the_folder_is_found_from_the_argument_the_environment_or_above_the_checkout(tmp_path: Path) -> None:
    pad = write_pad(tmp_path / "shared" / "data" / "pad-ufes-20", [row()])
    checkout = tmp_path / "work" / "checkout"
    checkout.mkdir(parents=True)
    assert find_pad_dir(str(pad), {}, checkout) == pad
    assert find_pad_dir(None, {"SHARED_DIR": str(tmp_path / "shared")}, checkout) == pad
    assert find_pad_dir(None, {}, tmp_path / "work") == pad
    with pytest.raises(BadInput, match="give --pad DIR or set SHARED_DIR"):
        find_pad_dir(None, {}, Path("/"))
    with pytest.raises(BadInput, match=r"no metadata\.csv there"):
        find_pad_dir(None, {"SHARED_DIR": str(checkout)}, checkout)


# -- the real PAD-UFES-20 metadata ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_pad() -> list[LabelledCase]:
    try:
        folder = find_pad_dir(None, os.environ, ROOT)
    except BadInput as error:
        if os.environ.get("CI", "").lower() == "true" and os.environ.get("SHARED_DIR"):
            pytest.fail(f"CI=true with SHARED_DIR set, but PAD-UFES-20 is missing: {error}")
        pytest.skip(f"PAD-UFES-20 is not here ({error})")
    return load_pad(folder)


def test_the_real_metadata_gives_every_row_with_its_class_photo_and_split(real_pad: list[LabelledCase]) -> None:
    # The counts of shared/data/pad-ufes-20/README.md.
    assert len(real_pad) == 2298
    assert Counter(c.diagnosis for c in real_pad) == {
        "basal_cell_carcinoma": 845, "actinic_keratosis": 730, "melanocytic_nevus": 244,
        "seborrheic_keratosis": 235, "squamous_cell_carcinoma": 192, "melanoma": 52,
    }  # fmt: skip
    assert sum(bool(c.images) for c in real_pad) == 1032
    assert all(path.is_file() for c in real_pad for path in c.images)
    assert Counter(c.split for c in real_pad) == {"dev": 1383, "holdout": 915}


def test_the_real_unknowns_become_skipped_questions(real_pad: list[LabelledCase]) -> None:
    # README: UNK counts grew 402, changed 396, bleed 6; 804 rows without diameters or skin type.
    skipped = Counter(key for c in real_pad for key in c.answers["answers"]["skipped"])
    assert skipped["changing_size"] == 402
    assert skipped["changing_shape"] == skipped["changing_colour"] == 396
    assert skipped["bleeding"] == 6
    assert skipped["diameter_7mm_or_more"] == 804
    assert sum(c.skin_type is None for c in real_pad) == 804


def test_the_real_answers_alone_reproduce_the_figures_of_clinical_md(real_pad: list[LabelledCase]) -> None:
    # CLINICAL.md: the answers alone put 75% of melanomas and 53% of SCCs at soon or above.
    soon: Counter[str] = Counter()
    for case in real_pad:
        if evaluate_case(case, rules_only(case)).outcome(False).tier in SOON_OR_ABOVE:
            soon[case.diagnosis] += 1
    assert soon["melanoma"] == 39  # 39/52 = 75.0 %
    assert soon["squamous_cell_carcinoma"] == 101  # 101/192 = 52.6 %
