"""Writing bundles to a folder (`python -m inbox export-fhir`): one `case-<id>.fhir.json` per case, each written
whole or not at all (a temporary file renamed into place)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from triage import case_snapshot
from triage.fhir.bundle import build_bundle
from triage.images import ImageStore

ACTOR = "cli"


def write_json(path: Path, data: object) -> None:
    """Write `data` as JSON to `path` atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_case(factory: sessionmaker[Session], images: ImageStore | None, organisation: str, case_id: int,
                folder: Path) -> Path:
    """Write one case's bundle into `folder` (audited `case.exported` by `cli`). With `images`, photos inline.
    Raises `review.CaseNotFound` (another organisation's case, never sent, or erased) before writing anything,
    and `InvalidBundle`."""
    snap = case_snapshot.for_system(factory, case_id, actor=ACTOR, action="case.exported", organisation=organisation,
                                    format="fhir", via="cli")
    if images is not None:
        snap = case_snapshot.with_photo_data(snap, images)
    bundle = build_bundle(snap, photos=images is not None)
    path = folder / f"case-{case_id}.fhir.json"
    write_json(path, bundle)
    return path
