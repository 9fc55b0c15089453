"""One function per FHIR R4 resource of a case's bundle: plain JSON in, plain JSON out, no I/O.

Each returns the resource without `identifier` and without the entry around it (`triage/fhir/bundle.py` adds
both). References are the `urn:uuid:` full URLs of other entries of the same bundle (`Refs`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from triage.case_snapshot import CaseSnapshot, Decision, ModelOutput, Photo
from triage.fhir import codes
from triage.fhir.text import fhir_string
from triage.rules.vocabulary import canonical_condition

MAX_FINDINGS = 20
MAX_DIFFERENTIAL = 10
_RISK = {"emergency": "high", "urgent": "high", "soon": "moderate", "routine": "low", "self_care": "negligible"}


@dataclass(frozen=True)
class Refs:
    """The full URLs of the bundle's shared entries."""

    patient: str
    organisation: str
    practitioner: str | None
    rules: str | None
    model: str | None


def when(value: dt.datetime) -> str:
    """A FHIR dateTime/instant: UTC, to the second."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def ref(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_coding(system, code, display)]}
    if text:
        concept["text"] = text
    return concept


def patient(snap: CaseSnapshot, refs: Refs) -> dict[str, Any]:
    """The patient, pseudonymous: the pseudonym, the language, the sex when given; no name, no Telegram id."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "communication": [{"language": _concept(codes.LANGUAGE_SYSTEM, snap.language), "preferred": True}],
        "managingOrganization": ref(refs.organisation),
    }
    sex = snap.patient.get("sex")
    if sex in ("female", "male", "other", "unknown"):
        resource["gender"] = sex
    return resource


def organisation(snap: CaseSnapshot) -> dict[str, Any]:
    return {"resourceType": "Organization", "active": True, "name": fhir_string(snap.organisation) or "organisation"}


def practitioner(snap: CaseSnapshot) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "active": True,
            "name": [{"text": fhir_string(snap.clinician_name, limit=200) or "clinician"}]}


def rules_device(decision: Decision) -> dict[str, Any]:
    """The rule set that made the triage decision, as software."""
    return {
        "resourceType": "Device",
        "deviceName": [{"name": "Dermatology triage rules", "type": "user-friendly-name"}],
        "type": {"text": "Deterministic clinical triage rules (CLINICAL.md)"},
        "version": [{"value": fhir_string(decision.ruleset_version, limit=64) or "unknown"}],
    }


def model_device(model: ModelOutput) -> dict[str, Any]:
    """The model that looked at the photos: its id, backend and weights revision."""
    device: dict[str, Any] = {
        "resourceType": "Device",
        "deviceName": [{"name": fhir_string(model.model_id, limit=256) or "unknown model", "type": "model-name"}],
        "type": {"text": f"Image analysis model, {fhir_string(model.backend, limit=32) or 'unknown'} backend"},
    }
    revision = fhir_string(model.model_revision, limit=128)
    if revision:
        device["version"] = [{"type": {"text": "weights revision"}, "value": revision}]
    return device


def media(photo: Photo, n: int, snap: CaseSnapshot, refs: Refs, *, with_data: bool) -> dict[str, Any]:
    """One photo. With `with_data` and the bytes at hand, inline (base64, with FHIR's SHA-1 hash); otherwise
    its size and type only (the `identifier` in the bundle carries its SHA-256)."""
    content: dict[str, Any] = {"contentType": photo.content_type, "title": f"Photo {n}",
                               "creation": when(photo.created_at)}
    if with_data and photo.data is not None:
        content["data"] = base64.b64encode(photo.data).decode()
        content["size"] = len(photo.data)
        content["hash"] = base64.b64encode(hashlib.sha1(photo.data).digest()).decode()  # noqa: S324 (FHIR's)
    else:
        content["size"] = photo.size_bytes
    return {
        "resourceType": "Media",
        "status": "completed",
        "type": _concept(f"{codes.HL7_TERMINOLOGY}/media-type", "image", "Image"),
        "subject": ref(refs.patient),
        "createdDateTime": when(photo.created_at),
        "width": photo.width,
        "height": photo.height,
        "content": content,
    }


