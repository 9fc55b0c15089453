"""Building tracked lesions through the real workflow functions: a patient's case with a photo, triaged by the
worker's pipeline (the model answered over its HTTP seam by an `httpx.MockTransport`), followed, and new visits
with photos whose lesion the test draws (`tests.images.lesion_photo`) or takes from PAD-UFES-20."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.images import lesion_photo
from triage import cases, pipeline, tracking
from triage.db import transaction
from triage.images import ImageStore, sanitize_image
from triage.model_client import ModelClient
from triage.models import Case

COIN_MM = 24.26  # the tests' deployment coin: a US quarter (silver-coloured); the drawn coin is grey
T0 = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)  # the controlled clock's start
CLINICIANS = -1001
NEVUS = [("melanocytic_nevus", 0.8), ("melanoma", 0.1)]
MOLE_NO_CHANGE = {"patient": {"age_years": 45},
                  "answers": {"symptoms": [], "body_sites": ["back"], "duration_days": 120, "extent": "single_spot"}}


def jpeg(img: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def model(differential: list[tuple[str, float]] | None = None) -> ModelClient:
    """A model server that sees a mole (or `differential`) and reads nothing in the words."""
    body = {"differential": [{"condition": c, "likelihood": p} for c, p in (differential or NEVUS)],
            "findings": ["pigmented macule"], "image_quality": ["good"], "answer": "", "language": "en",
            "backend": "hf", "model_id": "tiny", "model_revision": "r1",
            "timings": {"queue_ms": 1, "inference_ms": 10, "total_ms": 11, "batch_size": 1}}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/concepts":
            return httpx.Response(200, json={"concepts": [], "backend": "hf", "model_id": "tiny"})
        return httpx.Response(200, json=body)

    return ModelClient("http://model.test", timeout_s=5, max_attempts=1, backoff_s=0,
                       transport=httpx.MockTransport(handler))


def config(coin_mm: float | None = COIN_MM) -> pipeline.PipelineConfig:
    return pipeline.PipelineConfig(clinician_chat_id=CLINICIANS, stuck_after_s=600, coin_diameter_mm=coin_mm)


def consent(sessions: sessionmaker[Session], user: int) -> cases.PatientView:
    return cases.record_consent(sessions, telegram_user_id=user, chat_id=user, language="en", consent_version="t")


def submit(sessions: sessionmaker[Session], store: ImageStore, *, patient_id: int, photos: list[bytes],
           answers: dict[str, Any] | None = None, lesion_id: int | None = None, subject_id: int | None = None,
           text: str = "", organisation: str = "default") -> int:
    """A case with `photos` (sanitised as the bot does), its answers merged over what `start_case` prefilled,
    submitted."""
    case_id = cases.start_case(sessions, store, patient_id=patient_id, language="en", organisation=organisation,
                               subject_id=subject_id, lesion_id=lesion_id)
    for data in photos:
        clean = sanitize_image(data, max_bytes=10**7, max_pixels=10**8)
        cases.add_image(sessions, store, case_id=case_id, image=clean)
    with sessions() as session:
        prefilled = dict(session.get_one(Case, case_id).answers)
    given = answers or MOLE_NO_CHANGE
    merged = {**prefilled, "patient": {**given.get("patient", {}), **prefilled.get("patient", {})},
              "answers": {**given.get("answers", {}), **{k: v for k, v in prefilled.get("answers", {}).items()
                                                         if k != "symptoms"}}}
    cases.save_progress(sessions, patient_id=patient_id, case_id=case_id, state="confirm",
                        data={"case_id": case_id}, answers=merged, text=text, subject_id=subject_id)
    assert cases.submit_case(sessions, patient_id=patient_id, case_id=case_id, subject_id=subject_id)
    return case_id


def triage(sessions: sessionmaker[Session], store: ImageStore, case_id: int, *,
           coin_mm: float | None = COIN_MM, differential: list[tuple[str, float]] | None = None) -> str:
    """The worker's whole analysis of the case (`pipeline.analyze_case`)."""
    return pipeline.analyze_case(sessions, store, model(differential), config(coin_mm), case_id)


def set_triaged_at(sessions: sessionmaker[Session], case_id: int, when: dt.datetime) -> None:
    with transaction(sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(triaged_at=when, submitted_at=when))


def followed(sessions: sessionmaker[Session], store: ImageStore, *, user: int, name: str = "mole on back",
             photo: Image.Image | None = None, at: dt.datetime = T0, organisation: str = "default"
             ) -> tuple[cases.PatientView, int, int]:
    """A patient whose first photo of a mole was triaged (routine: a benign lesion, unvalidated model) at `at` and
    who follows it from then. Returns (patient, case id, lesion id)."""
    patient = consent(sessions, user)
    case_id = submit(sessions, store, patient_id=patient.id, photos=[jpeg(photo or lesion_photo())],
                     organisation=organisation)
    assert triage(sessions, store, case_id) == "triaged"
    set_triaged_at(sessions, case_id, at)
    lesion = tracking.follow_case(sessions, person_id=patient.id, case_id=case_id, name=name, site="back", now=at)
    return patient, case_id, lesion.id


def two_visits(sessions: sessionmaker[Session], store: ImageStore, *, user: int, organisation: str,
               name: str = "mole on back") -> dict[str, int]:
    """A patient's mole followed over two visits, the second 30 % wider and partly darker, both measured.
    Returns the ids: `first`, `visit` (the cases) and `lesion`."""
    patient, first, lesion_id = followed(sessions, store, user=user, organisation=organisation, name=name,
                                         at=dt.datetime.now(dt.UTC) - dt.timedelta(days=60))
    visit = submit(sessions, store, patient_id=patient.id, lesion_id=lesion_id, organisation=organisation,
                   photos=[jpeg(lesion_photo(radius=143, dark_patch=0.2))])
    assert triage(sessions, store, visit) == "triaged"
    return {"first": first, "visit": visit, "lesion": lesion_id}
