"""The case the rules assess, and the checks that turn the contract's JSON into one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from triage.rules.vocabulary import BODY_SITES, EXTENTS, IMAGE_QUALITIES, SYMPTOMS, canonical_key

_MAX_AGE_YEARS = 150
SKIN_TYPES = ("I", "II", "III", "IV", "V", "VI")
"""Fitzpatrick skin types, as parse_case records them."""


class CaseError(ValueError):
    """A case that does not follow the contract. ``field`` names the offending field, e.g. ``answers.symptoms``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Case:
    """One patient's case. Every field may be unknown: ``None`` (or empty) means the case did not say.

    ``symptoms`` and ``body_sites`` hold the questionnaire's keys; ``text`` is the patient's own words;
    ``differential`` is the model's (condition, likelihood) list as sent, in the model's order;
    ``model_present`` records whether the case had a model block at all (the rules read the differential:
    a model block without conditions is no model output). ``skipped`` holds the keys of the questions the
    patient skipped (a symptom absent from ``symptoms`` means "no" only when its question is not there);
    ``lesion_discharge_validated`` says the running model may let a benign lesion end in self_care;
    ``skin_type`` (Fitzpatrick I-VI) is recorded for monitoring and never read by a rule.
    """

    age_years: float | None = None
    sex: str | None = None
    pregnant: bool | None = None
    immunosuppressed: bool | None = None
    diabetes: bool | None = None
    duration_days: float | None = None
    body_sites: frozenset[str] = frozenset()
    extent: str | None = None
    symptoms: frozenset[str] = frozenset()
    text: str = ""
    differential: tuple[tuple[str, float], ...] = ()
    image_quality: str | None = None
    model_present: bool = False
    skipped: frozenset[str] = frozenset()
    lesion_discharge_validated: bool = False
    skin_type: str | None = None

    @property
    def has_model_output(self) -> bool:
        """Return True when the model proposed at least one condition."""
        return bool(self.differential)


def parse_case(data: object) -> Case:
    """Return the Case described by the contract's JSON ``data`` (already decoded).

    Unknown fields are ignored; unknown symptom and body-site keys are dropped; an unknown extent or image
    quality counts as not given; condition keys are kept (an unknown one counts as ``other`` when assessed).
    ``null`` counts as not given. Raises CaseError naming the first field with the wrong type or value.
    """
    root = _object(data, "case")
    patient = _object(root.get("patient"), "patient")
    answers = _object(root.get("answers"), "answers")
    model_value = root.get("model")
    model = _object(model_value, "model")
    return Case(
        age_years=_number(patient.get("age_years"), "patient.age_years", 0, _MAX_AGE_YEARS),
        sex=_string(patient.get("sex"), "patient.sex"),
        pregnant=_boolean(patient.get("pregnant"), "patient.pregnant"),
        immunosuppressed=_boolean(patient.get("immunosuppressed"), "patient.immunosuppressed"),
        diabetes=_boolean(patient.get("diabetes"), "patient.diabetes"),
        duration_days=_number(answers.get("duration_days"), "answers.duration_days", 0, math.inf),
        body_sites=_keys(answers.get("body_sites"), "answers.body_sites", BODY_SITES),
        extent=_choice(answers.get("extent"), "answers.extent", EXTENTS),
        symptoms=_keys(answers.get("symptoms"), "answers.symptoms", SYMPTOMS),
        text=_string(root.get("text"), "text") or "",
        differential=_differential(model.get("differential"), "model.differential"),
        image_quality=_choice(model.get("image_quality"), "model.image_quality", IMAGE_QUALITIES),
        model_present=model_value is not None,
        skipped=_keys(answers.get("skipped"), "answers.skipped", None),
        lesion_discharge_validated=_boolean(model.get("lesion_discharge_validated"), "model.lesion_discharge_validated")
        is True,
        skin_type=_skin_type(patient.get("skin_type"), "patient.skin_type"),
    )


def _kind(value: object) -> str:
    """Return the JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _object(value: object, field: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CaseError(field, f"expected an object, got {_kind(value)}")
    return value


def _string(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CaseError(field, f"expected a string, got {_kind(value)}")
    return value


def _boolean(value: object, field: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise CaseError(field, f"expected true or false, got {_kind(value)}")
    return value


def _number(value: object, field: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    bounds = f"a number from {low:g} to {high:g}" if high != math.inf else f"a number of at least {low:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CaseError(field, f"expected {bounds}, got {_kind(value)}")
    if not low <= value <= high or (isinstance(value, float) and not math.isfinite(value)):
        raise CaseError(field, f"expected {bounds}, got {_shown(value)}")
    return float(value)


def _shown(number: float) -> str:
    if isinstance(number, int) and abs(number) >= 10**15:
        return "a very large number"
    return repr(number)


def _choice(value: object, field: str, vocabulary: tuple[str, ...]) -> str | None:
    text = _string(value, field)
    if text is None:
        return None
    key = canonical_key(text)
    return key if key in vocabulary else None


def _keys(value: object, field: str, vocabulary: tuple[str, ...] | None) -> frozenset[str]:
    """Return the canonical keys in the list ``value``: those of ``vocabulary`` only, or all when it is None."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        got = _kind(value) if not isinstance(value, list) else "a list with a non-string item"
        raise CaseError(field, f"expected a list of strings, got {got}")
    return frozenset(key for key in map(canonical_key, value) if vocabulary is None or key in vocabulary)


def _skin_type(value: object, field: str) -> str | None:
    """Return the Fitzpatrick type as a Roman numeral: from "I".."VI" (any case, "type IV" too) or 1..6.

    A string outside the scale counts as not given (like an unknown extent); a number outside 1..6 or another
    type is an error.
    """
    if value is None:
        return None
    if isinstance(value, str):
        key = value.strip().upper().removeprefix("TYPE").strip()
        return key if key in SKIN_TYPES else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CaseError(field, f"expected a Fitzpatrick type (I to VI, or 1 to 6), got {_kind(value)}")
    if value not in range(1, 7):
        raise CaseError(field, f"expected a Fitzpatrick type (I to VI, or 1 to 6), got {_shown(value)}")
    return SKIN_TYPES[int(value) - 1]


def _differential(value: object, field: str) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CaseError(field, f"expected a list of {{condition, likelihood}} objects, got {_kind(value)}")
    entries = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise CaseError(where, f"expected a {{condition, likelihood}} object, got {_kind(item)}")
        condition = _string(item.get("condition"), f"{where}.condition")
        if condition is None:
            raise CaseError(f"{where}.condition", "missing (expected a condition key)")
        likelihood = _number(item.get("likelihood"), f"{where}.likelihood", 0, 1)
        if likelihood is None:
            raise CaseError(f"{where}.likelihood", "missing (expected a number from 0 to 1)")
        entries.append((condition, likelihood))
    return tuple(entries)
