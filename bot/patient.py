"""The patient conversation: consent, a photo with a caption, the case queued for analysis.

The patient's place in the conversation is stored in the database (`Patient.conversation_state`), not in
memory, so a restart or a second web process picks up where the patient was.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.services import services_of
from bot.texts import pick_language, t
from triage import cases
from triage.images import ImageRejected, sanitize_image

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024


def _language(update: Update, patient: cases.PatientView | None) -> str:
    if patient is not None:
        return patient.language
    user = update.effective_user
    return pick_language(user.language_code if user else None)


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    user = update.effective_user
    if user is None:
        return
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    language = _language(update, patient)
    if patient is not None and patient.consented and patient.state == "waiting_result":
        await _reply(update, t(language, "waiting"))
        return
    if patient is not None and patient.consented:
        await services.run(cases.set_state, services.sessions, patient.id, "awaiting_photo", {})
        await _reply(update, t(language, "ask_photo"))
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "consent_yes"), callback_data=f"consent:yes:{language}"),
                InlineKeyboardButton(t(language, "consent_no"), callback_data=f"consent:no:{language}"),
            ]
        ]
    )
    await _reply(update, t(language, "consent", days=services.settings.retention_days), keyboard)


async def consent_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    await query.answer()
    _, answer, language = (query.data or "consent:no:en").split(":", 2)
    language = pick_language(language)
    if answer != "yes":
        await _reply(update, t(language, "declined"))
        return
    services = services_of(context)
    await services.run(
        cases.record_consent,
        services.sessions,
        telegram_user_id=user.id,
        chat_id=chat.id,
        language=language,
        consent_version=services.settings.consent_version,
    )
    await _reply(update, t(language, "ask_photo"))


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    language = _language(update, patient)
    if patient is None or not patient.consented:
        await _reply(update, t(language, "need_consent"))
        return
    if patient.state == "waiting_result":
        await _reply(update, t(language, "waiting"))
        return
    if message.photo:
        attachment = message.photo[-1]
    elif message.document is not None:
        attachment = message.document
    else:
        await _reply(update, t(language, "need_photo"))
        return
    limit = min(services.settings.max_image_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    if attachment.file_size and attachment.file_size > limit:
        await _reply(update, t(language, "photo_too_large", mb=limit // (1024 * 1024)))
        return
    try:
        tg_file = await context.bot.get_file(attachment.file_id)
        raw = bytes(await tg_file.download_as_bytearray())
    except TelegramError as exc:
        log.warning("photo download failed: %s", exc.__class__.__name__)
        await _reply(update, t(language, "photo_download_failed"))
        return
    try:
        clean = await services.run(sanitize_image, raw, max_bytes=limit, max_pixels=services.settings.max_image_pixels)
    except ImageRejected as exc:
        key = {"too_large": "photo_too_large", "too_many_pixels": "photo_too_many_pixels"}.get(
            exc.reason, "photo_unreadable"
        )
        await _reply(update, t(language, key, mb=limit // (1024 * 1024)))
        return
    text = (message.caption or "").strip()[:2000]
    case_id = await services.run(
        cases.submit_photo_case,
        services.sessions,
        services.images,
        patient_id=patient.id,
        image=clean,
        text=text,
        answers={},
        language=language,
        organisation=services.settings.organisation,
        telegram_file_unique_id=attachment.file_unique_id,
    )
    await services.run(services.send_analysis, case_id)
    await _reply(update, t(language, "analysing"))
    if update.effective_chat is not None:
        await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    user = update.effective_user
    if user is None:
        return
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    language = _language(update, patient)
    if patient is None or not patient.consented:
        await _reply(update, t(language, "need_consent"))
    elif patient.state == "waiting_result":
        await _reply(update, t(language, "waiting"))
    else:
        await _reply(update, t(language, "need_photo"))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    user = update.effective_user
    if user is None:
        return
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    if patient is not None and patient.state == "awaiting_photo":
        await services.run(cases.set_state, services.sessions, patient.id, "idle", {})
    await _reply(update, t(_language(update, patient), "cancelled"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    user = update.effective_user
    patient = await services.run(cases.get_patient, services.sessions, user.id) if user else None
    await _reply(update, t(_language(update, patient), "help"))


async def delete_request(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    user = update.effective_user
    if user is None:
        return
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    language = _language(update, patient)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(language, "delete_yes"), callback_data="delete:yes"),
                InlineKeyboardButton(t(language, "delete_no"), callback_data="delete:no"),
            ]
        ]
    )
    await _reply(update, t(language, "delete_confirm"), keyboard)


async def delete_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    await query.answer()
    patient = await services.run(cases.get_patient, services.sessions, user.id)
    language = _language(update, patient)
    if query.data != "delete:yes":
        await _reply(update, t(language, "delete_kept"))
        return
    erased = await services.run(cases.erase_patient, services.sessions, services.images, user.id)
    await _reply(update, t(language, "deleted" if erased is not None else "nothing_to_delete"))


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the patient handlers, in order. Group chats are left to the clinician handlers."""
    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", start, filters=private))
    application.add_handler(CommandHandler("cancel", cancel, filters=private))
    application.add_handler(CommandHandler("help", help_command, filters=private))
    application.add_handler(CommandHandler("delete", delete_request, filters=private))
    application.add_handler(CallbackQueryHandler(delete_answer, pattern=r"^delete:(yes|no)$"))
    application.add_handler(CallbackQueryHandler(consent_answer, pattern=r"^consent:(yes|no):[a-z]{2}$"))
    application.add_handler(MessageHandler(private & (filters.PHOTO | filters.Document.ALL), photo))
    application.add_handler(MessageHandler(private & filters.ALL & ~filters.COMMAND, text))
