"""What a labelled case is, and the label groups the figures are about (from CLINICAL.md).

A labelled case is what an adapter (PAD-UFES-20, a generic CSV) turns one row into: the answers as the bot
would store them, the photos' paths, the diagnosis as a canonical condition key and the fields the figures
are broken down by (skin type, age). Nothing here reads files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.rules import CONDITION_TIERS

#: CLINICAL.md, "Lesions: self-care needs evidence": the lesion conditions.
BENIGN_LESIONS: frozenset[str] = frozenset(
    {"melanocytic_nevus", "seborrheic_keratosis", "dermatofibroma", "vascular_lesion"}
)
LESION_CONDITIONS: frozenset[str] = BENIGN_LESIONS | {
    "melanoma",
    "squamous_cell_carcinoma",
    "basal_cell_carcinoma",
    "actinic_keratosis",
    "kaposi_sarcoma",
}
#: The malignant lesions whose sensitivity the discharge policy is about (configurable with --malignant).
DEFAULT_MALIGNANT: tuple[str, ...] = ("melanoma", "squamous_cell_carcinoma", "basal_cell_carcinoma")

#: Age bands of the figures: (label, lowest age, first age of the next band).
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("0-15", 0, 16),
    ("16-39", 16, 40),
    ("40-64", 40, 65),
    ("65+", 65, math.inf),
)
UNKNOWN = "unknown"
SKIN_TYPES: tuple[str, ...] = ("I", "II", "III", "IV", "V", "VI")


class BadInput(Exception):
    """An input (labelled data, a simulated model, a report folder) cannot be used as given; the message is one
    line that says where and what."""


@dataclass(frozen=True)
class LabelledCase:
    """One case to evaluate.

    ``answers`` is ``{"patient": {...}, "answers": {...}}`` as the bot stores a case's answers (the triage
    contract's fields); ``images`` are the photos' paths (possibly none); ``diagnosis`` is a canonical
    condition key; ``skin_type`` is a Fitzpatrick type 1-6 or None; ``split`` is the dataset's split or "".
    """

    case_id: str
    diagnosis: str
    answers: dict[str, Any] = field(default_factory=dict)
    images: tuple[Path, ...] = ()
    skin_type: int | None = None
    split: str = ""

    @property
    def age_years(self) -> float | None:
        """Return the patient's age from the answers, or None when not given."""
        age = self.answers.get("patient", {}).get("age_years")
        return float(age) if isinstance(age, int | float) and not isinstance(age, bool) else None

    @property
    def sex(self) -> str:
        """Return the patient's sex from the answers, or ``unknown``."""
        return str(self.answers.get("patient", {}).get("sex") or UNKNOWN)


def age_band(age_years: float | None) -> str:
    """Return the label of the AGE_BANDS band ``age_years`` falls in, or ``unknown``."""
    if age_years is None:
        return UNKNOWN
    return next((label for label, low, high in AGE_BANDS if low <= age_years < high), UNKNOWN)


def skin_type_label(skin_type: int | None) -> str:
    """Return the Roman numeral of a Fitzpatrick skin type 1-6, or ``unknown``."""
    return SKIN_TYPES[skin_type - 1] if skin_type is not None and 1 <= skin_type <= 6 else UNKNOWN


def parse_skin_type(text: str) -> int | None:
    """Return the Fitzpatrick type written as ``3``, ``3.0`` or ``III`` (None for empty or ``UNK``).

    Raises ValueError for anything else.
    """
    value = text.strip().upper()
    if value in ("", "UNK", "UNKNOWN"):
        return None
    if value in SKIN_TYPES:
        return SKIN_TYPES.index(value) + 1
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a Fitzpatrick skin type (1-6 or I-VI): {text.strip()[:20]!r}") from None
    if number not in (1, 2, 3, 4, 5, 6):
        raise ValueError(f"not a Fitzpatrick skin type (1-6 or I-VI): {text.strip()[:20]!r}")
    return int(number)


def read_number(text: str, where: str, low: float, high: float) -> float | None:
    """Return the number written in ``text`` (None when empty). Raises BadInput naming ``where`` when it is not
    a finite number from ``low`` to ``high``."""
    if not text.strip():
        return None
    shown = repr(text.strip()[:20])
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: not a number: {shown}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadInput(f"{where}: expected {low:g} to {high:g}, got {shown}")
    return value


def read_skin_type(text: str, where: str) -> int | None:
    """Return parse_skin_type(``text``); raise BadInput naming ``where`` instead of ValueError."""
    try:
        return parse_skin_type(text)
    except ValueError as error:
        raise BadInput(f"{where}: {error}") from None


def check_condition_keys(keys: list[str], what: str) -> tuple[str, ...]:
    """Return ``keys`` when each is a canonical condition key; raise BadInput naming ``what`` otherwise."""
    unknown = [key for key in keys if key not in CONDITION_TIERS]
    if unknown:
        raise BadInput(f"{what}: not a condition key of CLINICAL.md: {', '.join(unknown[:5])}")
    return tuple(keys)
