"""The referral letter of a case as a PDF, and the patient's copy in their language (English, Spanish, French).

HTML from a Jinja2 template with autoescaping (the patient's and the clinicians' words can never become markup),
laid out by WeasyPrint: Pango shapes and orders right-to-left scripts and falls back to a font that has each
character. WeasyPrint fetches nothing: the photos are inlined as `data:` URLs and every other URL is refused.

- `referral`: for the clinician the patient is referred to. Urgency with the rules' reasons (their codes and
  clinician wording, and the same in plain words), the answers, the photos, the image analysis, the diagnosis,
  the clinician's note (their latest reply to the patient and their reason for changing the tier), signature.
- `patient`: the same case in plain words: urgency and what to do, why in plain words (never a diagnosis
  named by the system), the answers, the photos, the clinician's message, signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import jinja2
from PIL import Image

from triage.case_snapshot import CaseSnapshot
from triage.fhir.codes import CONDITION_LABEL, ICD10
from triage.letters import texts

Audience = Literal["referral", "patient"]
AUDIENCES: tuple[Audience, ...] = ("referral", "patient")
PHOTO_MAX_SIDE = 1000  # pixels; the letter's photos are at most 60 mm wide, this is ample for print
CONTENT_TYPE = "application/pdf"


class LetterUnavailable(RuntimeError):
    """The PDF engine cannot run here (WeasyPrint needs Pango: Debian `libpango-1.0-0 libpangoft2-1.0-0`)."""


@dataclass(frozen=True)
class Letter:
    filename: str
    data: bytes


# Bidi embeddings, overrides and isolates typed into a text could make it display reversed ("\u202eevil" shows
# as "live"); Pango orders right-to-left scripts correctly without them.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def _shown(value: Any) -> Any:
    """Every value printed in the template, before escaping: text without bidi controls."""
    return value.translate(_BIDI_CONTROLS) if isinstance(value, str) else value


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("triage.letters", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_shown,
    )


def _photo_url(data: bytes) -> str | None:
    """A photo, scaled down for print, as a `data:` URL; None if it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
            out = io.BytesIO()
            img.convert("RGB").save(out, "JPEG", quality=85)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _age(patient: dict[str, Any], language: str) -> str | None:
    age = patient.get("age_years")
    if not isinstance(age, int | float) or isinstance(age, bool) or not 0 <= age <= 130:
        return None
    shown = f"{age:.1f}" if age < 2 else f"{int(age)}"
    return f"{shown} {texts.t(language, 'years')}"


def _answers(snap: CaseSnapshot, language: str) -> list[tuple[str, str]]:
    given, patient = snap.answers, snap.patient
    rows: list[tuple[str, str]] = []
    sites = [s for s in given.get("body_sites") or [] if isinstance(s, str)]
    if sites:
        rows.append((texts.t(language, "q.body_sites"), ", ".join(texts.answer_label(language, s) for s in sites)))
    days = given.get("duration_days")
    if isinstance(days, int | float) and not isinstance(days, bool):
        rows.append((texts.t(language, "q.duration"), texts.t(language, "days", n=int(days))))
    if isinstance(given.get("extent"), str):
        rows.append((texts.t(language, "q.extent"), texts.answer_label(language, given["extent"])))
    symptoms = [s for s in given.get("symptoms") or [] if isinstance(s, str) and s != "near_eye"]
    if symptoms:
        rows.append((texts.t(language, "q.symptoms"),
                     ", ".join(texts.answer_label(language, s) for s in symptoms)))
    for key in ("pregnant", "immunosuppressed", "diabetes"):
        if isinstance(patient.get(key), bool):
            rows.append((texts.t(language, f"q.{key}"), texts.t(language, "yes" if patient[key] else "no")))
    return rows


