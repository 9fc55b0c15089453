"""The commands around the conversation: /cancel, /status, /history, /language, /help, /delete (/lesions is in
`lesions`)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.conversation import lesions, outreach
from bot.conversation.turn import CONVERSATION_STATES, Context, Turn
from bot.texts import LANGUAGE_NAMES, date, joined, language_rows
from triage import cases


async def cancel(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    if turn.patient is not None and turn.patient.state in lesions.NAMING_STATES:
        await lesions.cancel_naming(turn)
        return
    if turn.patient is None or turn.patient.state not in CONVERSATION_STATES:
        await turn.reply(turn.t("nothing_to_cancel"))
        return
    services = turn.services
    await services.run(cases.cancel_case, services.sessions, services.images, turn.patient.id, turn.subject_id)
    await turn.reply(turn.t("cancelled"))


def _tier(turn: Turn, case: cases.CaseView) -> str:
    return turn.t(f"tier_name.{case.tier}") if case.tier else turn.t("tier_name.pending")


async def _own_cases(update: Update, context: Context, limit: int) -> tuple[Turn, list[cases.CaseView]] | None:
    """The patient's latest cases for /status and /history; None when already answered (a health worker gets their
    patients, someone who has not agreed is asked to, no cases is said)."""
    turn = await Turn.of(update, context)
    if turn.is_health_worker:
        await outreach.my_patients(update, context)
        return None
    if turn.patient is None or not turn.patient.consented:
        await turn.reply(turn.t("need_consent"))
        return None
    rows = await turn.services.run(cases.patient_cases, turn.services.sessions, turn.patient.id, limit)
    if not rows:
        await turn.reply(turn.t("no_cases"))
        return None
    return turn, rows


async def status(update: Update, context: Context) -> None:
    found = await _own_cases(update, context, 1)
    if found is None:
        return
    turn, (case, *_) = found
    await turn.reply(turn.t("status_line", id=case.id, status=turn.t(f"status.{case.status}"), tier=_tier(turn, case)))


async def history(update: Update, context: Context) -> None:
    found = await _own_cases(update, context, 10)
    if found is None:
        return
    turn, rows = found
    lines = [turn.t("history_title")]
    for case in rows:
        status_name = turn.t(f"status.{case.status}")
        lines.append(joined(turn.language, [f"#{case.id}", date(turn.language, case.created_at), status_name,
                                            _tier(turn, case)]))
    await turn.reply("\n".join(lines))


async def language_command(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    buttons = [[InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang:{code}") for code in row]
               for row in language_rows()]
    await turn.reply(turn.t("choose_language"), InlineKeyboardMarkup(buttons))


async def help_command(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    lines = turn.t("hw_help" if turn.is_health_worker else "help").split("\n")
    lines.insert(max(1, len(lines) - 1), turn.t("help_lesions"))  # before the closing emergency line
    await turn.reply("\n".join(lines))


async def delete_request(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    if turn.is_health_worker:  # their patients' data is erased patient by patient, from /patients
        await turn.reply(turn.t("hw_delete_self"))
        return
    keyboard = InlineKeyboardMarkup([[
        InlineKeyboardButton(turn.t("delete_yes"), callback_data="delete:yes"),
        InlineKeyboardButton(turn.t("delete_no"), callback_data="delete:no"),
    ]])
    await turn.reply(turn.t("delete_confirm"), keyboard)


async def delete_answer(update: Update, context: Context) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    turn = await Turn.of(update, context)
    await turn.acknowledge(query)
    if query.data != "delete:yes":
        await turn.reply(turn.t("delete_kept"))
        return
    services = turn.services
    erased = await services.run(cases.erase_patient, services.sessions, services.images, user.id)
    if erased is not None:
        services.send_outbox_now()  # the clinicians' alerts are taken back now
    await turn.reply(turn.t("deleted" if erased is not None else "nothing_to_delete"))


async def unknown_button(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is not None:
        turn = await Turn.of(update, context)
        await turn.refuse(query)
