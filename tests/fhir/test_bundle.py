"""The bundle of a case: every resource valid (fhir.resources and HL7's R4 JSON schema), every reference
resolved inside the bundle, the patient pseudonymous, and the content a receiving system needs."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from typing import Any

import pytest

from tests.fhir.schema import schema_errors
from tests.fhir.snapshots import EMOJI, HOSTILE, RTL, photos, snapshot
from triage.case_snapshot import CaseSnapshot
from triage.fhir.bundle import build_bundle, bundle_version
from triage.fhir.validate import InvalidBundle, references, validate_bundle, validate_resource

VARIANTS: dict[str, dict[str, Any]] = {
    "closed and referred": {},
    "triaged, not yet claimed": {"status": "forwarded", "closed_at": None, "clinician_id": None,
                                 "clinician_name": None, "final_diagnosis": None, "disposition": None,
                                 "tier_override_reason": None, "latest_reply": None, "tier": "soon"},
    "no model, no photo, no consent, nothing answered": {
        "model": None, "photos": (), "consented_at": None, "consent_version": None, "patient": {}, "answers": {},
        "patient_text": "", "disposition": "advice_given", "final_diagnosis": "other"},
    "not triaged yet": {"decision": None, "tier": None, "triage_tier": None, "status": "queued", "closed_at": None,
                        "clinician_id": None, "clinician_name": None, "final_diagnosis": None, "disposition": None},
    "photos by hash only": {"photos": photos(data=False)},
    "hostile words everywhere": {
        "patient_text": "\x07bell\u00a0nbsp\u2028line\u2029para\u200b" + HOSTILE + RTL + EMOJI + "\r\n" * 3,
        "clinician_name": HOSTILE, "organisation": "north", "tier_override_reason": "\u2003" + HOSTILE,
        "consent_version": "2026 11 <x>"},
}


def _walk(bundle: dict[str, Any]) -> None:
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls)) and all(u.startswith("urn:uuid:") for u in urls)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert validate_resource(resource) == [], resource["resourceType"]
        for ref in references(resource):
            assert ref in urls, f"{resource['resourceType']} refers to {ref}, not in the bundle"
        assert entry["request"]["method"] in ("PUT", "POST")
    assert schema_errors(bundle) == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_resource_validates_and_every_reference_resolves(variant: str) -> None:
    bundle = build_bundle(snapshot(**VARIANTS[variant]))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    _walk(bundle)


def _by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_a_referred_case_has_every_part_of_the_record() -> None:
    kinds = _by_type(build_bundle(snapshot()))
    assert {k: len(v) for k, v in kinds.items()} == {
        "Organization": 1, "Patient": 1, "Practitioner": 1, "Device": 2, "Questionnaire": 1,
        "QuestionnaireResponse": 1, "Media": 3, "Observation": 8, "DiagnosticReport": 1, "RiskAssessment": 2,
        "Condition": 1, "ServiceRequest": 1, "Consent": 1, "Provenance": 1}
    service = kinds["ServiceRequest"][0]
    assert service["priority"] == "urgent" and service["intent"] == "order"
    condition = kinds["Condition"][0]["code"]["coding"]
    assert {"system": "http://hl7.org/fhir/sid/icd-10", "code": "B02.9"} in condition


def test_the_patient_is_a_pseudonym_and_nothing_else_identifies_them() -> None:
    snap = snapshot()
    text = json.dumps(build_bundle(snap))
    patient = _by_type(build_bundle(snap))["Patient"][0]
    assert "name" not in patient and "telecom" not in patient and "address" not in patient
    assert {"system": "urn:dermatriage:patient", "value": snap.pseudonym} in patient["identifier"]
    assert patient["gender"] == "female"
    assert snap.case_ref not in text  # the case's reference acts on the case: it is only ever hashed
    assert '"42"' not in text and "case 42" not in text.lower()


def test_only_a_referred_case_has_a_referral_and_only_a_diagnosed_one_a_condition() -> None:
    kinds = _by_type(build_bundle(snapshot(disposition="advice_given", final_diagnosis=None)))
    assert "ServiceRequest" not in kinds and "Condition" not in kinds


def test_the_tiers_reasons_and_what_decided_are_kept() -> None:
    snap = snapshot()
    kinds = _by_type(build_bundle(snap))
    rules, clinician = kinds["RiskAssessment"]
    assert rules["prediction"][0]["outcome"]["coding"][0]["code"] == "soon"
    assert rules["method"]["coding"][0]["code"] == "2026.11.0"
    assert [n["text"] for n in rules["note"]][1].endswith("(patient's words: “blisters by my eye”)")
    assert clinician["prediction"][0]["outcome"]["coding"][0]["code"] == "urgent"
    assert clinician["prediction"][0]["rationale"] == snap.tier_override_reason
    devices = {d["deviceName"][0]["name"]: d for d in kinds["Device"]}
    model = devices["google/medgemma-4b-it"]
    assert snap.model is not None and model["version"][0]["value"] == snap.model.model_revision
    assert "hf backend" in model["type"]["text"]
    assert devices["Dermatology triage rules"]["version"][0]["value"] == "2026.11.0"
    provenance = kinds["Provenance"][0]
    roles = {a["type"]["coding"][0]["code"] for a in provenance["agent"]}
    assert roles == {"performer", "author", "verifier", "custodian"}
    differential = next(o for o in kinds["Observation"] if o["code"]["coding"][0]["code"] == "model-differential")
    sjs = differential["component"][1]["code"]["coding"]
    assert [c["code"] for c in sjs if c["system"].endswith("icd-10")] == ["L51.1", "L51.2"]
    unknown = differential["component"][2]["code"]["coding"]  # a key the model made up counts as `other`
    assert unknown == [{"system": "urn:dermatriage:condition", "code": "other",
                        "display": "a condition outside the known list"}]


def test_the_answers_follow_the_questionnaire_and_leave_out_unknown_values() -> None:
    response = _by_type(build_bundle(snapshot()))["QuestionnaireResponse"][0]
    items = {i["linkId"]: i["answer"] for i in response["item"]}
    assert items["age"] == [{"valueDecimal": 34.0}]
    assert [a["valueCoding"]["code"] for a in items["body_sites"]] == ["face", "near_eye"]
    assert [a["valueCoding"]["code"] for a in items["emergency"]] == ["fever"]
    assert [a["valueCoding"]["code"] for a in items["mole"]] == ["changing_size"]
    assert "not_a_symptom" not in json.dumps(response)
    assert items["immunosuppressed"] == [{"valueBoolean": True}]
    assert items["free_text"][0]["valueString"].endswith("\u202eevil\u202c")


def test_photos_travel_inline_with_their_hash_or_by_hash_alone() -> None:
    snap = snapshot()
    media = _by_type(build_bundle(snap))["Media"]
    for photo, resource in zip(snap.photos, media, strict=True):
        assert photo.data is not None
        assert base64.b64decode(resource["content"]["data"]) == photo.data
        assert resource["content"]["hash"] == base64.b64encode(hashlib.sha1(photo.data).digest()).decode()  # noqa: S324
        assert {"system": "urn:dermatriage:image-sha256", "value": photo.sha256} in resource["identifier"]
    light = _by_type(build_bundle(snap, photos=False))["Media"]
    assert all("data" not in m["content"] and m["content"]["size"] > 0 for m in light)


def test_the_same_version_gives_the_same_ids_and_digest_and_a_change_gives_a_new_digest() -> None:
    snap = snapshot()
    later = dataclasses.replace(snap, exported_at=snap.exported_at.replace(year=2027))
    first, second = build_bundle(snap), build_bundle(later)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]
    assert bundle_version(snap) == bundle_version(later)
    assert bundle_version(dataclasses.replace(snap, final_diagnosis="cellulitis")) != bundle_version(snap)
    other_case: CaseSnapshot = dataclasses.replace(snap, case_ref="ZZZZ9999")
    assert not {e["fullUrl"] for e in build_bundle(other_case)["entry"]
                if e["resource"]["resourceType"] not in ("Organization", "Patient", "Practitioner", "Device",
                                                         "Questionnaire")} & {e["fullUrl"] for e in first["entry"]}


def test_every_entry_is_a_conditional_update_on_its_own_identifier_but_provenance() -> None:
    for entry in build_bundle(snapshot())["entry"]:
        kind = entry["resource"]["resourceType"]
        if kind == "Provenance":
            assert entry["request"] == {"method": "POST", "url": "Provenance"}
            continue
        identifiers = entry["resource"]["identifier"]
        own = identifiers if isinstance(identifiers, dict) else identifiers[0]
        assert own == {"system": "urn:ietf:rfc:3986", "value": entry["fullUrl"]}
        assert entry["request"]["url"] == f"{kind}?identifier=urn:ietf:rfc:3986|{entry['fullUrl']}"


def test_a_broken_bundle_is_refused_with_where_it_is_broken() -> None:
    bundle = build_bundle(snapshot())
    dangling = json.loads(json.dumps(bundle))
    dangling["entry"][1]["resource"]["managingOrganization"]["reference"] = "urn:uuid:00000000-0000-0000-0000-0"
    with pytest.raises(InvalidBundle, match="is not in the bundle"):
        validate_bundle(dangling)
    extra = json.loads(json.dumps(bundle))
    extra["entry"][0]["resource"]["favouriteColour"] = "blue"
    with pytest.raises(InvalidBundle, match="favouriteColour"):
        validate_bundle(extra)
    no_status = json.loads(json.dumps(bundle))
    no_status["entry"][-1]["resource"]["recorded"] = "yesterday"
    with pytest.raises(InvalidBundle, match="recorded"):
        validate_bundle(no_status)
    twice = json.loads(json.dumps(bundle))
    twice["entry"][1]["fullUrl"] = twice["entry"][0]["fullUrl"]
    with pytest.raises(InvalidBundle, match="share a fullUrl"):
        validate_bundle(twice)


def test_the_schema_catches_what_the_models_let_through() -> None:
    """fhir.resources does not check codes against value sets; HL7's schema does (so the tests use both)."""
    bundle = build_bundle(snapshot())
    bad = json.loads(json.dumps(bundle))
    bad["entry"][1]["resource"]["gender"] = "alien"
    validate_bundle(bad)  # the models accept it
    assert schema_errors(bad) != []
