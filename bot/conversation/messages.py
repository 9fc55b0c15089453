"""Text messages, routed by where the patient is, and every other kind of message (stickers, voice notes...)."""

from __future__ import annotations

from telegram import Update

from bot.conversation import lesions, outreach, questions
from bot.conversation.turn import Context, Turn
from triage import cases
from triage.untrusted import clean_text


async def text(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    message = update.effective_message
    body = clean_text(message.text or "").strip() if message else ""
    patient = turn.patient
    if patient is None or not patient.consented or not body:
        await turn.reply(turn.t(turn.hint()))
        return
    if patient.state == "hw_intake":
        await outreach.intake_text(turn, body)
        return
    if patient.state == "lesion_name":
        await lesions.name_typed(turn, body)
        return
    if patient.case_id is not None:
        if patient.state == "q":
            await questions.typed_answer(turn, body)
            return
        if patient.state == "free_text":
            await questions.free_text(turn, body)
            return
        if patient.state == "result":
            await followup(turn, body)
            return
    await turn.reply(turn.t(turn.hint()))


async def followup(turn: Turn, body: str) -> None:
    """A question about a case that has its answer: stored with its answer task (one transaction), answered by
    the model with the case's photos and history; the new words can raise the tier."""
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    services = turn.services
    message_id = await services.run(cases.add_followup, services.sessions, patient_id=patient.subject_id,
                                    case_id=patient.case_id, text=body[:2000])
    if message_id is None:
        await turn.reply(turn.t(turn.hint()))
        return
    services.dispatch_now()
    await turn.reply(turn.t("followup_sent"))
    await turn.typing()


async def unsupported(update: Update, context: Context) -> None:
    """Stickers, voice notes, videos, locations, contacts...: say what the bot can read, and what to do next."""
    turn = await Turn.of(update, context)
    await turn.reply(turn.t("unsupported") + "\n" + turn.t(turn.hint()))
