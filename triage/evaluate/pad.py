"""PAD-UFES-20 as labelled cases: its metadata mapped to the questionnaire's answers as the bot stores them.

Every mapping choice is documented in docs/evaluation.md ("The PAD-UFES-20 adapter"). The folder is read
where it lies (metadata.csv, images/, splits.csv); nothing is copied.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from triage.evaluate.labels import BadInput, LabelledCase, read_number, read_skin_type
from triage.evaluate.tables import read_csv_rows

PAD_SUBDIR = Path("shared/data/pad-ufes-20")

#: PAD's six diagnostic classes as canonical condition keys.
PAD_DIAGNOSES: dict[str, str] = {
    "ACK": "actinic_keratosis",
    "BCC": "basal_cell_carcinoma",
    "MEL": "melanoma",
    "NEV": "melanocytic_nevus",
    "SCC": "squamous_cell_carcinoma",
    "SEK": "seborrheic_keratosis",
}

#: PAD's body regions as the questionnaire's body sites.
PAD_REGIONS: dict[str, str] = {
    "ABDOMEN": "abdomen",
    "ARM": "arms",
    "BACK": "back",
    "CHEST": "chest",
    "EAR": "ears",
    "FACE": "face",
    "FOOT": "feet",
    "FOREARM": "arms",
    "HAND": "hands",
    "LIP": "lips_mouth",
    "NECK": "neck",
    "NOSE": "face",
    "SCALP": "scalp",
    "THIGH": "legs",
}

#: PAD's yes/no questions: the symptom keys a "True" answer sets, and the keys skipped when it is UNK or empty.
#: PAD's single "has it changed?" covers shape and colour: True counts as one 2-point checklist feature
#: (changing_shape), since the answer cannot say which; False answers both; UNK leaves both unknown.
PAD_QUESTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "itch": (("itch",), ("itch",)),
    "grew": (("changing_size",), ("changing_size",)),
    "hurt": (("pain",), ("pain",)),
    "changed": (("changing_shape",), ("changing_shape", "changing_colour")),
    "bleed": (("bleeding",), ("bleeding",)),
}
DIAMETER_7MM = 7.0
SEXES = {"FEMALE": "female", "MALE": "male"}
REQUIRED_COLUMNS = (
    "img_id", "diagnostic", "age", "gender", "region", "fitspatrick", "diameter_1", "diameter_2", *PAD_QUESTIONS,
)


def find_pad_dir(explicit: str | None, environ: Mapping[str, str], start: Path) -> Path:
    """Return the PAD-UFES-20 folder: ``explicit`` (--pad), else $SHARED_DIR/data/pad-ufes-20, else the first
    ``shared/data/pad-ufes-20`` found walking up from ``start``. Raises BadInput when there is none."""
    if explicit:
        candidates = [Path(explicit)]
    elif environ.get("SHARED_DIR"):
        candidates = [Path(environ["SHARED_DIR"]) / "data" / "pad-ufes-20"]
    else:
        candidates = [parent / PAD_SUBDIR for parent in [start, *start.parents]]
    for candidate in candidates:
        if (candidate / "metadata.csv").is_file():
            return candidate
    if explicit or environ.get("SHARED_DIR"):
        raise BadInput(f"{candidates[0]}: no metadata.csv there (is it the PAD-UFES-20 folder?)")
    raise BadInput(
        "PAD-UFES-20 not found: no shared/data/pad-ufes-20 above this checkout; give --pad DIR or set SHARED_DIR"
    )


def load_pad(folder: Path) -> list[LabelledCase]:
    """Return every row of ``folder``/metadata.csv as a labelled case, its split from splits.csv when present.

    Raises BadInput naming the file, row and column of the first problem.
    """
    rows = read_csv_rows(folder / "metadata.csv", REQUIRED_COLUMNS)
    splits = _read_splits(folder / "splits.csv")
    images = _image_names(folder / "images")
    cases: list[LabelledCase] = []
    seen: set[str] = set()
    for line, row in rows:
        where = f"metadata.csv line {line}"
        stem = row["img_id"].strip().removesuffix(".png")
        if not stem or stem in seen:
            raise BadInput(f"{where}: img_id {'missing' if not stem else 'repeated: ' + stem[:60]}")
        seen.add(stem)
        cases.append(
            LabelledCase(
                case_id=stem,
                diagnosis=_diagnosis(row["diagnostic"], where),
                answers=pad_answers(row, where),
                images=(folder / "images" / f"{stem}.jpg",) if f"{stem}.jpg" in images else (),
                skin_type=read_skin_type(row["fitspatrick"], f"{where}: fitspatrick"),
                split=splits.get(row["img_id"].strip(), ""),
            )
        )
    return cases


def pad_answers(row: Mapping[str, str], where: str = "row") -> dict[str, Any]:
    """Return one metadata row as the bot's stored answers: ``{"patient": {...}, "answers": {...}}``.

    ``answers.skipped`` lists the keys of the questions answered UNK or left empty. Raises BadInput for a
    value outside PAD's vocabulary.
    """
    symptoms: list[str] = []
    skipped: list[str] = []
    for question, (when_true, when_unknown) in PAD_QUESTIONS.items():
        value = row[question].strip()
        if value == "True":
            symptoms += when_true
        elif value in ("", "UNK"):
            skipped += when_unknown
        elif value != "False":
            raise BadInput(f"{where}: {question}: expected True, False or UNK, got {value[:20]!r}")
    diameters = [read_number(row[column], f"{where}: {column}", 0, 10_000) for column in ("diameter_1", "diameter_2")]
    known = [d for d in diameters if d is not None]
    if not known:
        skipped.append("diameter_7mm_or_more")
    elif max(known) >= DIAMETER_7MM:
        symptoms.append("diameter_7mm_or_more")
    answers: dict[str, Any] = {"symptoms": symptoms, "extent": "single_spot", "skipped": skipped}
    region = row["region"].strip().upper()
    if region:
        if region not in PAD_REGIONS:
            raise BadInput(f"{where}: region: not a PAD body region: {region[:20]!r}")
        answers["body_sites"] = [PAD_REGIONS[region]]
    patient: dict[str, Any] = {}
    age = _age(row["age"], where)
    if age is not None:
        patient["age_years"] = age
    sex = row["gender"].strip().upper()
    if sex:
        if sex not in SEXES:
            raise BadInput(f"{where}: gender: expected FEMALE or MALE, got {sex[:20]!r}")
        patient["sex"] = SEXES[sex]
    skin_type = read_skin_type(row["fitspatrick"], f"{where}: fitspatrick")
    if skin_type is not None:
        patient["skin_type"] = skin_type
    return {"patient": patient, "answers": answers}


def _diagnosis(code: str, where: str) -> str:
    key = PAD_DIAGNOSES.get(code.strip().upper())
    if key is None:
        raise BadInput(f"{where}: diagnostic: not a PAD class ({', '.join(PAD_DIAGNOSES)}): {code[:20]!r}")
    return key


def _age(text: str, where: str) -> float | None:
    age = read_number(text, f"{where}: age", 0, 150)
    return int(age) if age is not None and age.is_integer() else age


def _read_splits(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return {row["img_id"].strip(): row["split"].strip() for _, row in read_csv_rows(path, ("img_id", "split"))}


def _image_names(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()