def _reasons(snap: CaseSnapshot, language: str, audience: Audience) -> list[dict[str, str]]:
    """Each reason: plain words, and for the referral the rule's own wording and code."""
    out, seen = [], set()
    for reason in snap.decision.reasons if snap.decision else []:
        if not isinstance(reason, dict):
            continue
        code = str(reason.get("code", ""))
        plain = texts.reason_words(language, code)
        if audience == "patient":
            if plain not in seen:
                seen.add(plain)
                out.append({"plain": plain, "text": "", "code": "", "evidence": ""})
            continue
        out.append({"plain": plain, "text": str(reason.get("text", "")), "code": code,
                    "evidence": str(reason.get("evidence") or "")})
    return out


def letter_html(snap: CaseSnapshot, *, language: str, audience: Audience) -> str:
    """The letter as HTML (what the PDF is made from)."""
    language = texts.language_of(language)
    tier = snap.tier or (snap.decision.tier if snap.decision else None)
    photos = [url for url in (_photo_url(p.data) for p in snap.photos if p.data is not None) if url]
    signed_on = (snap.closed_at or snap.exported_at).astimezone(dt.UTC).date().isoformat()
    context = {
        "lang": language,
        "t": lambda key, **values: texts.t(language, key, **values),
        "audience": audience,
        "case": snap,
        "tier_name": texts.tier_name(language, tier) if tier else None,
        "tier_advice": texts.tier_advice(language, tier) if tier else None,
        "tier": tier,
        "triage_tier_name": texts.tier_name(language, snap.triage_tier)
        if snap.triage_tier and snap.triage_tier != tier else None,
        "reasons": _reasons(snap, language, audience),
        "answers": _answers(snap, language),
        "age": _age(snap.patient, language),
        "photos": photos,
        "diagnosis": _diagnosis(snap) if audience == "referral" else None,
        "disposition": texts.disposition_name(language, snap.disposition) if snap.disposition else None,
        "model": snap.model if audience == "referral" else None,
        "differential": _differential(snap) if audience == "referral" else [],
        "signed_on": signed_on,
        "patient_ref": snap.pseudonym.split("-")[0].upper(),
    }
    return _environment().get_template("letter.html").render(**context)


def _diagnosis(snap: CaseSnapshot) -> str | None:
    if not snap.final_diagnosis:
        return None
    codes = "/".join(ICD10.get(snap.final_diagnosis, ()))
    label = CONDITION_LABEL.get(snap.final_diagnosis, snap.final_diagnosis)
    return f"{label} (ICD-10 {codes})" if codes else label


def _differential(snap: CaseSnapshot) -> list[str]:
    out = []
    for entry in (snap.model.differential if snap.model else [])[:5]:
        if isinstance(entry, dict) and isinstance(entry.get("likelihood"), int | float):
            key = str(entry.get("condition", ""))
            out.append(f"{CONDITION_LABEL.get(key, key)} {float(entry['likelihood']):.0%}")
    return out


def render_pdf(html: str) -> bytes:
    """HTML to PDF. Raises `LetterUnavailable` when WeasyPrint cannot load Pango."""
    try:
        from weasyprint import HTML
    except (OSError, ImportError) as exc:  # Pango missing from the system, or WeasyPrint not installed
        raise LetterUnavailable(f"the PDF engine cannot start: {exc}") from None
    from PIL import ImageFile
    from weasyprint import CSS
    from weasyprint.urls import URLFetcher

    # Importing WeasyPrint turns on Pillow's loading of truncated images for the whole process; the web process
    # also decodes patients' photos, which must refuse a truncated file (triage/images.py). Turn it back off:
    # the letter only embeds photos the image store re-encoded whole.
    ImageFile.LOAD_TRUNCATED_IMAGES = False

    stylesheet = resources.files("triage.letters").joinpath("templates/letter.css").read_text(encoding="utf-8")
    # Only the `data:` URLs of the photos: never the network or the disk, whatever a text might contain.
    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False)
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[CSS(string=stylesheet)])
    assert pdf is not None
    return bytes(pdf)


def render_letter(snap: CaseSnapshot, *, language: str, audience: Audience) -> Letter:
    """The letter as a PDF with a file name that says what it is (never the patient)."""
    language = texts.language_of(language)
    pdf = render_pdf(letter_html(snap, language=language, audience=audience))
    return Letter(filename=f"case-{snap.case_id}-{audience}-{language}.pdf", data=pdf)
