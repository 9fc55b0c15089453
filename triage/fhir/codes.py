"""The codes and identifiers the FHIR bundles use: code systems, the tiers, and ICD-10 for every condition key.

`ICD10` is derived from the rules' condition table (`triage.rules.vocabulary`, itself CLINICAL.md's table);
`tests/fhir/test_codes.py` checks it against CLINICAL.md line by line when `../shared` is present.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType

from triage.rules.vocabulary import CONDITIONS, TIERS

# Our own code systems and identifier systems. URNs: they name things, nobody resolves them.
BASE = "urn:dermatriage"
TIER_SYSTEM = f"{BASE}:tier"
CONDITION_SYSTEM = f"{BASE}:condition"
REASON_SYSTEM = f"{BASE}:rule"
RULESET_SYSTEM = f"{BASE}:ruleset"
OBSERVATION_SYSTEM = f"{BASE}:observation"
ANSWER_SYSTEM = f"{BASE}:answer"
PATIENT_SYSTEM = f"{BASE}:patient"
ORGANISATION_SYSTEM = f"{BASE}:organisation"
CLINICIAN_SYSTEM = f"{BASE}:clinician"
DISPOSITION_SYSTEM = f"{BASE}:disposition"
IMAGE_SHA256_SYSTEM = f"{BASE}:image-sha256"
URI_SYSTEM = "urn:ietf:rfc:3986"  # an identifier whose value is itself a URI (our urn:uuid ids)

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HL7_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"

TIER_DISPLAY: Mapping[str, str] = MappingProxyType({
    "emergency": "Emergency: now",
    "urgent": "Urgent: within 48 hours",
    "soon": "Soon: within 2 weeks",
    "routine": "Routine: within weeks",
    "self_care": "Self-care",
})
assert set(TIER_DISPLAY) == set(TIERS)

#: FHIR's request priority for each tier (ServiceRequest.priority).
TIER_PRIORITY: Mapping[str, str] = MappingProxyType({
    "emergency": "stat", "urgent": "urgent", "soon": "asap", "routine": "routine", "self_care": "routine",
})

#: ICD-10 codes of each condition key (two for `stevens_johnson_syndrome_ten`, none for `other`).
ICD10: Mapping[str, tuple[str, ...]] = MappingProxyType({
    info.key: tuple(code.strip() for code in info.icd10.split("/") if code.strip() not in ("", "-"))
    for info in CONDITIONS
})
CONDITION_LABEL: Mapping[str, str] = MappingProxyType({info.key: info.label for info in CONDITIONS})

# Deterministic ids: the same case always gives the same resource ids, so a pushed version updates the
# resources of the version before it instead of adding new ones. Derived with SHA-1 (uuid5) from the case's
# random reference: an id says nothing about the case number or the patient.
_NAMESPACE = uuid.UUID("5b0d1c9e-4f0a-4e59-9a0e-6a3c0f5f7d21")


def resource_uuid(*parts: str) -> str:
    """A stable `urn:uuid:` for the resource named by `parts` (e.g. the case reference, "Media", "2")."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(parts))}"