def _component(name: str, value: Any) -> dict[str, Any] | None:
    component: dict[str, Any] = {"code": _concept(codes.OBSERVATION_SYSTEM, f"photo-quality.{name}", text=name)}
    if isinstance(value, bool):
        component["valueBoolean"] = value
    elif isinstance(value, int | float) and math.isfinite(value):
        component["valueQuantity"] = {"value": value}
    elif isinstance(value, str) and fhir_string(value, limit=200):
        component["valueString"] = fhir_string(value, limit=200)
    else:
        return None
    return component


def photo_quality(photo: Photo, media_url: str, refs: Refs) -> dict[str, Any]:
    """The quality gate's verdict on one photo, with its measures (brightness, sharpness, detail, skin)."""
    verdict = fhir_string(photo.quality.get("verdict"), limit=32) or "unknown"
    components = [c for name, value in sorted(photo.quality.items()) if name != "verdict"
                  for c in [_component(str(name)[:64], value)] if c is not None]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [_concept(f"{codes.HL7_TERMINOLOGY}/observation-category", "imaging")],
        "code": _concept(codes.OBSERVATION_SYSTEM, "photo-quality", "Photo quality", "Photo quality"),
        "subject": ref(refs.patient),
        "effectiveDateTime": when(photo.created_at),
        "focus": [ref(media_url)],
        "derivedFrom": [ref(media_url)],
        "valueCodeableConcept": _concept(f"{codes.OBSERVATION_SYSTEM}:photo-quality", verdict.replace(" ", "_"),
                                         text=verdict),
    }
    if components:
        resource["component"] = components
    return resource


def _model_observation(model: ModelOutput, refs: Refs, code: str, display: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary",  # a model's output: a clinician has not confirmed it
        "category": [_concept(f"{codes.HL7_TERMINOLOGY}/observation-category", "imaging")],
        "code": _concept(codes.OBSERVATION_SYSTEM, code, display, display),
        "subject": ref(refs.patient),
        "effectiveDateTime": when(model.at),
    }
    if refs.model:
        resource["device"] = ref(refs.model)
    return resource


def model_image_quality(model: ModelOutput, refs: Refs) -> dict[str, Any] | None:
    """The model's own view of the photos' quality (good, poor, not skin)."""
    words = [w for w in (fhir_string(q, limit=64) for q in model.image_quality) if w]
    if not words:
        return None
    return {**_model_observation(model, refs, "model-image-quality", "Photo quality seen by the model"),
            "valueString": ", ".join(words)}


def finding(model: ModelOutput, refs: Refs, text: str) -> dict[str, Any]:
    """One thing the model saw ("grouped vesicles")."""
    return {**_model_observation(model, refs, "model-finding", "Finding seen by the model"), "valueString": text}


def condition_concept(key: str) -> dict[str, Any]:
    """A condition key as ICD-10 codings (CLINICAL.md's table) and our own coding."""
    key = canonical_condition(key)
    label = codes.CONDITION_LABEL.get(key, key)
    codings = [_coding(codes.ICD10_SYSTEM, code) for code in codes.ICD10.get(key, ())]
    codings.append(_coding(codes.CONDITION_SYSTEM, key, label))
    return {"coding": codings, "text": label}


def differential(model: ModelOutput, refs: Refs) -> dict[str, Any] | None:
    """The model's differential: one component per condition with its likelihood (0 to 1)."""
    components = []
    for entry in model.differential[:MAX_DIFFERENTIAL]:
        if not isinstance(entry, dict):
            continue
        likelihood = entry.get("likelihood")
        if not isinstance(likelihood, int | float) or isinstance(likelihood, bool) or not 0 <= likelihood <= 1:
            continue
        components.append({"code": condition_concept(str(entry.get("condition", ""))),
                           "valueQuantity": {"value": round(float(likelihood), 4), "system": codes.UCUM,
                                             "code": "1", "unit": "probability"}})
    if not components:
        return None
    return {**_model_observation(model, refs, "model-differential", "Differential proposed by the model"),
            "component": components}


