"""The patient conversation: language and consent, photos, questionnaire, free text, confirmation, results and
follow-up questions, and the commands around them.

The patient's place is stored in the database (`Patient.conversation_state` / `conversation_data`), never only in
memory, so a restart or a second web process picks up exactly where the patient was. States:
`idle` → `photos` → `q` (one questionnaire step at a time) → `free_text` → `confirm` → `waiting_result` → `result`.
Buttons carry a nonce; a button from an older message is refused politely instead of acting twice.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot import questionnaire as qn
from bot.services import Services, services_of
from bot.texts import LANGUAGE_NAMES, LANGUAGES, pick_language, t
from triage import cases
from triage.images import ImageRejected, sanitize_image
from triage.rules import CaseError, assess, parse_case

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")


# -- small helpers ----------------------------------------------------------------------------------------------
def _language(update: Update, patient: cases.PatientView | None) -> str:
    if patient is not None:
        return patient.language
    user = update.effective_user
    return pick_language(user.language_code if user else None)


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def _patient(update: Update, services: Services) -> cases.PatientView | None:
    user = update.effective_user
    return await services.get_patient(user.id) if user else None


def _nonce(patient: cases.PatientView) -> int:
    value = patient.data.get("nonce", 0)
    return int(value) if isinstance(value, int) else 0


def _hint(patient: cases.PatientView | None) -> str:
    """The message key that tells the patient what to do next from where they are."""
    if patient is None or not patient.consented:
        return "need_consent"
    return {"photos": "need_photo", "q": "use_buttons", "confirm": "use_buttons", "free_text": "type_or_skip",
            "waiting_result": "waiting", "result": "result_hint"}.get(patient.state, "idle_hint")


def _consent_keyboard(language: str) -> InlineKeyboardMarkup:
    languages = [InlineKeyboardButton(("• " if code == language else "") + LANGUAGE_NAMES[code],
                                      callback_data=f"lang:{code}") for code in LANGUAGES]
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(language, "consent_yes"), callback_data=f"consent:yes:{language}"),
         InlineKeyboardButton(t(language, "consent_no"), callback_data=f"consent:no:{language}")],
        languages,
    ])


def _question_keyboard(step: qn.Step, language: str, answers: dict[str, Any], nonce: int) -> InlineKeyboardMarkup:
    chosen = qn.selected(step, answers)
    buttons = [InlineKeyboardButton(("✓ " if o.code in chosen else "") + t(language, o.label),
                                    callback_data=f"q:{nonce}:{step.key}:{o.code}") for o in step.options]
    rows = [buttons[i: i + step.columns] for i in range(0, len(buttons), step.columns)]
    nav = [InlineKeyboardButton(t(language, "btn_back"), callback_data=f"q:{nonce}:{step.key}:_back")]
    if step.kind == "multi":
        label = "btn_done" if chosen else "btn_none"
        nav.append(InlineKeyboardButton(t(language, label), callback_data=f"q:{nonce}:{step.key}:_done"))
    else:
        nav.append(InlineKeyboardButton(t(language, "btn_skip"), callback_data=f"q:{nonce}:{step.key}:_skip"))
    return InlineKeyboardMarkup([*rows, nav])


def _symptom_labels(language: str, answers: dict[str, Any]) -> str:
    return ", ".join(t(language, f"symptom.{s}") for s in answers["answers"].get("symptoms", []) if s != "near_eye")


def _summary(language: str, view: cases.CaseView) -> str:
    """The confirmation screen: everything the patient is about to send, in their words and ours."""
    patient, given = view.answers.get("patient", {}), view.answers.get("answers", {})
    unknown = t(language, "unknown")
    lines = [t(language, "confirm_title"), t(language, "sum.photos", n=view.image_count)]
    age = patient.get("age_years")
    lines.append(t(language, "sum.age", value=unknown if age is None else t(language, "years", n=_fmt_age(age))))
    sites = ", ".join(t(language, f"site.{s}") for s in given.get("body_sites", [])) or unknown
    lines.append(t(language, "sum.sites", value=sites))
    duration = given.get("duration_days")
    duration_code = next((o.code for o in qn.BY_KEY["duration"].options if o.value == duration), None)
    lines.append(t(language, "sum.duration", value=t(language, f"duration.{duration_code}") if duration_code
                   else unknown))
    extent = given.get("extent")
    lines.append(t(language, "sum.extent", value=t(language, f"extent.{extent}") if extent else unknown))
    lines.append(t(language, "sum.symptoms", value=_symptom_labels(language, view.answers) or t(language, "none")))
    flags = [t(language, f"sum.{k}") for k in ("pregnant", "immunosuppressed", "diabetes") if patient.get(k)]
    if flags:
        lines.append(", ".join(flags))
    if view.text:
        lines.append(t(language, "sum.text", value=_esc(view.text[:500])))
    return "\n".join(lines)


def _fmt_age(age: float) -> str:
    return str(int(age)) if age >= 1 or age == 0 else f"{age:.2f}"


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=False)


async def _acknowledge(context: ContextTypes.DEFAULT_TYPE, query: CallbackQuery) -> None:
    """Stop the button's spinner without making the patient wait for that round trip before the next message."""
    if context.application.running:
        context.application.create_task(query.answer(), update=None, name="answer-callback")
    else:  # shutting down: no background tasks any more
        await query.answer()


