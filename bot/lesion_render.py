"""What the bot says about tracked lesions (`triage/tracking.py`): the offer to follow a spot under a result, the
lesion's part of a result, reminders, a clinician's notices, the /lesions list and the photo guidance. Pure:
payload or view in, text and buttons out; the buttons' data is handled in `bot/conversation/lesions.py`.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import date, t, t_for
from triage.tracking import LesionView

FEATURES = ("size", "shape", "colour")
VERDICTS = ("changed", "unchanged", "unknown")
BUTTON_NAME = 24  # characters of a lesion's name on a button, so that it fits a phone's row


def _esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def _label(payload: dict[str, Any]) -> list[str]:
    """"Patient A12" first, when a health worker reads it."""
    if payload.get("audience") != "chw":
        return []
    return [t(str(payload.get("language", "en")), "for_patient", ref=_esc(str(payload.get("patient_ref", ""))[:64]))]


def _when(language: str, iso: object) -> str:
    try:
        return date(language, dt.datetime.fromisoformat(str(iso)))
    except ValueError:
        return ""


def coin_words(language: str, coin_name: str) -> str:
    """The scale object as the patient reads it: the deployment's coin, or any silver-coloured one."""
    return _esc(coin_name) if coin_name else t(language, "lesion_coin_any")


def photo_guide(language: str, name: str, coin_name: str, worker_ref: str | None = None) -> str:
    """How to take the new photo so that it compares with the last: distance, light, the coin for scale."""
    return t_for(language, "lesion_photo_guide", worker_ref is not None, name=_esc(name),
                 coin=coin_words(language, coin_name), ref=_esc(worker_ref or ""))


def result_part(payload: dict[str, Any]) -> str:
    """The lesion's part of a visit's result: which photo of which spot, what was measured, the next photo."""
    lesion = payload.get("lesion")
    if not isinstance(lesion, dict):
        return ""
    language = str(payload.get("language", "en"))
    name, visit = _esc(str(lesion.get("name", ""))[:80]), lesion.get("visit", 1)
    changes = lesion.get("changes") or {}
    lines = []
    if changes:
        lines.append(t(language, "lesion_result", name=name, visit=visit))
        for feature in FEATURES:
            verdict = changes.get(feature) if changes.get(feature) in VERDICTS else "unknown"
            lines.append(t(language, f"lesion_feature.{feature}", verdict=t(language, f"lesion_verdict.{verdict}")))
        lines.append(t(language, "lesion_measure_note"))
    else:
        lines.append(t(language, "lesion_first", name=name, visit=visit))
    if lesion.get("next_due"):
        lines.append(t(language, "lesion_next_due", date=_when(language, lesion["next_due"])))
    return "\n".join(lines)


def result_markup(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """Under a result about a spot, mole or growth not followed yet: **Follow this spot**."""
    case_id = payload.get("trackable")
    if not isinstance(case_id, int) or isinstance(case_id, bool) or case_id <= 0:
        return None
    language = str(payload.get("language", "en"))
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(language, "btn_follow_spot"),
                                                       callback_data=f"lt:f:{case_id}")]])


def reminder(payload: dict[str, Any]) -> tuple[str, InlineKeyboardMarkup]:
    """The beat's reminder that a new photo is due, with buttons to send it or pause the reminders."""
    language = str(payload.get("language", "en"))
    lesion_id = int(payload.get("lesion_id", 0))
    name = str(payload.get("name", ""))[:80]
    text = "\n".join([*_label(payload), t(language, "lesion_reminder", name=_esc(name), visit=payload.get("visit", 2))])
    return text, InlineKeyboardMarkup([
        [InlineKeyboardButton(t(language, "btn_lesion_photo", name=name[:BUTTON_NAME]),
                              callback_data=f"lt:p:{lesion_id}")],
        [InlineKeyboardButton(t(language, "btn_lesion_pause", name=name[:BUTTON_NAME]),
                              callback_data=f"lt:z:{lesion_id}")],
    ])


def notice(payload: dict[str, Any]) -> str:
    """A clinician's change to a lesion's follow-up, told to the patient (or their health worker)."""
    language = str(payload.get("language", "en"))
    event = str(payload.get("event", ""))
    if event not in ("requested", "interval", "stopped"):
        event = "interval"
    text = t(language, f"lesion_notice.{event}", name=_esc(str(payload.get("name", ""))[:80]),
             clinician=_esc(str(payload.get("clinician") or "")[:200]), date=_when(language, payload.get("next_due")))
    return "\n".join([*_label(payload), text])


def lesion_line(language: str, lesion: LesionView, health_worker: bool) -> str:
    """One line of /lesions: the spot, its site, how many photos, the last and the next."""
    site = f" ({t(language, f'site.{lesion.body_site}')})" if lesion.body_site else ""
    parts = [t(language, "lesion_line", name=_esc(lesion.name), site=site, visits=lesion.visits,
               last=date(language, lesion.last_visit_at) if lesion.last_visit_at else "–")]
    if lesion.paused:
        parts.append(t(language, "lesion_paused_line"))
    elif lesion.next_due_at is not None:
        parts.append(t(language, "lesion_next_line", date=date(language, lesion.next_due_at)))
    line = " · ".join(parts)
    if health_worker:
        line = t(language, "for_patient", ref=_esc(lesion.patient_ref)) + " · " + line
    return line


def list_markup(language: str, lesions: list[LesionView]) -> InlineKeyboardMarkup:
    """A row per lesion: a new photo, pause or resume, stop."""
    rows = []
    for lesion in lesions:
        name = lesion.name[:BUTTON_NAME]
        key, action = ("btn_lesion_resume", "r") if lesion.paused else ("btn_lesion_pause", "z")
        rows.append([InlineKeyboardButton(t(language, "btn_lesion_photo", name=name),
                                          callback_data=f"lt:p:{lesion.id}")])
        rows.append([InlineKeyboardButton(t(language, key, name=name), callback_data=f"lt:{action}:{lesion.id}"),
                     InlineKeyboardButton(t(language, "btn_lesion_stop", name=name),
                                          callback_data=f"lt:s:{lesion.id}")])
    return InlineKeyboardMarkup(rows)
