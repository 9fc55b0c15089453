"""One evaluated case, and the per-case CSV that holds them: written row by row, read back to resume a run.

Each case is assessed twice from the same model answer: with ``model.lesion_discharge_validated`` false and
true (CLINICAL.md, "Lesions: self-care needs evidence"), so one run gives the figures before and after the gate.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from triage.evaluate.labels import SKIN_TYPES, BadInput, age_band, skin_type_label

#: The two values of ``model.lesion_discharge_validated`` every case is assessed with.
FLAGS: tuple[bool, ...] = (False, True)
DIFFERENTIAL_KEPT = 5


@dataclass(frozen=True)
class Outcome:
    """What the rules decided for one value of the flag; ``forwarded`` as the worker stores it."""

    tier: str
    forwarded: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CaseResult:
    """One evaluated case. ``differential`` is the model's top conditions (empty without a model answer);
    ``outcomes`` holds one Outcome per FLAGS value; ``error`` is non-empty when the case could not be evaluated
    (then ``outcomes`` is empty and the case counts in no figure)."""

    case_id: str
    split: str
    diagnosis: str
    skin_type: int | None
    age_years: float | None
    sex: str
    images: int
    model_used: bool
    backend: str
    model_id: str
    model_revision: str
    image_quality: str
    differential: tuple[tuple[str, float], ...]
    outcomes: tuple[Outcome, ...]
    ruleset_version: str
    error: str = ""

    def outcome(self, validated: bool) -> Outcome:
        """Return the Outcome with ``model.lesion_discharge_validated`` = ``validated``."""
        return self.outcomes[FLAGS.index(validated)]


COLUMNS: tuple[str, ...] = (
    "case_id", "split", "diagnosis", "skin_type", "age_band", "age_years", "sex", "images", "model_used",
    "backend", "model_id", "model_revision", "image_quality", "top1", "top1_likelihood", "differential",
    "tier_unvalidated", "forwarded_unvalidated", "reasons_unvalidated",
    "tier_validated", "forwarded_validated", "reasons_validated", "ruleset_version", "error",
)  # fmt: skip


def to_row(result: CaseResult) -> dict[str, str]:
    """Return ``result`` as one row of the per-case CSV."""
    top = result.differential[0] if result.differential else ("", None)
    row = {
        "case_id": result.case_id,
        "split": result.split,
        "diagnosis": result.diagnosis,
        "skin_type": skin_type_label(result.skin_type),
        "age_band": age_band(result.age_years),
        "age_years": "" if result.age_years is None else f"{result.age_years:g}",
        "sex": result.sex,
        "images": str(result.images),
        "model_used": _flag(result.model_used),
        "backend": result.backend,
        "model_id": result.model_id,
        "model_revision": result.model_revision,
        "image_quality": result.image_quality,
        "top1": top[0],
        "top1_likelihood": "" if top[1] is None else f"{top[1]:.6g}",
        "differential": json.dumps([[key, round(value, 6)] for key, value in result.differential]),
        "ruleset_version": result.ruleset_version,
        "error": result.error,
    }
    for validated, outcome in zip(FLAGS, result.outcomes, strict=False):
        suffix = _suffix(validated)
        row[f"tier_{suffix}"] = outcome.tier
        row[f"forwarded_{suffix}"] = _flag(outcome.forwarded)
        row[f"reasons_{suffix}"] = ";".join(outcome.reasons)
    return {column: row.get(column, "") for column in COLUMNS}


def from_row(row: dict[str, str]) -> CaseResult:
    """Return the CaseResult of one per-case CSV row. Raises ValueError when the row is not one of ours."""
    differential = tuple((str(key), float(value)) for key, value in json.loads(row["differential"] or "[]"))
    outcomes = tuple(
        Outcome(
            tier=row[f"tier_{_suffix(validated)}"],
            forwarded=row[f"forwarded_{_suffix(validated)}"] == "yes",
            reasons=tuple(code for code in row[f"reasons_{_suffix(validated)}"].split(";") if code),
        )
        for validated in FLAGS
        if row[f"tier_{_suffix(validated)}"]
    )
    skin = row["skin_type"]
    return CaseResult(
        case_id=row["case_id"],
        split=row["split"],
        diagnosis=row["diagnosis"],
        skin_type=SKIN_TYPES.index(skin) + 1 if skin in SKIN_TYPES else None,
        age_years=float(row["age_years"]) if row["age_years"] else None,
        sex=row["sex"],
        images=int(row["images"]),
        model_used=row["model_used"] == "yes",
        backend=row["backend"],
        model_id=row["model_id"],
        model_revision=row["model_revision"],
        image_quality=row["image_quality"],
        differential=differential,
        outcomes=outcomes,
        ruleset_version=row["ruleset_version"],
        error=row["error"],
    )


def read_results(path: Path) -> list[CaseResult]:
    """Return the results stored at ``path`` (none when it does not exist).

    A last line cut short by an interrupted write is dropped; any other unreadable row raises BadInput.
    """
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{path}: cannot read the per-case results: {error}") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # the row being written when the run was stopped
    reader = csv.DictReader(text.splitlines())
    if text and tuple(reader.fieldnames or ()) != COLUMNS:
        raise BadInput(f"{path}: not a per-case results file of this version; use another --out or --restart")
    results = []
    for row in reader:
        try:
            results.append(from_row(row))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadInput(f"{path} line {reader.line_num}: unreadable row; use another --out or --restart") from None
    return results


def write_results(path: Path, results: Iterable[CaseResult]) -> None:
    """Write ``results`` to ``path`` as a whole, atomically (a reader sees the old file or the new one)."""
    temporary = path.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(to_row(result) for result in results)
    os.replace(temporary, path)


class ResultWriter:
    """Appends results to the per-case CSV as they come, each row flushed, so a stopped run can resume."""

    def __init__(self, path: Path, kept: Sequence[CaseResult]) -> None:
        write_results(path, kept)
        self._file = path.open("a", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._file, COLUMNS, lineterminator="\n")

    def add(self, result: CaseResult) -> None:
        """Append one row and flush it to the operating system."""
        self._writer.writerow(to_row(result))
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _flag(value: bool) -> str:
    return "yes" if value else "no"


def _suffix(validated: bool) -> str:
    return "validated" if validated else "unvalidated"
