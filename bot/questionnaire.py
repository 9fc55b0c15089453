"""The questionnaire as data: each step, its buttons, and the triage-contract keys its answers fill in.

Pure: no Telegram, no database. `apply()` folds one answer into the contract's `{"patient": ..., "answers": ...}`
dict; `next_step()` says what to ask next (some steps are skipped, e.g. pregnancy for a young child).
Texts are message keys looked up in the patient's language (`bot/texts.py`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["single", "multi"]


@dataclass(frozen=True)
class Option:
    code: str  # what goes in callback data (short)
    label: str  # message key of the button label
    value: Any  # what the answer means in the triage contract


@dataclass(frozen=True)
class Step:
    key: str
    kind: Kind
    prompt: str  # message key
    options: tuple[Option, ...]
    columns: int = 1
    typed: bool = False  # the patient may also type the answer (age)
    unsure: bool = False  # a multi-select with a "Not sure" button: its unticked keys go to `answers.skipped`


def _opts(prefix: str, values: list[Any], codes: list[str] | None = None) -> tuple[Option, ...]:
    codes = codes or [str(v) for v in values]
    return tuple(Option(code, f"{prefix}.{code}", value) for code, value in zip(codes, values, strict=True))


BODY_SITES = ["scalp", "face", "near_eye", "lips_mouth", "ears", "neck", "chest", "abdomen", "back", "arms", "hands",
              "legs", "feet", "genitals", "buttocks", "nails"]
EMERGENCY_SCREEN = ["difficulty_breathing", "swelling_face_lips_tongue", "non_blanching_rash", "fever",
                    "feeling_very_unwell"]
SYMPTOMS = ["itch", "pain", "severe_pain", "bleeding", "oozing", "inflammation", "blisters", "skin_peeling",
            "mucosal_involvement", "rapidly_spreading", "new_medication", "non_healing"]
MOLE = ["changing_size", "changing_shape", "changing_colour", "diameter_7mm_or_more", "change_in_sensation"]
SKIN_TYPES = ["I", "II", "III", "IV", "V", "VI"]  # Fitzpatrick, asked in plain words (how the skin reacts to sun)

STEPS: tuple[Step, ...] = (
    Step("age", "single", "q.age", _opts("age", [0.15, 5, 35, 70], ["infant", "child", "adult", "older"]),
         columns=2, typed=True),
    Step("body_sites", "multi", "q.body_sites", _opts("site", BODY_SITES), columns=2),
    Step("duration", "single", "q.duration",
         _opts("duration", [0, 3, 14, 45, 120], ["day", "week", "month", "quarter", "longer"])),
    Step("extent", "single", "q.extent", _opts("extent", ["single_spot", "small_area", "large_area", "most_of_body"])),
    Step("emergency", "multi", "q.emergency", _opts("symptom", EMERGENCY_SCREEN)),
    Step("symptoms", "multi", "q.symptoms", _opts("symptom", SYMPTOMS), columns=2, unsure=True),
    Step("mole", "multi", "q.mole", _opts("symptom", MOLE), unsure=True),
    Step("pregnant", "single", "q.pregnant", _opts("answer", [True, False, None], ["yes", "no", "na"]), columns=3),
    Step("immunosuppressed", "single", "q.immunosuppressed",
         _opts("answer", [True, False, None], ["yes", "no", "unknown"]), columns=3),
    Step("diabetes", "single", "q.diabetes", _opts("answer", [True, False, None], ["yes", "no", "unknown"]),
         columns=3),
    # Never used for the tier (CLINICAL.md "Skin type"): for seeing how well the service serves every skin type.
    Step("skin_type", "single", "q.skin_type", _opts("skin", SKIN_TYPES)),
)
BY_KEY = {step.key: step for step in STEPS}
AGE_KEYS = frozenset(o.label for o in BY_KEY["age"].options)
FIRST = STEPS[0].key


def empty_answers() -> dict[str, Any]:
    return {"patient": {}, "answers": {"symptoms": []}}


def selected(step: Step, answers: dict[str, Any]) -> set[str]:
    """The option codes currently chosen in a multi-select step (for the ✓ marks)."""
    if step.key == "body_sites":
        return set(answers["answers"].get("body_sites", []))
    if step.key in ("emergency", "symptoms", "mole"):
        chosen = set(answers["answers"].get("symptoms", []))
        return {o.code for o in step.options if o.value in chosen}
    return set()


def toggle(step: Step, answers: dict[str, Any], code: str) -> dict[str, Any]:
    """Answers with one option of a multi-select step switched on or off."""
    option = next(o for o in step.options if o.code == code)
    result = {**answers, "patient": dict(answers["patient"]), "answers": dict(answers["answers"])}
    field = "body_sites" if step.key == "body_sites" else "symptoms"
    values = list(result["answers"].get(field, []))
    if option.value in values:
        values.remove(option.value)
    else:
        values.append(option.value)
    result["answers"][field] = values
    if step.key == "body_sites":
        # The contract also has `near_eye` as a symptom: a problem near the eye is one.
        symptoms = [s for s in result["answers"].get("symptoms", []) if s != "near_eye"]
        if "near_eye" in values:
            symptoms.append("near_eye")
        result["answers"]["symptoms"] = symptoms
    return result


def choose(step: Step, answers: dict[str, Any], value: Any, typed: TypedAge | None = None) -> dict[str, Any]:
    """Answers with a single-choice step answered (`value` None means "not applicable / don't know").

    For the age, `patient.age_answer` keeps what the patient chose or typed (`{"group": "adult"}`, `{"n": 3,
    "unit": "months"}`), so that what they read back is what they said, not the number the rules use.
    """
    result = {**answers, "patient": dict(answers["patient"]), "answers": dict(answers["answers"])}
    if step.key == "age":
        result["patient"]["age_years"] = value
        group = next((o.code for o in step.options if o.value == value), None)
        shown: dict[str, Any] = {"n": typed.number, "unit": typed.unit} if typed else {"group": group}
        result["patient"]["age_answer"] = shown
    elif step.key in ("pregnant", "immunosuppressed", "diabetes"):
        if value is None:
            result["patient"].pop(step.key, None)
        else:
            result["patient"][step.key] = value
    elif step.key == "skin_type":
        if value is None:
            result["patient"].pop("skin_type", None)
        else:
            result["patient"]["skin_type"] = value
    elif step.key == "duration":
        result["answers"]["duration_days"] = value
    elif step.key == "extent":
        result["answers"]["extent"] = value
    return result


def skip(step: Step, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers with this step left unknown (Skip), or a multi-select answered (Done / None of these: what is not
    ticked means no, and the step leaves `answers.skipped`). Single choices are removed."""
    if step.kind == "multi":
        return _skipped(step, answers, [])
    return choose(step, answers, None) if step.key != "age" else _without_age(answers)


