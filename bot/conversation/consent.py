"""/start, the language buttons and the consent notice. Nothing is stored for a patient who declines."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.conversation import photos, resume
from bot.conversation.turn import CONVERSATION_STATES, Context, Turn
from bot.texts import LANGUAGE_NAMES, language_rows, pick_language, t
from triage import cases


def consent_keyboard(language: str) -> InlineKeyboardMarkup:
    languages = [[InlineKeyboardButton(("• " if code == language else "") + LANGUAGE_NAMES[code],
                                       callback_data=f"lang:{code}") for code in row] for row in language_rows()]
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(language, "consent_yes"), callback_data=f"consent:yes:{language}"),
         InlineKeyboardButton(t(language, "consent_no"), callback_data=f"consent:no:{language}")],
        *languages,
    ])


async def start(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    patient = turn.patient
    if patient is None or not patient.consented:
        await turn.reply(turn.t("consent", days=turn.services.settings.retention_days), consent_keyboard(turn.language))
        return
    if patient.state in CONVERSATION_STATES:
        await turn.reply(turn.t("resuming"))
        await resume.show_current(turn)
        return
    if patient.state == "waiting_result":
        await turn.reply(turn.t("waiting"))
        return
    await photos.new_case(update, context)


async def choose_language(update: Update, context: Context) -> None:
    """A language button: on the consent message it re-renders the notice; otherwise it changes the language."""
    query = update.callback_query
    if query is None:
        return
    turn = await Turn.of(update, context)
    language = pick_language((query.data or "").removeprefix("lang:"))
    await turn.acknowledge(query)
    services = turn.services
    if turn.patient is None or not turn.patient.consented:
        try:
            await query.edit_message_text(t(language, "consent", days=services.settings.retention_days),
                                          parse_mode=ParseMode.HTML, reply_markup=consent_keyboard(language))
        except BadRequest:  # the same language again: "message is not modified"
            pass
        return
    await services.run(cases.set_language, services.sessions, turn.patient.id, language)
    await turn.refresh()
    await turn.reply(turn.t("language_set"))


async def consent_answer(update: Update, context: Context) -> None:
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    turn = await Turn.of(update, context)
    await turn.acknowledge(query)
    _, answer, language = (query.data or "consent:no:en").split(":", 2)
    language = pick_language(language)
    if answer != "yes":
        await turn.reply(t(language, "declined"))
        return
    if turn.consented:
        await turn.reply(turn.t(turn.hint()))
        return
    services = turn.services
    await services.run(cases.record_consent, services.sessions, telegram_user_id=user.id, chat_id=chat.id,
                       language=language, consent_version=services.settings.consent_version)
    await photos.new_case(update, context)