def _reason_note(reason: dict[str, Any]) -> dict[str, str] | None:
    text = fhir_string(f"{reason.get('code', '')}: {reason.get('text', '')}".strip(": "), limit=2000)
    evidence = fhir_string(reason.get("evidence"), limit=2000)
    if text and evidence:
        text = f"{text} (patient's words: “{evidence}”)"
    return {"text": text} if text else None


def _prediction(tier: str, rationale: str | None) -> dict[str, Any]:
    prediction: dict[str, Any] = {
        "outcome": _concept(codes.TIER_SYSTEM, tier, codes.TIER_DISPLAY.get(tier), codes.TIER_DISPLAY.get(tier)),
        "qualitativeRisk": _concept(f"{codes.HL7_TERMINOLOGY}/risk-probability", _RISK.get(tier, "moderate")),
    }
    if rationale:
        prediction["rationale"] = rationale
    return prediction


def risk_assessment(decision: Decision, refs: Refs, basis: list[str]) -> dict[str, Any]:
    """The rules' tier with every reason that fired, the rule set that decided, and what it decided on."""
    reasons = [r for r in decision.reasons if isinstance(r, dict)]
    rationale = fhir_string("; ".join(str(r.get("text", "")) for r in reasons if r.get("text")), limit=4000)
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": ref(refs.patient),
        "occurrenceDateTime": when(decision.at),
        "method": {"coding": [_coding(codes.RULESET_SYSTEM, quote(decision.ruleset_version, safe=".-_"))],
                   "text": f"Triage rules {fhir_string(decision.ruleset_version, limit=64) or ''}".strip()},
        "prediction": [_prediction(decision.tier, rationale)],
    }
    if refs.rules:
        resource["performer"] = ref(refs.rules)
    if basis:
        resource["basis"] = [ref(url) for url in basis]
    if decision.forwarded:
        resource["mitigation"] = "Forwarded to a clinician"
    notes = [n for n in (_reason_note(r) for r in reasons) if n]
    if notes:
        resource["note"] = notes
    return resource


def clinician_risk(snap: CaseSnapshot, refs: Refs, rules_assessment: str | None) -> dict[str, Any]:
    """The tier the clinician set, with their reason, when it differs from the rules'."""
    assert snap.tier is not None
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "status": "amended",
        "subject": ref(refs.patient),
        "occurrenceDateTime": when(snap.closed_at or snap.exported_at),
        "method": {"text": "Clinician review"},
        "prediction": [_prediction(snap.tier, fhir_string(snap.tier_override_reason, limit=4000))],
    }
    if refs.practitioner:
        resource["performer"] = ref(refs.practitioner)
    if rules_assessment:
        resource["parent"] = ref(rules_assessment)
    return resource


def diagnostic_report(snap: CaseSnapshot, refs: Refs, results: list[str], photos: list[str]) -> dict[str, Any]:
    """The triage as one report: its observations, its photos, and the tier with the reasons as conclusion."""
    status = "final" if snap.closed else ("preliminary" if snap.decision else "registered")
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": status,
        "code": _concept(codes.OBSERVATION_SYSTEM, "teledermatology-triage", "Teledermatology triage",
                         "Teledermatology triage"),
        "subject": ref(refs.patient),
        "effectiveDateTime": when(snap.submitted_at),
        "issued": when(snap.decision.at if snap.decision else snap.submitted_at),
        "performer": [ref(refs.organisation)],
    }
    if refs.practitioner:
        resource["resultsInterpreter"] = [ref(refs.practitioner)]
    if results:
        resource["result"] = [ref(url) for url in results]
    if photos:
        resource["media"] = [{"comment": f"Photo {i}", "link": ref(url)} for i, url in enumerate(photos, 1)]
    if snap.tier:
        reasons = [str(r.get("text", "")) for r in (snap.decision.reasons if snap.decision else [])
                   if isinstance(r, dict)]
        conclusion = fhir_string(f"{codes.TIER_DISPLAY.get(snap.tier, snap.tier)}. " + "; ".join(reasons),
                                 limit=4000)
        if conclusion:
            resource["conclusion"] = conclusion
    if snap.final_diagnosis:
        resource["conclusionCode"] = [condition_concept(snap.final_diagnosis)]
    return resource


