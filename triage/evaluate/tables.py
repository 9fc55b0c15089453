"""Reading the labelled data's CSV files, with one clear line for every way they can be wrong."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from triage.evaluate.labels import BadInput

#: A larger labelled file is almost certainly not what the operator meant to give.
MAX_CSV_BYTES = 512 * 1024 * 1024


def read_csv_rows(path: Path, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """Return ``(line number, row)`` for every data row of the CSV file at ``path``.

    Raises BadInput (naming the file, and the line where it applies) when the file cannot be read, is not
    UTF-8 CSV, lacks one of the ``required`` columns or has a row with the wrong number of fields.
    """
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            raise BadInput(f"{path}: larger than {MAX_CSV_BYTES // 2**20} MiB; is it the right file?")
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            missing = [column for column in required if column not in header]
            if missing:
                found = ", ".join(header[:12]) or "nothing"
                raise BadInput(f"{path}: missing column(s) {', '.join(missing)} (found: {found[:200]})")
            rows = []
            for row in reader:
                if None in row or any(value is None for value in row.values()):
                    raise BadInput(
                        f"{path} line {reader.line_num}: expected {len(header)} fields, got a different number"
                    )
                rows.append((reader.line_num, row))
    except OSError as error:
        raise BadInput(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    except csv.Error as error:
        raise BadInput(f"{path}: not a readable CSV file: {error}") from None
    return rows
