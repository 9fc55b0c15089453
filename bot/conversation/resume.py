"""Showing the patient where they are again: after a restart, /start, or a message the bot did not expect."""

from __future__ import annotations

from bot import questionnaire as qn
from bot.conversation import questions
from bot.conversation.photos import photos_keyboard
from bot.conversation.turn import Turn


async def show_current(turn: Turn) -> None:
    patient = turn.patient
    if patient is None or patient.case_id is None:
        await turn.reply(turn.t(turn.hint()))
        return
    view = await turn.case()
    if view is None:
        await turn.reply(turn.t("idle_hint"))
        return
    if patient.state == "q":
        step = patient.data.get("step")
        await questions.go_to_step(turn, view.answers, str(step) if step else qn.next_step(None, view.answers),
                                   view.text)
    elif patient.state == "free_text":
        await questions.go_to_step(turn, view.answers, questions.FREE_TEXT, view.text)
    elif patient.state == "emergency":
        await questions.go_to_step(turn, view.answers, str(patient.data.get("resume") or questions.FREE_TEXT),
                                   view.text)
    elif patient.state == "confirm":
        await questions.show_confirm(turn)
    else:
        await turn.reply(turn.t("ask_photo"), photos_keyboard(turn.language, turn.nonce) if view.image_count else None)
