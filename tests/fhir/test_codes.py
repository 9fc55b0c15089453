"""The FHIR code tables against the policy: ICD-10 for every condition key, as CLINICAL.md's table says."""

from __future__ import annotations

import re

from tests.pad_ufes import clinical_md
from triage.fhir.codes import ICD10, TIER_DISPLAY, TIER_PRIORITY
from triage.rules import CONDITION_TIERS, TIERS

_ROW = re.compile(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*([^|]+?)\s*\|\s*([a-z_]+)")


def _clinical_table() -> dict[str, str]:
    text = clinical_md().read_text(encoding="utf-8").split("## Condition vocabulary", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := _ROW.match(line))}


def test_every_condition_key_of_clinical_md_has_its_icd10_codes() -> None:
    table = _clinical_table()
    assert len(table) >= 50
    assert set(ICD10) == set(table)
    for key, icd10 in table.items():
        expected = tuple(code for code in icd10.split("/") if code != "-")
        assert ICD10[key] == expected, key


def test_the_code_table_covers_the_rules_vocabulary_and_every_tier() -> None:
    assert set(ICD10) == set(CONDITION_TIERS)
    assert ICD10["other"] == () and ICD10["stevens_johnson_syndrome_ten"] == ("L51.1", "L51.2")
    assert all(re.fullmatch(r"[A-Z]\d\d(\.\d{1,3})?", code) for codes in ICD10.values() for code in codes)
    assert set(TIER_DISPLAY) == set(TIER_PRIORITY) == set(TIERS)
