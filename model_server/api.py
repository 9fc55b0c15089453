"""The model server's HTTP contract: request and response schemas, limits and the condition vocabulary.

This module imports no torch and nothing else from `model_server`, so the worker can use it as a client:
`AnalyzeRequest` is what the worker sends to `POST /v1/analyze`, `AnalyzeResponse` what comes back.

`ConceptsRequest` / `ConceptsResponse` are the contract of `POST /v1/concepts`: the patient's own words in, the
concepts the model says they state out, each with the exact words it relied on.

Response models ignore fields they do not know, so a client keeps working when a newer server adds a field.
Request models forbid unknown fields: a typo in a request is an error, not a silent default.

Two request encodings are accepted by `POST /v1/analyze`:
- `application/json`: an `AnalyzeRequest` with `images` as base64 strings;
- `multipart/form-data`: one part named `request` holding the `AnalyzeRequest` JSON with `images` empty, and
  1 to `MAX_IMAGES` parts named `image` holding the raw image bytes (no base64 overhead; what the worker uses).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

API_VERSION = "1"

MAX_IMAGES = 6
MAX_IMAGE_BYTES = 12 * 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
MAX_TEXT_CHARS = 4000
MAX_HISTORY_TURNS = 20
MAX_ANSWER_KEY_CHARS = 100
MAX_CONCEPTS = 64
MAX_CONCEPT_TEXT_CHARS = 4000
MAX_CONCEPT_DESCRIPTION_CHARS = 300
CONCEPT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

# Control characters (C0, DEL, C1) other than tab, line feed and carriage return. Free text keeps them out of
# prompts by scrubbing; in identifiers and one-line descriptions they make no sense and are refused.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

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


class _Tolerant(BaseModel):
    """A response model: unknown fields from a newer server are ignored."""

    model_config = ConfigDict(extra="ignore")


def _no_control(value: str, what: str, *, newlines: bool = False) -> str:
    """`value` unchanged; raises ValueError when it holds a control character (newlines too unless allowed)."""
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    if pattern.search(value):
        raise ValueError(f"{what} must not contain control characters")
    return value


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

    @field_validator("answers")
    @classmethod
    def _plain_answer_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if len(key) > MAX_ANSWER_KEY_CHARS:
                raise ValueError(f"answer keys must be at most {MAX_ANSWER_KEY_CHARS} characters")
            _no_control(key, "answer keys")
        return value

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - CONDITIONS.keys())
        if unknown:
            raise ValueError(f"unknown condition keys: {', '.join(unknown[:5])}")
        return list(dict.fromkeys([*value, "other"]))


class DifferentialItem(_Tolerant):
    condition: str
    likelihood: float = Field(ge=0.0, le=1.0)


class Timings(_Tolerant):
    queue_ms: float = 0.0
    inference_ms: float = 0.0
    total_ms: float = 0.0
    batch_size: int = 1


Quantization = Literal["none", "8bit", "4bit"]


class ModelIdentity(_Tolerant):
    """What exactly answers: the same model, weights, backend and quantization always give the same `identity`.

    `weights_sha256` is a sha256 over the contents of the weight files (computed once at load); remote backends
    cannot hash the weights, so they report `weights_hashed: false` and whatever `revision` the remote server
    reports. `config_sha256` covers the small files that shape the answers (configs, tokenizer, chat template,
    label map). `identity` is a sha256 over all the other fields: compare it, store it with an evaluation.
    """

    identity: str = ""
    model_id: str = ""
    backend: str = ""
    quantization: Quantization = "none"
    weights_sha256: str = ""
    weights_hashed: bool = False
    config_sha256: str = ""
    revision: str = Field(default="", description="remote backends: the revision the remote server reports")


class AnalyzeResponse(_Tolerant):
    """The model's view of a case. `differential` is sorted by likelihood and sums to 1."""

    differential: list[DifferentialItem]
    findings: list[str] = Field(default_factory=list)
    image_quality: list[ImageQuality] = Field(default_factory=list, description="one per image, in order")
    answer: str = ""
    language: str = "en"
    backend: str
    model_id: str
    model_revision: str = ""
    identity: ModelIdentity | None = Field(default=None, description="the running model's identity")
    timings: Timings = Field(default_factory=Timings)


class ConceptSpec(_Strict):
    """One concept the caller asks about: a key and a one-line description of what it means."""

    key: str = Field(pattern=CONCEPT_KEY_PATTERN)
    description: str = Field(min_length=1, max_length=MAX_CONCEPT_DESCRIPTION_CHARS)

    @field_validator("description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a description must not be blank")
        return _no_control(value, "a description")


class ConceptsRequest(_Strict):
    """The patient's own words and the concepts to look for in them (the caller sends its own vocabulary)."""

    text: str = Field(max_length=MAX_CONCEPT_TEXT_CHARS, description="the patient's words, verbatim")
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    concepts: list[ConceptSpec] = Field(min_length=1, max_length=MAX_CONCEPTS)

    @model_validator(mode="after")
    def _unique_keys(self) -> ConceptsRequest:
        keys = [concept.key for concept in self.concepts]
        if len(set(keys)) != len(keys):
            raise ValueError("concept keys must be unique")
        return self


class ConceptFound(_Tolerant):
    """A concept the model says the text states, and the exact words of the text it relied on."""

    key: str
    quote: str = Field(description="a substring of the request's text, verbatim")
    start: int = Field(ge=0, description="where `quote` starts in the text (characters)")


class ConceptsResponse(_Tolerant):
    """What the model read in the text. Every `quote` is a substring of the text; claims without one are dropped."""

    concepts: list[ConceptFound] = Field(default_factory=list)
    dropped: list[str] = Field(
        default_factory=list, description="keys the model claimed without words found in the text (not returned)"
    )
    language: str = "en"
    backend: str = ""
    model_id: str = ""
    identity: ModelIdentity | None = None
    timings: Timings = Field(default_factory=Timings)


class ErrorBody(_Tolerant):
    code: str
    message: str


class ErrorResponse(_Tolerant):
    """Every 4xx/5xx answer of the server has this shape."""

    error: ErrorBody


class Health(_Tolerant):
    status: Literal["ok", "unavailable"]
    backend: str
    model_id: str
    detail: str = ""
    identity: ModelIdentity | None = None
