"""Checking a bundle before anyone sees it: every resource against the FHIR models of `fhir.resources` (its R4B
package: R4's resources, including `Media`), every full URL a unique `urn:uuid:`, every reference resolved.

The models check structure, types, required elements and each primitive's format; they do not check codes
against value sets. The tests also check every bundle against the official FHIR R4 JSON schema
(`tests/fhir/schema.py`), which does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

_UUID_URL = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class InvalidBundle(ValueError):
    """The bundle is not valid FHIR; `problems` lists each one with where it is."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
        self.problems = problems


def references(value: Any) -> Iterator[str]:
    """Every `reference` inside a resource (JSON), depth first."""
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def _without_data(resource: dict[str, Any]) -> dict[str, Any]:
    """A Media with its inline bytes replaced by a stand-in: the model's base64 check on megabytes of photo is
    slow, and the bytes were encoded by us a moment ago."""
    content = resource.get("content")
    if resource.get("resourceType") == "Media" and isinstance(content, dict) and "data" in content:
        return {**resource, "content": {**content, "data": "AAAA"}}
    return resource


def validate_resource(resource: dict[str, Any]) -> list[str]:
    """The problems of one resource (empty when it is valid)."""
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        return [f"unknown resourceType {kind!r}"]
    try:
        model.model_validate(_without_data(resource))
    except ValidationError as exc:
        return [f"{kind}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    return []


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Raise `InvalidBundle` unless every entry's resource is valid, every full URL is a unique `urn:uuid:`,
    and every reference names an entry of the bundle (or a canonical URL, which is not a reference)."""
    problems: list[str] = []
    entries = bundle.get("entry") or []
    urls = [str(e.get("fullUrl", "")) for e in entries]
    for i, url in enumerate(urls):
        if not _UUID_URL.match(url):
            problems.append(f"entry {i}: fullUrl {url[:60]!r} is not a urn:uuid")
    if len(set(urls)) != len(urls):
        problems.append("two entries share a fullUrl")
    known = set(urls)
    for i, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        problems += [f"entry {i}: {p}" for p in validate_resource(resource)]
        problems += [f"entry {i} ({resource.get('resourceType')}): reference {ref[:60]!r} is not in the bundle"
                     for ref in references(resource) if ref not in known]
    shell = {**bundle, "entry": [{**e, "resource": {"resourceType": "Basic", "code": {"text": "x"}}}
                                 for e in entries]}
    try:
        get_fhir_model_class("Bundle").model_validate(shell)
    except ValidationError as exc:
        problems += [f"Bundle.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    if problems:
        raise InvalidBundle(problems)