def _is_emergency(answers: dict[str, Any], text: str) -> bool:
    """Whether the answers so far already mean "emergency" (the same rules the worker applies)."""
    try:
        case = parse_case({"patient": answers.get("patient", {}), "answers": answers.get("answers", {}),
                           "text": text})
    except CaseError:  # cannot happen with the questionnaire's own answers; never block the patient on it
        log.exception("stored answers do not parse as a triage case")
        return False
    return assess(case).tier == "emergency"


# -- /start, language and consent -------------------------------------------------------------------------------
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    if patient is None or not patient.consented:
        await _reply(update, t(language, "consent", days=services.settings.retention_days),
                     _consent_keyboard(language))
        return
    if patient.state in ("photos", "q", "free_text", "confirm"):
        await _reply(update, t(language, "resuming"))
        await _show_current(update, services, patient)
        return
    if patient.state == "waiting_result":
        await _reply(update, t(language, "waiting"))
        return
    await new_case(update, context)


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A language button: on the consent message it re-renders the notice; otherwise it changes the language."""
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    language = pick_language((query.data or "").removeprefix("lang:"))
    patient = await _patient(update, services)
    await _acknowledge(context, query)
    if patient is None or not patient.consented:
        try:
            await query.edit_message_text(t(language, "consent", days=services.settings.retention_days),
                                          parse_mode=ParseMode.HTML, reply_markup=_consent_keyboard(language))
        except BadRequest:  # the same language again: "message is not modified"
            pass
        return
    await services.run(cases.set_language, services.sessions, patient.id, language)
    await _reply(update, t(language, "language_set"))


async def consent_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    await _acknowledge(context, query)
    _, answer, language = (query.data or "consent:no:en").split(":", 2)
    language = pick_language(language)
    if answer != "yes":
        await _reply(update, t(language, "declined"))
        return
    services = services_of(context)
    existing = await _patient(update, services)
    if existing is not None and existing.consented:
        await _reply(update, t(existing.language, _hint(existing)))
        return
    await services.run(cases.record_consent, services.sessions, telegram_user_id=user.id, chat_id=chat.id,
                       language=language, consent_version=services.settings.consent_version)
    await new_case(update, context)


# -- photos -----------------------------------------------------------------------------------------------------
async def new_case(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    if patient is None or not patient.consented:
        await _reply(update, t(_language(update, patient), "need_consent"))
        return
    await services.run(cases.start_case, services.sessions, services.images, patient_id=patient.id,
                       language=patient.language, organisation=services.settings.organisation,
                       nonce=_nonce(patient) + 1)
    await _reply(update, t(patient.language, "ask_photo"))


def _photos_keyboard(language: str, nonce: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(language, "btn_continue"),
                                                       callback_data=f"ph:{nonce}:done")]])


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    message = update.effective_message
    patient = await _patient(update, services)
    language = _language(update, patient)
    if message is None or patient is None or not patient.consented:
        await _reply(update, t(language, "need_consent"))
        return
    if patient.state == "idle":
        await new_case(update, context)
        patient = await _patient(update, services)
        assert patient is not None
    if patient.state != "photos" or patient.case_id is None:
        await _reply(update, t(language, _hint(patient) if patient.state != "result" else "photo_needs_new"))
        return
    attachment: Any
    if message.photo:
        attachment = message.photo[-1]
    elif message.document is not None:
        attachment = message.document
        mime = (message.document.mime_type or "").lower()
        if mime and mime not in IMAGE_MIME_TYPES:
            await _reply(update, t(language, "photo_unreadable"))
            return
    else:
        await _reply(update, t(language, "need_photo"))
        return
    limit = min(services.settings.max_image_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    mb = limit // (1024 * 1024)
    if attachment.file_size and attachment.file_size > limit:
        await _reply(update, t(language, "photo_too_large", mb=mb))
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
        key = {"too_large": "photo_too_large", "too_many_pixels": "photo_too_many_pixels"}.get(exc.reason,
                                                                                                "photo_unreadable")
        await _reply(update, t(language, key, mb=mb))
        return
    try:
        count, _ = await services.run(cases.add_image, services.sessions, services.images, case_id=patient.case_id,
                                      image=clean, telegram_file_unique_id=attachment.file_unique_id)
    except cases.TooManyImages:
        await _reply(update, t(language, "photo_limit", n=cases.MAX_IMAGES), _photos_keyboard(language,
                                                                                             _nonce(patient)))
        return
    caption = (message.caption or "").strip()[:1000]
    if caption:
        await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                     state="photos", data=patient.data, text=caption)
    verdict = str(clean.quality.get("verdict", "good"))
    parts = [t(language, "photo_received", n=count)]
    if verdict != "good":
        parts.append(t(language, f"quality.{verdict}"))
    elif count < cases.MAX_IMAGES:
        parts.append(t(language, "photo_more"))
    await _reply(update, "\n".join(parts), _photos_keyboard(language, _nonce(patient)))


async def photos_done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    nonce = int((query.data or "ph:-1:done").split(":")[1])
    if patient is None or patient.state != "photos" or nonce != _nonce(patient) or patient.case_id is None:
        await query.answer(t(language, "stale_button"), show_alert=True)
        return
    await _acknowledge(context, query)
    view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
    if view is None or view.image_count == 0:
        await _reply(update, t(language, "need_photo"))
        return
    await _go_to_step(update, services, patient, view.answers, qn.FIRST, view.text)


# -- questionnaire ----------------------------------------------------------------------------------------------
async def _go_to_step(update: Update, services: Services, patient: cases.PatientView, answers: dict[str, Any],
                      step_key: str | None, text: str) -> None:
    """Store the answers and the next place, then show it (a question, the free-text prompt)."""
    assert patient.case_id is not None
    nonce = _nonce(patient) + 1
    data: dict[str, Any] = {"case_id": patient.case_id, "nonce": nonce, "warned": bool(patient.data.get("warned"))}
    if not data["warned"] and _is_emergency(answers, text):
        data["warned"] = True
        await _reply(update, t(patient.language, "emergency_now"))
    if step_key is None:
        await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                     state="free_text", data=data, answers=answers)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(t(patient.language, "btn_skip"),
                                                             callback_data=f"ft:{nonce}:skip")]])
        await _reply(update, t(patient.language, "ask_text"), markup)
        return
    data["step"] = step_key
    await services.save_progress(patient_id=patient.id, case_id=patient.case_id, state="q", data=data, answers=answers)
    step = qn.BY_KEY[step_key]
    await _reply(update, t(patient.language, step.prompt), _question_keyboard(step, patient.language, answers, nonce))


async def _show_current(update: Update, services: Services, patient: cases.PatientView) -> None:
    """Show the patient's current place again (after a restart, /start, or an unexpected message)."""
    if patient.case_id is None:
        await _reply(update, t(patient.language, _hint(patient)))
        return
    view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
    if view is None:
        await _reply(update, t(patient.language, "idle_hint"))
        return
    if patient.state == "q":
        await _go_to_step(update, services, patient, view.answers, str(patient.data.get("step", qn.FIRST)), view.text)
    elif patient.state == "free_text":
        await _go_to_step(update, services, patient, view.answers, None, view.text)
    elif patient.state == "confirm":
        await _show_confirm(update, services, patient)
    else:
        await _reply(update, t(patient.language, "ask_photo"), _photos_keyboard(patient.language, _nonce(patient))
                     if view.image_count else None)


