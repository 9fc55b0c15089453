"""FHIR's rules for text: a `string` is non-empty and holds no whitespace but space, tab and line breaks."""

from __future__ import annotations

import unicodedata

MAX_STRING = 1024 * 1024  # FHIR's limit on one string, in characters


def fhir_string(value: object, *, limit: int = MAX_STRING) -> str | None:
    """`value` as a valid FHIR string: other whitespace (no-break, line and paragraph separators) becomes a
    space, control and unassigned characters go, and it is cut to `limit`. None when nothing is left."""
    if value is None:
        return None
    kept = []
    for ch in str(value)[: limit * 2]:
        if ch in " \t\n\r":
            kept.append(ch)
        elif ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cs", "Cn"):
            kept.append(ch)
    text = "".join(kept).strip()[:limit].strip()
    return text or None
