"""The model server's HTTP contract: request and response schemas, limits and the condition vocabulary.

This module imports no torch and nothing else from `model_server`, so the worker can use it as a client:
`AnalyzeRequest` is what the worker sends to `POST /v1/analyze`, `AnalyzeResponse` what comes back.

Two request encodings are accepted by the server:
- `application/json`: an `AnalyzeRequest` with `images` as base64 strings;
- `multipart/form-data`: one part named `request` holding the `AnalyzeRequest` JSON with `images` empty, and
  1 to `MAX_IMAGES` parts named `image` holding the raw image bytes (no base64 overhead; what the worker uses).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

API_VERSION = "1"

MAX_IMAGES = 6
MAX_IMAGE_BYTES = 12 * 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
MAX_TEXT_CHARS = 4000
MAX_HISTORY_TURNS = 20

ImageQuality = Literal["good", "poor", "not_skin"]

# The canonical condition keys of CLINICAL.md, each with the plain English label the model is asked about.
# `other` is always a candidate. tests/test_vocabulary.py checks this list against triage.rules.
CONDITIONS: dict[str, str] = {
    "stevens_johnson_syndrome_ten": "Stevens-Johnson syndrome or toxic epidermal necrolysis",
    "necrotizing_fasciitis": "necrotizing fasciitis",
    "meningococcal_purpura": "meningococcal purpura",
    "angioedema_anaphylaxis": "angioedema or anaphylaxis",
    "staphylococcal_scalded_skin_syndrome": "staphylococcal scalded skin syndrome",
    "eczema_herpeticum": "eczema herpeticum",
    "erythroderma": "erythroderma",
    "dress_syndrome": "DRESS syndrome",
    "pemphigus_vulgaris": "pemphigus vulgaris",
    "bullous_pemphigoid": "bullous pemphigoid",
    "cellulitis": "cellulitis",
    "abscess": "skin abscess",
    "herpes_zoster": "herpes zoster (shingles)",
    "diabetic_foot_ulcer": "diabetic foot ulcer",
    "burn": "burn",
    "drug_eruption": "drug eruption",
    "mpox": "mpox",
    "measles": "measles",
    "melanoma": "melanoma",
    "squamous_cell_carcinoma": "squamous cell carcinoma",
    "kaposi_sarcoma": "Kaposi sarcoma",
    "leprosy": "leprosy",
    "cutaneous_leishmaniasis": "cutaneous leishmaniasis",
    "basal_cell_carcinoma": "basal cell carcinoma",
    "actinic_keratosis": "actinic keratosis",
    "psoriasis": "psoriasis",
    "atopic_dermatitis": "atopic dermatitis (eczema)",
    "vitiligo": "vitiligo",
    "lichen_planus": "lichen planus",
    "rosacea": "rosacea",
    "scabies": "scabies",
    "impetigo": "impetigo",
    "chickenpox": "chickenpox",
    "viral_exanthem": "viral exanthem",
    "pressure_ulcer": "pressure ulcer",
    "acne": "acne",
    "tinea": "tinea (ringworm)",
    "cutaneous_candidiasis": "cutaneous candidiasis",
    "herpes_simplex": "herpes simplex",
    "molluscum_contagiosum": "molluscum contagiosum",
    "viral_warts": "viral warts",
    "seborrheic_dermatitis": "seborrheic dermatitis",
    "contact_dermatitis": "contact dermatitis",
    "urticaria": "urticaria (hives)",
    "pityriasis_rosea": "pityriasis rosea",
    "insect_bite": "insect bite",
    "seborrheic_keratosis": "seborrheic keratosis",
    "melanocytic_nevus": "benign mole (melanocytic nevus)",
    "dermatofibroma": "dermatofibroma",
    "vascular_lesion": "vascular lesion",
    "other": "another condition",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatTurn(_Strict):
    role: Literal["patient", "assistant", "clinician"]
    text: str = Field(max_length=MAX_TEXT_CHARS)


class AnalyzeRequest(_Strict):
    """One case (or one follow-up question about it) to analyse."""

    images: list[str] = Field(default_factory=list, max_length=MAX_IMAGES, description="base64 images (JSON form)")
    answers: dict[str, Any] = Field(default_factory=dict, description="the triage contract's patient and answers")
    question: str = Field(default="", max_length=MAX_TEXT_CHARS)
    history: list[ChatTurn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    candidates: list[str] | None = Field(
        default=None, description="condition keys to rank (default: all of CONDITIONS); `other` is always added"
    )

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - CONDITIONS.keys())
        if unknown:
            raise ValueError(f"unknown condition keys: {', '.join(unknown[:5])}")
        return list(dict.fromkeys([*value, "other"]))


class DifferentialItem(_Strict):
    condition: str
    likelihood: float = Field(ge=0.0, le=1.0)


class Timings(_Strict):
    queue_ms: float = 0.0
    inference_ms: float = 0.0
    total_ms: float = 0.0
    batch_size: int = 1


class AnalyzeResponse(_Strict):
    """The model's view of a case. `differential` is sorted by likelihood and sums to 1."""

    differential: list[DifferentialItem]
    findings: list[str] = Field(default_factory=list)
    image_quality: list[ImageQuality] = Field(default_factory=list, description="one per image, in order")
    answer: str = ""
    language: str = "en"
    backend: str
    model_id: str
    model_revision: str = ""
    timings: Timings = Field(default_factory=Timings)


class ErrorBody(_Strict):
    code: str
    message: str


class ErrorResponse(_Strict):
    """Every 4xx/5xx answer of the server has this shape."""

    error: ErrorBody


class Health(_Strict):
    status: Literal["ok", "unavailable"]
    backend: str
    model_id: str
    detail: str = ""