async def question_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    services = services_of(context)
    ctx = await services.step_context(user.id)
    patient = ctx.patient if ctx is not None else None
    language = _language(update, patient)
    try:
        _, nonce_text, step_key, code = (query.data or "").split(":", 3)
        nonce = int(nonce_text)
        step = qn.BY_KEY[step_key]
    except (ValueError, KeyError):
        await query.answer(t(language, "stale_button"), show_alert=True)
        return
    if (ctx is None or patient is None or patient.state != "q" or patient.data.get("step") != step_key
            or nonce != _nonce(patient) or patient.case_id is None or not ctx.answers):
        await query.answer(t(language, "stale_button"), show_alert=True)
        return
    await _acknowledge(context, query)
    answers = ctx.answers
    if code == "_back":
        previous = qn.previous_step(step_key, answers)
        await _go_to_step(update, services, patient, answers, previous or step_key, ctx.text)
        return
    if code in ("_skip", "_done"):
        answers = qn.skip(step, answers)
        await _go_to_step(update, services, patient, answers, qn.next_step(step_key, answers), ctx.text)
        return
    option = next((o for o in step.options if o.code == code), None)
    if option is None:
        return
    if step.kind == "multi":
        answers = qn.toggle(step, answers, code)
        await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                     state="q", data=patient.data, answers=answers)
        try:
            await query.edit_message_reply_markup(_question_keyboard(step, language, answers, nonce))
        except BadRequest:
            pass
        return
    answers = qn.choose(step, answers, option.value)
    await _go_to_step(update, services, patient, answers, qn.next_step(step_key, answers), ctx.text)