def condition(snap: CaseSnapshot, refs: Refs, evidence: list[str]) -> dict[str, Any]:
    """The clinician's final diagnosis, coded in ICD-10."""
    assert snap.final_diagnosis is not None
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": _concept(f"{codes.HL7_TERMINOLOGY}/condition-clinical", "active"),
        "verificationStatus": _concept(f"{codes.HL7_TERMINOLOGY}/condition-ver-status", "confirmed"),
        "category": [_concept(f"{codes.HL7_TERMINOLOGY}/condition-category", "encounter-diagnosis")],
        "code": condition_concept(snap.final_diagnosis),
        "subject": ref(refs.patient),
        "recordedDate": when(snap.closed_at or snap.exported_at),
    }
    if refs.practitioner:
        resource["recorder"] = ref(refs.practitioner)
        resource["asserter"] = ref(refs.practitioner)
    if evidence:
        resource["evidence"] = [{"detail": [ref(url) for url in evidence]}]
    return resource


def service_request(snap: CaseSnapshot, refs: Refs, reason: str | None, support: list[str]) -> dict[str, Any]:
    """The referral, when the clinician's disposition is `referred`: priority from the tier."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [_concept(codes.SNOMED, "3457005", "Patient referral")],
        "code": {"text": "Referral to dermatology"},
        "priority": codes.TIER_PRIORITY.get(snap.tier or "", "routine"),
        "subject": ref(refs.patient),
        "authoredOn": when(snap.closed_at or snap.exported_at),
        "requester": ref(refs.practitioner or refs.organisation),
    }
    if reason:
        resource["reasonReference"] = [ref(reason)]
    if support:
        resource["supportingInfo"] = [ref(url) for url in support]
    note = fhir_string(snap.tier_override_reason, limit=4000)
    if note:
        resource["note"] = [{"text": note}]
    return resource


def consent(snap: CaseSnapshot, refs: Refs) -> dict[str, Any]:
    """The patient's consent to the service, with the version of the consent text they accepted."""
    assert snap.consented_at is not None
    version = quote(snap.consent_version or "unknown", safe=".-_")
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": _concept(f"{codes.HL7_TERMINOLOGY}/consentscope", "patient-privacy"),
        "category": [_concept(codes.LOINC, "59284-0", "Patient Consent")],
        "patient": ref(refs.patient),
        "dateTime": when(snap.consented_at),
        "organization": [ref(refs.organisation)],
        "policy": [{"uri": f"{codes.BASE}:consent:{version}"}],
        "provision": {"type": "permit"},
    }


def _agent(role: str, who: str) -> dict[str, Any]:
    return {"type": _concept(f"{codes.HL7_TERMINOLOGY}/provenance-participant-type", role), "who": ref(who)}


def provenance(snap: CaseSnapshot, refs: Refs, targets: list[str], sources: list[str]) -> dict[str, Any]:
    """What produced the decision: the model (performer), the rule set (author), the clinician (verifier), for
    the organisation (custodian). `recorded` is the case's last change, so the same version gives the same
    bundle."""
    agents = []
    if refs.model:
        agents.append(_agent("performer", refs.model))
    if refs.rules:
        agents.append(_agent("author", refs.rules))
    if refs.practitioner:
        agents.append(_agent("verifier", refs.practitioner))
    agents.append(_agent("custodian", refs.organisation))
    last = max([t for t in (snap.submitted_at, snap.closed_at, snap.decision.at if snap.decision else None) if t])
    resource: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [ref(url) for url in targets],
        "recorded": when(last),
        "activity": _concept("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE"),
        "agent": agents,
    }
    if sources:
        resource["entity"] = [{"role": "source", "what": ref(url)} for url in sources]
    return resource
