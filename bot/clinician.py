"""The clinicians' side of the bot: buttons on case alerts, the Claim button, and replies relayed to patients.

A forwarded case's alert carries two buttons: "Claim" (callback `claim:<case_id>:<public_ref>`) and "Open in
inbox" (a link with the same reference, when `INBOX_BASE_URL` is set). The random reference beside the number
means a button can only ever act on the case it was made for: an alert whose case was erased cannot reach
another case, and a button without it (from an older release) is refused. Only registered, active clinicians of
the case's organisation, recognised by their Telegram user id, can claim; anyone else gets a polite refusal and
nothing changes. On a claim the alert's buttons change to say who holds the case, so the group sees it at once
(in a summary of several alerts, only that case's button).
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot import render
from bot.services import services_of
from bot.texts import t
from triage import accounts, review
from triage.config import Settings

log = logging.getLogger(__name__)

CLAIM_PATTERN = r"^claim:"
_CLAIM_DATA = re.compile(r"^claim:([0-9]{1,10}):([A-Za-z0-9_-]{8})$")
MESSAGE_LIMIT = 4096

NOT_A_CLINICIAN = (
    "Sorry, only registered clinicians of this service can use these buttons. "
    "If you are one, ask an administrator to link your Telegram account."
)
NOT_AVAILABLE = "Sorry, this case is not available to you."
OUT_OF_DATE = "This alert is out of date: its case is no longer in the inbox. Open the inbox to see the queue."

# The patient-facing header of a clinician's reply, in every language the bot speaks (bot/texts.py LANGUAGES).


def inbox_case_url(case_id: int, ref: str, settings: Settings) -> str | None:
    """The case's page in the web inbox (`INBOX_BASE_URL` is the inbox's own URL), or None when not set."""
    base = settings.inbox_base_url.rstrip("/")
    return f"{base}/cases/{case_id}?ref={ref}" if base else None


def _open_button(case_id: int, ref: str, settings: Settings) -> list[InlineKeyboardButton]:
    url = inbox_case_url(case_id, ref, settings)
    return [InlineKeyboardButton("Open in inbox", url=url)] if url else []


def alert_markup(case_id: int, ref: str, settings: Settings) -> InlineKeyboardMarkup:
    """The buttons of a new case alert: Claim, and Open in inbox when the inbox has a public URL."""
    row = [InlineKeyboardButton("Claim", callback_data=f"claim:{case_id}:{ref}"),
           *_open_button(case_id, ref, settings)]
    return InlineKeyboardMarkup([row])


def claimed_markup(case_id: int, ref: str, clinician: str, settings: Settings) -> InlineKeyboardMarkup:
    """The buttons once a case is claimed: who holds it (pressing it again says so), and Open in inbox."""
    label = f"✅ Claimed by {clinician}"[:64]
    row = [InlineKeyboardButton(label, callback_data=f"claim:{case_id}:{ref}"), *_open_button(case_id, ref, settings)]
    return InlineKeyboardMarkup([row])


def digest_markup(cases: list[tuple[int, str]], settings: Settings) -> InlineKeyboardMarkup:
    """A Claim button per case of an alert summary, two to a row, and Open inbox when it has a public URL."""
    buttons = [InlineKeyboardButton(f"Claim #{case_id}", callback_data=f"claim:{case_id}:{ref}")
               for case_id, ref in cases]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    base = settings.inbox_base_url.rstrip("/")
    if base:
        rows.append([InlineKeyboardButton("Open inbox", url=f"{base}/")])
    return InlineKeyboardMarkup(rows)


def _after_claim(markup: InlineKeyboardMarkup | None, data: str, case_id: int, ref: str, clinician: str,
                 settings: Settings) -> InlineKeyboardMarkup:
    """The alert's buttons once its case is claimed: in a summary only the pressed button changes."""
    if markup is None:
        return claimed_markup(case_id, ref, clinician, settings)
    claims = [b for row in markup.inline_keyboard for b in row if str(b.callback_data or "").startswith("claim:")]
    if len(claims) <= 1:
        return claimed_markup(case_id, ref, clinician, settings)
    label = f"✅ #{case_id} {clinician}"[:64]
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) if b.callback_data == data else b
                                  for b in row] for row in markup.inline_keyboard])


def alert_prefix(payload: dict[str, Any]) -> str:
    """A first line for a repeated alert (`payload["realert"]` is its round), else nothing."""
    round_no = payload.get("realert")
    if not isinstance(round_no, int) or round_no < 1:
        return ""
    return f"🔔 <b>Reminder {round_no}: still unclaimed</b>\n"


def _escape_within(text: str, room: int) -> str:
    """`text` HTML-escaped in at most `room` characters: cut between characters, never inside an entity."""
    escaped = html.escape(text, quote=False)
    if len(escaped) <= room:
        return escaped
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = html.escape(char, quote=False)
        if used + len(piece) > room - 1:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces) + "…"


def render_reply(payload: dict[str, Any]) -> str:
    """A clinician's reply as the patient reads it (HTML parse mode): who writes, their words, what to do."""
    language = str(payload.get("language", "en"))
    clinician = html.escape(str(payload.get("clinician") or "a clinician"), quote=False)[:200]
    header = t(language, "clinician_reply_header", clinician=clinician)
    if payload.get("audience") == "chw":  # to a health worker: which of their patients this is about
        header = render.patient_label(payload) + "\n" + header
    footer = t(language, "clinician_reply_footer")
    body = _escape_within(str(payload.get("text", "")), MESSAGE_LIMIT - len(header) - len(footer) - 4)
    return f"{header}\n\n{body}\n\n{footer}"


async def claim_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Claim the case of an alert for the clinician who pressed "Claim"."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    services = services_of(context)
    parsed = _CLAIM_DATA.match(query.data or "")
    if parsed is None:
        await query.answer(OUT_OF_DATE, show_alert=True)
        return
    case_id, ref = int(parsed.group(1)), parsed.group(2)
    clinician = await services.run(accounts.find_by_telegram_user, services.sessions, user.id)
    if clinician is None:
        log.info("claim of case %s refused: Telegram user is not a registered clinician", case_id)
        await query.answer(NOT_A_CLINICIAN, show_alert=True)
        return
    try:
        result = await services.run(review.claim, services.sessions, clinician, case_id, via="telegram", ref=ref)
    except review.CaseNotFound:
        await query.answer(NOT_AVAILABLE, show_alert=True)
        return
    except review.StaleReference:
        await query.answer(OUT_OF_DATE, show_alert=True)
        return
    except review.ReviewConflict as exc:
        await query.answer(f"Sorry, {exc}.", show_alert=True)
        return
    if result.newly_claimed:
        await query.answer(f"You have claimed case #{case_id}.")
    else:
        await query.answer(f"You already hold case #{case_id}.")
    try:
        current = getattr(query.message, "reply_markup", None)
        await query.edit_message_reply_markup(_after_claim(current, query.data or "", case_id, ref,
                                                           result.claimed_by, services.settings))
    except TelegramError as exc:  # "message is not modified" and the like: the claim itself stands
        log.info("case %s: alert buttons not updated (%s)", case_id, exc.__class__.__name__)


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the clinician handlers; register before the patient handlers."""
    application.add_handler(CallbackQueryHandler(claim_button, pattern=CLAIM_PATTERN))