# -- free text, confirmation, submission ------------------------------------------------------------------------
async def _show_confirm(update: Update, services: Services, patient: cases.PatientView) -> None:
    assert patient.case_id is not None
    view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
    if view is None:
        return
    nonce = _nonce(patient) + 1
    await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                 state="confirm", data={**patient.data, "nonce": nonce})
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(t(patient.language, "btn_submit"), callback_data=f"cf:{nonce}:submit")],
        [InlineKeyboardButton(t(patient.language, "btn_change"), callback_data=f"cf:{nonce}:change"),
         InlineKeyboardButton(t(patient.language, "btn_cancel"), callback_data=f"cf:{nonce}:cancel")],
    ])
    await _reply(update, _summary(patient.language, view), markup)


async def free_text_skip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    services = services_of(context)
    patient = await _patient(update, services)
    nonce = int((query.data or "ft:-1:skip").split(":")[1])
    if patient is None or patient.state != "free_text" or nonce != _nonce(patient):
        await query.answer(t(_language(update, patient), "stale_button"), show_alert=True)
        return
    await _acknowledge(context, query)
    await _show_confirm(update, services, patient)


async def confirm_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    _, nonce_text, action = ((query.data or "") + "::").split(":", 3)[:3]
    if (patient is None or patient.state != "confirm" or not nonce_text.lstrip("-").isdigit()
            or int(nonce_text) != _nonce(patient) or patient.case_id is None
            or action not in ("submit", "change", "cancel")):
        await query.answer(t(language, "stale_button"), show_alert=True)
        return
    await _acknowledge(context, query)
    if action == "cancel":
        await services.run(cases.cancel_case, services.sessions, services.images, patient.id)
        await _reply(update, t(language, "cancelled"))
        return
    if action == "change":
        view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
        if view is not None:
            await _go_to_step(update, services, patient, view.answers, qn.FIRST, view.text)
        return
    submitted = await services.run(cases.submit_case, services.sessions, patient_id=patient.id,
                                   case_id=patient.case_id)
    if not submitted:
        await _reply(update, t(language, "need_photo"))
        return
    # Told before the task is queued, so that a fast answer can never arrive before "being analysed".
    await _reply(update, t(language, "analysing"))
    # Sent only now that the case is committed as queued; if this fails, the beat job sends it again.
    try:
        await services.run(services.send_analysis, patient.case_id)
    except Exception:
        log.exception("case %s: could not queue the analysis; the recovery job will", patient.case_id)
    await context.bot.send_chat_action(chat.id, ChatAction.TYPING)


