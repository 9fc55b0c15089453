"""HL7's FHIR R4 JSON schema (`fhir.schema.json`, draft 6), fetched by `scripts/fetch-fhir-schema` into
`.cache/fhir-r4-schema/` (or named by `FHIR_R4_SCHEMA`). Tests that check bundles against it are skipped with the
reason when it is absent, and fail instead under CI=true (`.ci/run` fetches it)."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, ROOT

SCHEMA = Path(os.environ.get("FHIR_R4_SCHEMA", ROOT / ".cache" / "fhir-r4-schema" / "fhir.schema.json"))


@functools.cache
def _validator() -> Any:
    import jsonschema_rs

    return jsonschema_rs.Draft6Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """What the R4 JSON schema says is wrong with a resource or bundle (empty: valid). Skips without it."""
    if not SCHEMA.is_file():
        message = f"the FHIR R4 JSON schema is not at {SCHEMA}: run scripts/fetch-fhir-schema"
        if IN_CI:
            pytest.fail(f"{message} (CI=true requires it)")
        pytest.skip(message)
    return [f"{'/'.join(map(str, e.instance_path))}: {str(e)[:300]}" for e in _validator().iter_errors(resource)]
