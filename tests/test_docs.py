"""The docs' failure-mode tables name the tests that back each row: every test and file they name exists."""

from __future__ import annotations

import re

import pytest

from tests.processes import ROOT

DOCS = ["docs/operations.md", "README.md", "docs/performance.md"]


def _test_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py"))


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_and_test_file_a_doc_names_exists(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    sources = _test_sources()
    files = set(re.findall(r"`(tests/[\w/]+\.py)(?:::\w+)?", text))
    names = set(re.findall(r"`(?:tests/[\w/]+\.py::)?(test_\w+)`", text)) | set(re.findall(r"::(test_\w+)", text))
    missing = [f for f in sorted(files) if not (ROOT / f).is_file()]
    missing += [n for n in sorted(names) if not re.search(rf"def {n}\b", sources)]
    assert files or doc != "docs/operations.md"
    assert not missing, f"{doc} names tests that do not exist: {missing}"
