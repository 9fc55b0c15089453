"""/start, the language buttons and the consent notice. Nothing is stored for a patient who declines."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.conversation import outreach, photos, resume
from bot.conversation.turn import CONVERSATION_STATES, Context, Turn
from bot.texts import LANGUAGE_NAMES, language_rows, pick_language, t
from triage import cases
from triage import outreach as outreach_core


def consent_keyboard(language: str, organisation: str = "") -> InlineKeyboardMarkup:
    """The notice's buttons; `organisation` (a clinic chosen or come through) rides in their data, since nothing is
    stored before consent."""
    suffix = f":{organisation}" if organisation else ""
    languages = [[InlineKeyboardButton(("• " if code == language else "") + LANGUAGE_NAMES[code],
                                       callback_data=f"lang:{code}{suffix}") for code in row]
                 for row in language_rows()]
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(t(language, "consent_yes"), callback_data=f"consent:yes:{language}{suffix}"),
         InlineKeyboardButton(t(language, "consent_no"), callback_data=f"consent:no:{language}")],
        *languages,
    ])


async def show_consent(turn: Turn, language: str, organisation: str = "") -> None:
    await turn.reply(t(language, "consent", days=turn.services.settings.retention_days),
                     consent_keyboard(language, organisation))


async def start(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    patient = turn.patient
    payload = (context.args or [""])[0] if context.args else ""
    if payload and await outreach.start_payload(turn, payload):
        return
    if patient is None or not patient.consented:
        if not await outreach.choose_clinic(turn):
            await show_consent(turn, turn.language)
        return
    if patient.is_health_worker and patient.state not in CONVERSATION_STATES:
        await turn.reply(turn.t("hw_help"))
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
    _, code, *organisation = (query.data or "lang:en").split(":", 2)
    language = pick_language(code)
    await turn.acknowledge(query)
    services = turn.services
    if turn.patient is None or not turn.patient.consented:
        try:
            await query.edit_message_text(t(language, "consent", days=services.settings.retention_days),
                                          parse_mode=ParseMode.HTML,
                                          reply_markup=consent_keyboard(language, "".join(organisation)))
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
    _, answer, language, *chosen = (query.data or "consent:no:en").split(":", 3)
    language = pick_language(language)
    if answer != "yes":
        await turn.reply(t(language, "declined"))
        return
    if turn.consented:
        await turn.reply(turn.t(turn.hint()))
        return
    services = turn.services
    organisation = services.settings.organisation
    if chosen:  # a clinic's link or choice: only an active organisation counts
        found = await services.run(outreach_core.organisation, services.sessions, chosen[0])
        organisation = found.code if found is not None and found.active else organisation
    await services.run(cases.record_consent, services.sessions, telegram_user_id=user.id, chat_id=chat.id,
                       language=language, consent_version=services.settings.consent_version,
                       organisation=organisation)
    await photos.new_case(update, context)
