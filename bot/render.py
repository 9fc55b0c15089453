"""Turn outbox rows into what the patient or the clinicians read. Pure functions: payload in, text out."""

from __future__ import annotations

import functools
import html
import io
from typing import Any

from PIL import Image

from bot import lesion_render
from bot import questionnaire as qn
from bot.texts import has_text, isolate, t, t_for

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
TIER_LABEL = {
    "emergency": "🚨 EMERGENCY",
    "urgent": "⚠️ URGENT",
    "soon": "SOON (2 weeks)",
    "routine": "ROUTINE",
    "self_care": "SELF-CARE",
}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def patient_reasons(lang: str, payload: dict[str, Any], limit: int = 2) -> list[str]:
    """The patient's words for the reasons behind the tier (CLINICAL.md "What the patient reads"): plain, in their
    language, never naming a diagnosis. The rules' own `text` is the clinician's and never reaches a patient."""
    tier = str(payload.get("tier", "routine"))
    texts: list[str] = []
    for reason in payload.get("reasons", []):
        if reason.get("tier") != tier:
            continue
        text = t(lang, f"reason.{reason.get('code')}") if has_text(lang, f"reason.{reason.get('code')}") else ""
        if text and text not in texts:
            texts.append(text)
    return texts[:limit]


def patient_result(payload: dict[str, Any]) -> str:
    """The answer a patient gets: tier and what to do first, then the why in plain words, the model's own words
    when they passed `triage.patient_answer`, then the disclaimer. No condition names: the differential and the
    model's findings are for clinicians."""
    lang = str(payload.get("language", "en"))
    tier = str(payload.get("tier", "routine"))
    worker = payload.get("audience") == "chw"
    parts = [t_for(lang, f"tier.{tier}", worker)]
    if payload.get("raised_from"):
        parts.insert(0, t_for(lang, "tier_raised", worker))
    if worker:
        parts.insert(0, patient_label(payload))
    if not payload.get("model_used", True):
        parts.append(t_for(lang, "no_model", worker))
    reasons = patient_reasons(lang, payload)
    if reasons:
        parts.append(t(lang, "why", reasons=" ".join(reasons)))
    answer = str(payload.get("answer", "")).strip()
    if answer:
        parts.append(_esc(answer[:1200]))
    lesion = lesion_render.result_part(payload)
    if lesion:
        parts.append(lesion)
    if payload.get("forwarded"):
        parts.append(t_for(lang, "forwarded", worker))
    parts.append(t(lang, "disclaimer"))
    while len("\n\n".join(parts)) > MESSAGE_LIMIT and len(parts) > 2:
        parts.pop(-2)
    return "\n\n".join(parts)


def _answers_line(answers: dict[str, Any]) -> str:
    patient = answers.get("patient", {}) or {}
    given = answers.get("answers", {}) or {}
    bits = []
    age = qn.age_shown(patient)  # as the patient gave it: "16–64 years", "3 months"
    if age is not None:
        bits.append("age " + t("en", age[0], **age[1]))
    for key in ("pregnant", "immunosuppressed", "diabetes"):
        if patient.get(key):
            bits.append(key)
    if given.get("duration_days") is not None:
        bits.append(f"{given['duration_days']} days")
    if given.get("body_sites"):
        bits.append("sites: " + ", ".join(map(str, given["body_sites"])))
    if given.get("extent"):
        bits.append(f"extent: {given['extent']}")
    if given.get("symptoms"):
        bits.append("symptoms: " + ", ".join(map(str, given["symptoms"])))
    if given.get("skipped"):  # "Not sure": unknown, which is not "no"
        bits.append("not sure: " + ", ".join(map(str, given["skipped"])))
    return "; ".join(bits) or "no questionnaire answers"


def clinician_alert(case_id: int, payload: dict[str, Any], summary: dict[str, Any] | None, *, limit: int) -> str:
    """The alert in the clinician chat: tier, the rules that fired, key answers, the patient's words."""
    tier = str(payload.get("tier", "routine"))
    lines = [f"<b>{TIER_LABEL.get(tier, tier)}</b> · case #{case_id}"]
    lesion = payload.get("lesion")
    if isinstance(lesion, dict):
        changed = [k for k, v in (lesion.get("changes") or {}).items() if v == "changed"]
        name = _esc(str(lesion.get("name", ""))[:80])
        lines.append(f"📍 Tracked lesion, visit {_esc(lesion.get('visit', '?'))}: “{name}”"
                     + (f" · measured change: {', '.join(map(_esc, changed))}" if changed else ""))
    if not payload.get("model_used", True):
        lines.append("<i>Model unavailable: triaged on answers alone.</i>")
    for reason in payload.get("reasons", [])[:4]:
        words = "; ".join(f"“{_esc(e.get('text', ''))}”" for e in reason.get("evidence") or [] if e.get("text"))
        lines.append(f"• {_esc(reason.get('text', ''))} <code>{_esc(reason.get('code', ''))}</code>"
                     + (f" — <i>{words}</i>" if words else ""))
    differential = payload.get("differential", [])
    if differential:
        lines.append(
            "Model: "
            + ", ".join(f"{_esc(d.get('condition'))} {float(d.get('likelihood', 0)):.0%}" for d in differential[:3])
        )
    if summary is not None:
        lines.append(_esc(_answers_line(summary.get("answers", {}))))
        if summary.get("text"):
            lines.append("“" + isolate(_esc(str(summary["text"])[:300])) + "”")  # any script, any direction
    while len("\n".join(lines)) > limit and len(lines) > 1:
        lines.pop()  # whole lines only: a cut inside a tag would make Telegram refuse the message
    return "\n".join(lines)


ALERT_ERASED = "🗑 This case was erased at the patient's request: its photos and details are gone."


@functools.cache
def erased_placeholder() -> bytes:
    """A plain grey picture that replaces an erased case's photo in an alert Telegram no longer lets us delete."""
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 200, 200)).save(out, format="PNG")
    return out.getvalue()


def alert_digest(items: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """Several new cases for the clinicians' group in one message: number, tier and top reason of each (no
    patient's words: those are on the case page)."""
    lines = [f"<b>{len(items)} new cases need a clinician</b>"]
    for summary, payload in items:
        tier = str(payload.get("tier", "routine"))
        reasons = payload.get("reasons") or [{}]
        lines.append(f"• #{summary['id']} <b>{TIER_LABEL.get(tier, tier)}</b>: {_esc(reasons[0].get('text', ''))}")
    lines.append("Claim one below, or open the inbox.")
    text = "\n".join(lines)
    while len(text) > MESSAGE_LIMIT and len(lines) > 2:
        lines.pop(-2)
        text = "\n".join(lines)
    return text


def followup_answer(payload: dict[str, Any]) -> str:
    """The model's answer to a follow-up question, or word that it could not answer."""
    lang = str(payload.get("language", "en"))
    answer = str(payload.get("answer", "")).strip()
    label = [patient_label(payload)] if payload.get("audience") == "chw" else []
    if payload.get("left_out"):  # the model answered, but not in words a patient should rely on
        return "\n".join([*label, t(lang, "followup_left_out")])
    if payload.get("failed") or not answer:
        return "\n".join([*label, t(lang, "followup_failed")])
    return "\n\n".join([*label, _esc(answer[:3000]), t(lang, "disclaimer")])


def patient_label(payload: dict[str, Any]) -> str:
    """"Patient A12": which of a health worker's patients a message is about."""
    return t(str(payload.get("language", "en")), "for_patient", ref=_esc(str(payload.get("patient_ref", ""))[:64]))
