"""A case as a FHIR R4 transaction `Bundle`: a pure function of its snapshot (`triage.case_snapshot`).

Every entry has a stable `urn:uuid:` full URL derived from the case's random reference (`codes.resource_uuid`),
carried again as the resource's identifier, and a conditional `PUT` on that identifier: pushing a later version of
the case to a server updates the resources of the earlier one instead of adding new ones, and pushing the same
version twice changes nothing. `Provenance` (which has no identifier) is a `POST`: one per version pushed.
`build_bundle` validates what it builds (`triage.fhir.validate`) and raises `InvalidBundle` rather than return a
bundle that is not valid FHIR.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from triage.case_snapshot import CaseSnapshot
from triage.fhir import codes
from triage.fhir import resources as r
from triage.fhir.questionnaire import QUESTIONNAIRE_URL, QUESTIONNAIRE_VERSION, questionnaire, questionnaire_response
from triage.fhir.text import fhir_string
from triage.fhir.validate import validate_bundle

CONTENT_TYPE = "application/fhir+json"
_SINGLE_IDENTIFIER = {"QuestionnaireResponse"}  # R4 gives it one identifier, not a list


@dataclass
class _Entries:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, full_url: str, resource: dict[str, Any], *extra: dict[str, str]) -> str:
        kind = resource["resourceType"]
        if kind == "Provenance":
            request = {"method": "POST", "url": "Provenance"}
        else:
            own = {"system": codes.URI_SYSTEM, "value": full_url}
            resource["identifier"] = own if kind in _SINGLE_IDENTIFIER else [own, *extra]
            request = {"method": "PUT", "url": f"{kind}?identifier={codes.URI_SYSTEM}|{full_url}"}
        self.items.append({"fullUrl": full_url, "resource": resource, "request": request})
        return full_url


def build_bundle(snap: CaseSnapshot, *, photos: bool = True) -> dict[str, Any]:
    """The case's transaction bundle (JSON). `photos`: each photo's bytes inline in its `Media` (those loaded in
    the snapshot); otherwise the `Media` carry size, type and SHA-256 only. Raises `InvalidBundle`."""
    bundle = _assemble(snap, photos=photos)
    validate_bundle(bundle)
    return bundle


def bundle_version(snap: CaseSnapshot) -> str:
    """A digest that changes whenever the case's bundle would (photos by their hash; the export time left out)."""
    bundle = _assemble(snap, photos=False)
    bundle.pop("timestamp", None)
    return hashlib.sha256(json.dumps(bundle, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _assemble(snap: CaseSnapshot, *, photos: bool) -> dict[str, Any]:
    case = snap.case_ref
    entries = _Entries()
    org_url = codes.resource_uuid("organisation", snap.organisation)
    refs = r.Refs(
        patient=codes.resource_uuid("patient", snap.pseudonym),
        organisation=org_url,
        practitioner=codes.resource_uuid("clinician", str(snap.clinician_id)) if snap.clinician_id else None,
        rules=codes.resource_uuid("ruleset", snap.decision.ruleset_version) if snap.decision else None,
        model=codes.resource_uuid("model", snap.model.backend, snap.model.model_id, snap.model.model_revision)
        if snap.model else None,
    )
    entries.add(refs.organisation, r.organisation(snap),
                {"system": codes.ORGANISATION_SYSTEM, "value": fhir_string(snap.organisation) or "default"})
    entries.add(refs.patient, r.patient(snap, refs), {"system": codes.PATIENT_SYSTEM, "value": snap.pseudonym})
    if refs.practitioner:
        entries.add(refs.practitioner, r.practitioner(snap),
                    {"system": codes.CLINICIAN_SYSTEM, "value": str(snap.clinician_id)})
    if refs.rules and snap.decision:
        entries.add(refs.rules, r.rules_device(snap.decision))
    if refs.model and snap.model:
        entries.add(refs.model, r.model_device(snap.model))

    entries.add(codes.resource_uuid("questionnaire", QUESTIONNAIRE_URL, QUESTIONNAIRE_VERSION), questionnaire())
    answers = questionnaire_response(snap.patient, snap.answers, snap.patient_text)
    answers.update(subject=r.ref(refs.patient), source=r.ref(refs.patient), authored=r.when(snap.submitted_at))
    qr = entries.add(codes.resource_uuid(case, "QuestionnaireResponse"), answers)

    media_urls, results = [], []
    for n, photo in enumerate(snap.photos, 1):
        url = entries.add(codes.resource_uuid(case, "Media", str(photo.image_id)),
                          r.media(photo, n, snap, refs, with_data=photos),
                          {"system": codes.IMAGE_SHA256_SYSTEM, "value": photo.sha256})
        media_urls.append(url)
        if photo.quality:
            results.append(entries.add(codes.resource_uuid(case, "Observation", "photo-quality", str(photo.image_id)),
                                       r.photo_quality(photo, url, refs)))
    if snap.model:
        seen = r.model_image_quality(snap.model, refs)
        if seen:
            results.append(entries.add(codes.resource_uuid(case, "Observation", "model-image-quality"), seen))
        texts = [t for t in (fhir_string(f, limit=1000) for f in snap.model.findings) if t][: r.MAX_FINDINGS]
        for i, text in enumerate(texts):
            results.append(entries.add(codes.resource_uuid(case, "Observation", "finding", str(i)),
                                       r.finding(snap.model, refs, text)))
        differential = r.differential(snap.model, refs)
        if differential:
            results.append(entries.add(codes.resource_uuid(case, "Observation", "differential"), differential))

    report = entries.add(codes.resource_uuid(case, "DiagnosticReport"),
                         r.diagnostic_report(snap, refs, results, media_urls))
    produced = [report, *results]
    risk = None
    if snap.decision:
        risk = entries.add(codes.resource_uuid(case, "RiskAssessment", "rules"),
                           r.risk_assessment(snap.decision, refs, [report, qr]))
        produced.append(risk)
        if snap.tier and snap.tier != snap.decision.tier:
            produced.append(entries.add(codes.resource_uuid(case, "RiskAssessment", "clinician"),
                                        r.clinician_risk(snap, refs, risk)))
    diagnosis = None
    if snap.final_diagnosis:
        diagnosis = entries.add(codes.resource_uuid(case, "Condition"),
                                r.condition(snap, refs, [u for u in (report, risk) if u]))
        produced.append(diagnosis)
    if snap.disposition == "referred":
        produced.append(entries.add(codes.resource_uuid(case, "ServiceRequest"),
                                    r.service_request(snap, refs, diagnosis, [u for u in (report, risk, qr) if u])))
    if snap.consented_at:
        entries.add(codes.resource_uuid(case, "Consent"), r.consent(snap, refs))
    entries.add(codes.resource_uuid(case, "Provenance"), r.provenance(snap, refs, produced, [qr, *media_urls]))
    return {"resourceType": "Bundle", "type": "transaction", "timestamp": r.when(snap.exported_at),
            "entry": entries.items}
