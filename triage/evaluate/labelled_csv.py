"""A generic labelled CSV as labelled cases: one row per case.

Columns (see docs/evaluation.md): ``image`` (photo paths separated by ``;``, relative to the CSV's folder;
may be empty) and ``diagnosis`` (a condition key of CLINICAL.md) are required; ``case_id``, ``answers`` (the
bot's stored answers as JSON: ``{"patient": {...}, "answers": {...}}``), ``age``, ``sex``, ``skin_type``
(1-6 or I-VI) and ``split`` are optional.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_server.api import MAX_IMAGES
from triage.evaluate.labels import BadInput, LabelledCase, read_number, read_skin_type
from triage.evaluate.tables import read_csv_rows
from triage.rules import CONDITION_TIERS, CaseError, parse_case
from triage.rules.vocabulary import canonical_key

REQUIRED_COLUMNS = ("image", "diagnosis")


def load_labelled_csv(path: Path) -> list[LabelledCase]:
    """Return the cases of the CSV file at ``path``. Raises BadInput naming the line of the first problem."""
    cases: list[LabelledCase] = []
    seen: set[str] = set()
    for line, row in read_csv_rows(path, REQUIRED_COLUMNS):
        where = f"{path.name} line {line}"
        case_id = (row.get("case_id") or "").strip() or f"row{line}"
        if case_id in seen:
            raise BadInput(f"{where}: case_id repeated: {case_id[:60]!r}")
        if len(case_id) > 200:
            raise BadInput(f"{where}: case_id longer than 200 characters")
        seen.add(case_id)
        images = tuple(path.parent / part.strip() for part in row["image"].split(";") if part.strip())
        if len(images) > MAX_IMAGES:
            raise BadInput(f"{where}: image: {len(images)} photos, the model server takes at most {MAX_IMAGES}")
        skin_type = read_skin_type(row.get("skin_type") or "", f"{where}: skin_type")
        cases.append(
            LabelledCase(
                case_id=case_id,
                diagnosis=_diagnosis(row["diagnosis"], where),
                answers=_answers(row, skin_type, where),
                images=images,
                skin_type=skin_type,
                split=(row.get("split") or "").strip(),
            )
        )
    if not cases:
        raise BadInput(f"{path}: no cases (the file has a header and no rows)")
    return cases


def _diagnosis(text: str, where: str) -> str:
    key = canonical_key(text)
    if key not in CONDITION_TIERS:
        shown = text.strip()[:40] or "(empty)"
        raise BadInput(f"{where}: diagnosis: not a condition key of CLINICAL.md: {shown!r} (e.g. melanoma)")
    return key


def _answers(row: dict[str, str], skin_type: int | None, where: str) -> dict[str, Any]:
    """The row's answers: the ``answers`` JSON with the ``age``, ``sex`` and ``skin_type`` columns laid over it."""
    raw = (row.get("answers") or "").strip()
    data: dict[str, Any] = {}
    if raw:
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError):
            raise BadInput(f"{where}: answers: not valid JSON") from None
        if not isinstance(decoded, dict):
            raise BadInput(f"{where}: answers: expected a JSON object with patient and answers")
        data = decoded
    patient = data.get("patient")
    patient = {} if patient is None else patient
    if isinstance(patient, dict):  # otherwise parse_case below names the wrong type
        patient = dict(patient)
        age = read_number(row.get("age") or "", f"{where}: age", 0, 150)
        if age is not None:
            patient["age_years"] = age
        if (row.get("sex") or "").strip():
            patient["sex"] = row["sex"].strip().lower()[:20]
        if skin_type is not None:
            patient["skin_type"] = skin_type
    answers = data.get("answers")
    stored: dict[str, Any] = {"patient": patient, "answers": {} if answers is None else answers}
    try:
        parse_case(stored)  # the triage contract's own checks: wrong types are this row's error, not a crash later
    except CaseError as error:
        raise BadInput(f"{where}: answers: {error}") from None
    return stored