# -- text and everything else -----------------------------------------------------------------------------------
async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    message = update.effective_message
    patient = await _patient(update, services)
    language = _language(update, patient)
    body = (message.text or "").strip() if message else ""
    if patient is None or not patient.consented or not body:
        await _reply(update, t(language, _hint(patient)))
        return
    if patient.state == "q" and patient.case_id is not None:
        step = qn.BY_KEY.get(str(patient.data.get("step")))
        age = qn.parse_age(body) if step is not None and step.typed else None
        if step is not None and age is not None:
            view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
            if view is not None:
                answers = qn.choose(step, view.answers, age)
                await _go_to_step(update, services, patient, answers, qn.next_step(step.key, answers), view.text)
                return
        await _reply(update, t(language, "use_buttons"))
        return
    if patient.state == "free_text" and patient.case_id is not None:
        view = await services.run(cases.get_case, services.sessions, patient.id, patient.case_id)
        combined = "\n".join(p for p in ((view.text if view else ""), body[:2000]) if p)
        await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                     state="free_text", data=patient.data, text=combined[:4000])
        if not patient.data.get("warned") and view is not None and _is_emergency(view.answers, combined):
            await services.save_progress(patient_id=patient.id, case_id=patient.case_id,
                                         state="free_text", data={**patient.data, "warned": True})
            await _reply(update, t(language, "emergency_now"))
        await _show_confirm(update, services, await _patient(update, services) or patient)
        return
    if patient.state == "result" and patient.case_id is not None:
        message_id = await services.run(cases.add_followup, services.sessions, patient_id=patient.id,
                                        case_id=patient.case_id, text=body[:2000])
        if message_id is not None:
            await services.run(services.send_followup, patient.case_id, message_id)
            await _reply(update, t(language, "followup_sent"))
            if update.effective_chat is not None:
                await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
            return
    await _reply(update, t(language, _hint(patient)))


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice notes, videos, locations, contacts...: say what the bot can read, and what to do next."""
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    await _reply(update, t(language, "unsupported") + "\n" + t(language, _hint(patient)))


# -- commands ---------------------------------------------------------------------------------------------------
async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    if patient is None or patient.state not in ("photos", "q", "free_text", "confirm"):
        await _reply(update, t(language, "nothing_to_cancel"))
        return
    await services.run(cases.cancel_case, services.sessions, services.images, patient.id)
    await _reply(update, t(language, "cancelled"))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    if patient is None or not patient.consented:
        await _reply(update, t(language, "need_consent"))
        return
    history = await services.run(cases.patient_cases, services.sessions, patient.id, 1)
    if not history:
        await _reply(update, t(language, "no_cases"))
        return
    case = history[0]
    tier = t(language, f"tier_name.{case.tier}") if case.tier else t(language, "tier_name.pending")
    await _reply(update, t(language, "status_line", id=case.id, status=t(language, f"status.{case.status}"),
                           tier=tier))


async def history(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    if patient is None or not patient.consented:
        await _reply(update, t(language, "need_consent"))
        return
    rows = await services.run(cases.patient_cases, services.sessions, patient.id, 10)
    if not rows:
        await _reply(update, t(language, "no_cases"))
        return
    lines = [t(language, "history_title")]
    for case in rows:
        tier = t(language, f"tier_name.{case.tier}") if case.tier else t(language, "tier_name.pending")
        lines.append(f"#{case.id} · {case.created_at:%Y-%m-%d} · {t(language, f'status.{case.status}')} · {tier}")
    await _reply(update, "\n".join(lines))


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    buttons = [[InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang:{code}") for code in LANGUAGES]]
    await _reply(update, t(language, "choose_language"), InlineKeyboardMarkup(buttons))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    await _reply(update, t(_language(update, patient), "help"))


async def delete_request(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    patient = await _patient(update, services)
    language = _language(update, patient)
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton(t(language, "delete_yes"), callback_data="delete:yes"),
        InlineKeyboardButton(t(language, "delete_no"), callback_data="delete:no"),
    ]])
    await _reply(update, t(language, "delete_confirm"), keyboard)


async def delete_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services = services_of(context)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    await _acknowledge(context, query)
    patient = await _patient(update, services)
    language = _language(update, patient)
    if query.data != "delete:yes":
        await _reply(update, t(language, "delete_kept"))
        return
    erased = await services.run(cases.erase_patient, services.sessions, services.images, user.id)
    await _reply(update, t(language, "deleted" if erased is not None else "nothing_to_delete"))


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is not None:
        services = services_of(context)
        patient = await _patient(update, services)
        await query.answer(t(_language(update, patient), "stale_button"), show_alert=True)


COMMANDS = ("start", "new", "status", "history", "language", "cancel", "help", "delete")


def register(application: Application) -> None:  # type: ignore[type-arg]
    """Add the patient handlers, in order. Only private chats: group chats belong to the clinician handlers."""
    private = filters.ChatType.PRIVATE
    for name, callback in (("start", start), ("new", new_case), ("status", status), ("history", history),
                           ("language", language_command), ("cancel", cancel), ("help", help_command),
                           ("delete", delete_request)):
        application.add_handler(CommandHandler(name, callback, filters=private))
    application.add_handler(CallbackQueryHandler(consent_answer, pattern=r"^consent:(yes|no):[a-z]{2}$"))
    application.add_handler(CallbackQueryHandler(choose_language, pattern=r"^lang:[a-z]{2}$"))
    application.add_handler(CallbackQueryHandler(photos_done, pattern=r"^ph:-?\d+:done$"))
    application.add_handler(CallbackQueryHandler(question_answer, pattern=r"^q:"))
    application.add_handler(CallbackQueryHandler(free_text_skip, pattern=r"^ft:-?\d+:skip$"))
    application.add_handler(CallbackQueryHandler(confirm_answer, pattern=r"^cf:"))
    application.add_handler(CallbackQueryHandler(delete_answer, pattern=r"^delete:(yes|no)$"))
    application.add_handler(MessageHandler(private & (filters.PHOTO | filters.Document.ALL), photo))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, text))
    application.add_handler(MessageHandler(private & filters.COMMAND, help_command))
    application.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, unsupported))
    application.add_handler(CallbackQueryHandler(unknown_button))
