"""Starting a case and collecting its 1-3 photos: each checked, stripped of metadata, encrypted, stored.

A photo that fails the quality check is not acknowledged as received: the patient is asked to retake it (the
retake replaces it) or to continue with it anyway. A photo Telegram delivers twice (a repeated webhook delivery,
an album part resent by a phone that was offline) is stored once.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import NetworkError, RetryAfter, TelegramError

from bot import questionnaire as qn
from bot.conversation import questions
from bot.conversation.turn import Context, Turn
from bot.texts import t
from triage import cases
from triage.images import ImageRejected, sanitize_image
from triage.untrusted import clean_text

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
LATE_PHOTO_STATES = ("q", "free_text", "confirm", "emergency")


def photos_keyboard(language: str, nonce: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(language, "btn_continue"),
                                                       callback_data=f"ph:{nonce}:done")]])


async def new_case(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    patient = turn.patient
    if patient is None or not patient.consented:
        await turn.reply(turn.t("need_consent"))
        return
    services = turn.services
    if patient.is_health_worker and patient.subject_id is None:
        await turn.reply(turn.t("hw_choose_patient"))
        return
    await services.run(cases.start_case, services.sessions, services.images, patient_id=patient.id,
                       language=patient.language, organisation=patient.organisation, nonce=turn.nonce + 1,
                       subject_id=patient.subject_id)
    await turn.refresh()
    await turn.reply(turn.t("ask_photo"))


async def photo(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    message = update.effective_message
    if message is None or not turn.consented:
        await turn.reply(turn.t("need_consent"))
        return
    if turn.patient is not None and turn.patient.state == "idle":
        await new_case(update, context)
        await turn.refresh()
    patient = turn.patient
    # A photo that arrives after the questions began (the rest of an album sent from a phone that was offline, or
    # delivered late) still belongs to the case being prepared: it is added, and the conversation stays where it is.
    late = patient is not None and patient.state in LATE_PHOTO_STATES and patient.case_id is not None
    if patient is None or (patient.state != "photos" and not late) or patient.case_id is None:
        await turn.reply(turn.t(turn.hint() if patient is None or patient.state != "result" else "photo_needs_new"))
        return
    attachment: Any
    if message.photo:
        attachment = message.photo[-1]
    elif message.document is not None:
        attachment = message.document
        mime = (message.document.mime_type or "").lower()
        if mime and mime not in IMAGE_MIME_TYPES:
            await turn.reply(turn.t("photo_unreadable"))
            return
    else:
        await turn.reply(turn.t("need_photo"))
        return
    services = turn.services
    limit = min(services.settings.max_image_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    mb = limit // (1024 * 1024)
    if attachment.file_size and attachment.file_size > limit:
        await turn.reply(turn.t("photo_too_large", mb=mb))
        return
    try:
        tg_file = await context.bot.get_file(attachment.file_id)
        raw = bytes(await tg_file.download_as_bytearray())
    except TelegramError as exc:
        if isinstance(exc, (NetworkError, RetryAfter)) and services.settings.telegram_mode == "webhook":
            # Telegram away, slow or busy (429) for a moment: the webhook answers 503 and Telegram delivers the
            # photo again, so the patient need not send it twice. (Polling has no second delivery: the patient is
            # asked.)
            raise
        log.warning("photo download failed: %s", exc.__class__.__name__)
        await turn.reply(turn.t("photo_download_failed"))
        return
    try:
        clean = await services.run(sanitize_image, raw, max_bytes=limit, max_pixels=services.settings.max_image_pixels)
    except ImageRejected as exc:
        key = {"too_large": "photo_too_large", "too_many_pixels": "photo_too_many_pixels"}.get(exc.reason,
                                                                                                "photo_unreadable")
        await turn.reply(turn.t(key, mb=mb))
        return
    try:
        count, _ = await services.run(cases.add_image, services.sessions, services.images, case_id=patient.case_id,
                                      image=clean, telegram_file_unique_id=attachment.file_unique_id)
    except cases.TooManyImages:
        await turn.reply(turn.t("photo_limit", n=cases.MAX_IMAGES), photos_keyboard(turn.language, turn.nonce))
        return
    except cases.DuplicateImage:  # the same photo again: already stored, already answered
        return
    caption = clean_text(message.caption or "").strip()[:1000]
    if late:
        if caption:  # words that came with it are kept with the others
            view = await turn.case()
            combined = "\n".join(p for p in ((view.text if view else ""), caption) if p)[:4000]
            await turn.save(patient.state, patient.data, text=combined)
        await turn.reply(turn.t("photo_added_late", n=count))
        return
    if caption:
        await turn.save("photos", patient.data, text=caption)
    verdict = str(clean.quality.get("verdict", "good"))
    if verdict != "good":  # not "received ✓": the patient is asked to retake it, or to go on with it anyway
        text = turn.t(f"quality.{verdict}")
    elif count < cases.MAX_IMAGES:
        text = turn.t("photo_received", n=count) + "\n" + turn.t("photo_more")
    else:
        text = turn.t("photo_received", n=count)
    await turn.reply(text, photos_keyboard(turn.language, turn.nonce))


async def photos_done(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    turn = await Turn.of(update, context)
    patient = turn.patient
    nonce = int((query.data or "ph:-1:done").split(":")[1])
    if patient is None or patient.state != "photos" or nonce != turn.nonce or patient.case_id is None:
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    view = await turn.case()
    if view is None or view.image_count == 0:
        await turn.reply(turn.t("need_photo"))
        return
    await questions.go_to_step(turn, view.answers, qn.next_step(None, view.answers), view.text)
