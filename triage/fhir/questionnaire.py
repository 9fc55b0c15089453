"""The intake questionnaire as a FHIR `Questionnaire`, and a case's answers as its `QuestionnaireResponse`.

The items mirror the bot's questionnaire (`bot/questionnaire.py` STEPS; `triage` may not import `bot`): one item
per step, keyed by the step's key, whose options are the triage contract's values (symptom, body-site and extent
keys). `tests/fhir/test_questionnaire.py` fails when the two drift apart.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from triage.fhir.codes import ANSWER_SYSTEM, BASE
from triage.fhir.text import fhir_string
from triage.letters.texts import answer_label
from triage.rules.case import SKIN_TYPES
from triage.rules.vocabulary import BODY_SITES, EXTENTS


@dataclass(frozen=True)
class Question:
    link_id: str  # the bot's step key; `free_text` is the patient's own words
    text: str
    type: str  # FHIR item type: choice, decimal, integer, boolean, text
    repeats: bool = False
    options: tuple[str, ...] = ()  # contract values, for choice items


EMERGENCY = ("difficulty_breathing", "swelling_face_lips_tongue", "non_blanching_rash", "fever", "feeling_very_unwell")
SYMPTOMS = ("itch", "pain", "severe_pain", "bleeding", "oozing", "inflammation", "blisters", "skin_peeling",
            "mucosal_involvement", "rapidly_spreading", "new_medication", "non_healing")
MOLE = ("changing_size", "changing_shape", "changing_colour", "diameter_7mm_or_more", "change_in_sensation")

QUESTIONS: tuple[Question, ...] = (
    Question("age", "Age (years)", "decimal"),
    Question("body_sites", "Where on the body", "choice", True, BODY_SITES),
    Question("duration", "How long it has been there (days)", "integer"),
    Question("extent", "How much skin is affected", "choice", False, EXTENTS),
    Question("emergency", "Warning signs", "choice", True, EMERGENCY),
    Question("symptoms", "Symptoms", "choice", True, SYMPTOMS),
    Question("mole", "Changes in a spot or mole", "choice", True, MOLE),
    Question("pregnant", "Pregnant", "boolean"),
    Question("immunosuppressed", "Weakened immune system (illness or medicines)", "boolean"),
    Question("diabetes", "Diabetes", "boolean"),
    Question("skin_type", "Skin type (Fitzpatrick, from how the skin reacts to sun; never used for the tier)",
             "choice", False, SKIN_TYPES),
    # "Not sure" on the symptom and mole questions (`answers.skipped`): unknown, which is not "no".
    Question("unsure", "Answered 'not sure' (unknown, not no)", "choice", True, SYMPTOMS + MOLE),
    Question("free_text", "In the patient's own words", "text"),
)
#: Items that are not a step of the bot's questionnaire.
NOT_STEPS = frozenset({"unsure", "free_text"})
QUESTIONNAIRE_URL = f"{BASE}:questionnaire:intake"
#: Changes whenever an item does, so a response always names the questionnaire it answered.
QUESTIONNAIRE_VERSION = hashlib.sha256(
    json.dumps([q.__dict__ for q in QUESTIONS], sort_keys=True).encode()).hexdigest()[:12]


def _coding(value: str) -> dict[str, str]:
    display = f"Fitzpatrick type {value}" if value in SKIN_TYPES else answer_label("en", value)
    return {"system": ANSWER_SYSTEM, "code": value, "display": display}


def questionnaire() -> dict[str, Any]:
    """The `Questionnaire` resource (JSON) of the intake questions."""
    items = []
    for q in QUESTIONS:
        item: dict[str, Any] = {"linkId": q.link_id, "text": q.text, "type": q.type}
        if q.repeats:
            item["repeats"] = True
        if q.options:
            item["answerOption"] = [{"valueCoding": _coding(value)} for value in q.options]
        items.append(item)
    return {
        "resourceType": "Questionnaire",
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "DermatologyTriageIntake",
        "title": "Dermatology triage intake",
        "status": "active",
        "subjectType": ["Patient"],
        "item": items,
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _answers(q: Question, patient: dict[str, Any], given: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """What the patient answered to `q`, as FHIR answers; values outside the vocabulary are left out."""
    if q.link_id == "age":
        age = _number(patient.get("age_years"))
        return [{"valueDecimal": round(age, 2)}] if age is not None and 0 <= age <= 130 else []
    if q.link_id == "duration":
        days = _number(given.get("duration_days"))
        return [{"valueInteger": int(days)}] if days is not None and 0 <= days < 2**31 else []
    if q.type == "boolean":
        value = patient.get(q.link_id)
        return [{"valueBoolean": value}] if isinstance(value, bool) else []
    if q.link_id == "free_text":
        words = fhir_string(text)
        return [{"valueString": words}] if words else []
    if q.link_id == "extent":
        chosen = [given.get("extent")]
    elif q.link_id == "skin_type":
        chosen = [patient.get("skin_type")]
    elif q.link_id == "unsure":
        chosen = list(given.get("skipped") or [])
    elif q.link_id == "body_sites":
        chosen = list(given.get("body_sites") or [])
    else:
        chosen = list(given.get("symptoms") or [])
    return [{"valueCoding": _coding(value)} for value in q.options if value in chosen]


def questionnaire_response(patient: dict[str, Any], given: dict[str, Any], text: str) -> dict[str, Any]:
    """The `QuestionnaireResponse` (JSON, without subject and dates) of one case's answers and words."""
    items = []
    for q in QUESTIONS:
        answers = _answers(q, patient, given, text)
        if answers:
            items.append({"linkId": q.link_id, "text": q.text, "answer": answers})
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
        "status": "completed",
    }
    if items:
        response["item"] = items
    return response