def unsure(step: Step, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers after "Not sure" on a multi-select: what is ticked stays, and every key not ticked is unknown, not
    no (`answers.skipped`; CLINICAL.md "Unknown is not no")."""
    chosen = set(answers["answers"].get("symptoms", []))
    return _skipped(step, answers, [o.value for o in step.options if o.value not in chosen])


def _skipped(step: Step, answers: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    result = {**answers, "patient": dict(answers["patient"]), "answers": dict(answers["answers"])}
    own = {str(o.value) for o in step.options}
    kept = [k for k in result["answers"].get("skipped", []) if k not in own] + keys
    if kept:
        result["answers"]["skipped"] = kept
    else:
        result["answers"].pop("skipped", None)
    return result


def _without_age(answers: dict[str, Any]) -> dict[str, Any]:
    patient = {k: v for k, v in answers["patient"].items() if k not in ("age_years", "age_answer")}
    return {**answers, "patient": patient, "answers": dict(answers["answers"])}


def _applies(step: Step, answers: dict[str, Any]) -> bool:
    if step.key in answers.get("fixed", ()):  # given once for a managed patient (their health worker's intake)
        return False
    age = answers["patient"].get("age_years")
    if step.key == "pregnant":
        return age is None or 10 <= age <= 60
    return True


def next_step(current: str | None, answers: dict[str, Any]) -> str | None:
    """The step after `current` (None: the first), or None when the questionnaire is complete."""
    keys = [s.key for s in STEPS]
    start = 0 if current is None else keys.index(current) + 1
    for step in STEPS[start:]:
        if _applies(step, answers):
            return step.key
    return None


def previous_step(current: str, answers: dict[str, Any]) -> str | None:
    keys = [s.key for s in STEPS]
    for step in reversed(STEPS[: keys.index(current)]):
        if _applies(step, answers):
            return step.key
    return None


# Unit words as patients type them in every language the bot speaks; Swahili puts the unit first ("miezi 8").
AGE_UNIT_WORDS: dict[str, tuple[str, ...]] = {
    "months": ("m", "mo", "month", "months", "mes", "meses", "mois", "mês", "شهر", "شهور", "أشهر", "اشهر", "mwezi",
               "miezi", "महीना", "महीने", "माह"),
    "weeks": ("w", "week", "weeks", "semana", "semanas", "semaine", "semaines", "أسبوع", "اسبوع", "أسابيع", "اسابيع",
              "wiki", "हफ्ता", "हफ्ते", "हफ़्ता", "हफ़्ते", "सप्ताह"),
    "years": ("y", "year", "years", "año", "años", "ano", "anos", "an", "ans", "سنة", "سنه", "سنوات", "سنين", "عام",
              "mwaka", "miaka", "साल", "वर्ष"),
}
_UNIT_OF = {unicodedata.normalize("NFC", word).casefold(): unit for unit, words in AGE_UNIT_WORDS.items()
            for word in words}
_UNIT = "|".join(sorted(map(re.escape, _UNIT_OF), key=len, reverse=True))
_AGE_RE = re.compile(rf"^\s*(?:(?P<before>{_UNIT})\s*)?(?P<n>\d{{1,3}}(?:[.,\u066b]\d)?)\s*(?P<after>{_UNIT})?\s*$")


@dataclass(frozen=True)
class TypedAge:
    """An age as the patient typed it: `number` `unit`, and the same in years for the rules."""

    years: float
    number: float
    unit: Literal["years", "months", "weeks"]


def parse_age(text: str) -> TypedAge | None:
    """A typed age: "34", "2 months", "3 meses", "6 mois", "5 weeks", "٨ أشهر", "miezi 8", "८ महीने" (digits of any
    script). None if it is not an age."""
    match = _AGE_RE.match(unicodedata.normalize("NFC", text[:100]).casefold())
    if not match or (match.group("before") and match.group("after")):
        return None
    number = float(match.group("n").replace(",", ".").replace("\u066b", "."))
    unit: Literal["years", "months", "weeks"] = "years"
    years = number
    word = match.group("before") or match.group("after")
    if word and _UNIT_OF[word] == "months":
        unit, years = "months", number / 12
    elif word and _UNIT_OF[word] == "weeks":
        unit, years = "weeks", number / 52
    if not 0 <= years <= 120:
        return None
    return TypedAge(round(years, 2), int(number) if number.is_integer() else number, unit)


def age_shown(patient: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The message key and values that say the age as the patient gave it; None when not given."""
    shown = patient.get("age_answer")
    if isinstance(shown, dict):
        if isinstance(shown.get("group"), str) and f"age.{shown['group']}" in AGE_KEYS:
            return f"age.{shown['group']}", {}
        if shown.get("unit") in ("years", "months", "weeks") and isinstance(shown.get("n"), int | float):
            return f"age_value.{shown['unit']}", {"n": shown["n"]}
    age = patient.get("age_years")
    if isinstance(age, int | float) and not isinstance(age, bool):  # answers stored by an older release
        return "age_value.years", {"n": int(age) if age >= 1 else round(age, 2)}
    return None
