"""The questionnaire, the patient's own words, and the confirmation that sends the case.

States: `q` (one question at a time, `data.step`) → `free_text` → `confirm` → `waiting_result`. When the answers
so far already mean an emergency, the questionnaire stops there (`emergency`): the advice comes first, alone, and
the patient goes on only if they choose to (finish the questions, or send the case as it is).
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot import questionnaire as qn
from bot.conversation.turn import Context, Turn, esc, is_emergency
from bot.texts import listing, t, t_for
from triage import cases
from triage.untrusted import clean_text

SYMPTOM_KEYS = frozenset(o.label for step in qn.STEPS for o in step.options if o.label.startswith("symptom."))
FREE_TEXT, CONFIRM = "_free_text", "_confirm"  # places after the questions, for the emergency pause


def question_keyboard(step: qn.Step, language: str, answers: dict[str, Any], nonce: int) -> InlineKeyboardMarkup:
    chosen = qn.selected(step, answers)
    buttons = [InlineKeyboardButton(("✓ " if o.code in chosen else "") + t(language, o.label),
                                    callback_data=f"q:{nonce}:{step.key}:{o.code}") for o in step.options]
    rows = [buttons[i: i + step.columns] for i in range(0, len(buttons), step.columns)]
    if step.unsure:
        rows.append([InlineKeyboardButton(t(language, "btn_unsure"), callback_data=f"q:{nonce}:{step.key}:_unsure")])
    nav = [InlineKeyboardButton(t(language, "btn_back"), callback_data=f"q:{nonce}:{step.key}:_back")]
    if step.kind == "multi":
        label = "btn_done" if chosen else "btn_none"
        nav.append(InlineKeyboardButton(t(language, label), callback_data=f"q:{nonce}:{step.key}:_done"))
    else:
        nav.append(InlineKeyboardButton(t(language, "btn_skip"), callback_data=f"q:{nonce}:{step.key}:_skip"))
    return InlineKeyboardMarkup([*rows, nav])


async def go_to_step(turn: Turn, answers: dict[str, Any], place: str | None, text: str) -> None:
    """Store the answers and the next place (a question key; None or FREE_TEXT: the patient's own words;
    CONFIRM: the summary), then show it. The first time the answers mean an emergency, stop and say so instead."""
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    nonce = turn.nonce + 1
    place = place or FREE_TEXT
    warned = bool(patient.data.get("warned"))
    data: dict[str, Any] = turn.state_data(case_id=patient.case_id, nonce=nonce, warned=warned)
    if not warned and is_emergency(answers, text):
        await _pause_for_emergency(turn, {**data, "warned": True, "resume": place}, answers)
        return
    if place == CONFIRM:
        await turn.save("free_text", data, answers=answers)
        await turn.refresh()
        await show_confirm(turn)
        return
    if place == FREE_TEXT:
        await turn.save("free_text", data, answers=answers)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(turn.t("btn_skip"), callback_data=f"ft:{nonce}:skip")]])
        await turn.reply(turn.t("ask_text"), markup)
        return
    data["step"] = place
    await turn.save("q", data, answers=answers)
    step = qn.BY_KEY[place]
    await turn.reply(turn.t(step.prompt), question_keyboard(step, turn.language, answers, nonce))


async def _pause_for_emergency(turn: Turn, data: dict[str, Any], answers: dict[str, Any] | None) -> None:
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    await turn.save("emergency", data, answers=answers)
    nonce = data["nonce"]
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(turn.t("btn_send_now"), callback_data=f"em:{nonce}:send")],
        [InlineKeyboardButton(turn.t("btn_finish_questions"), callback_data=f"em:{nonce}:go")],
    ])
    await turn.reply(turn.t("emergency_now"), markup)


async def emergency_choice(update: Update, context: Context) -> None:
    """After the emergency advice: send the case as it is, or finish the questions."""
    tapped = await Turn.of_tap(update, context)
    if tapped is None:
        return
    turn, query, parts = tapped
    patient = turn.patient
    if (patient is None or patient.state != "emergency" or patient.case_id is None or len(parts) != 3
            or parts[1] != str(turn.nonce) or parts[2] not in ("send", "go")):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    view = await turn.case()
    if view is None:
        return
    place = CONFIRM if parts[2] == "send" else str(patient.data.get("resume") or FREE_TEXT)
    await go_to_step(turn, view.answers, place, view.text)


async def question_answer(update: Update, context: Context) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    turn = await Turn.of(update, context)
    ctx = await turn.services.step_context(user.id)
    turn.patient = patient = ctx.patient if ctx is not None else None
    try:
        _, nonce_text, step_key, code = (query.data or "").split(":", 3)
        step = qn.BY_KEY[step_key]
    except (ValueError, KeyError):
        await turn.refuse(query)
        return
    if (ctx is None or patient is None or patient.state != "q" or patient.data.get("step") != step_key
            or nonce_text != str(turn.nonce) or patient.case_id is None or not ctx.answers):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    answers = ctx.answers
    if code == "_back":
        previous = qn.previous_step(step_key, answers)
        await go_to_step(turn, answers, previous or step_key, ctx.text)
        return
    if code in ("_skip", "_done") or (code == "_unsure" and step.unsure):
        answers = qn.unsure(step, answers) if code == "_unsure" else qn.skip(step, answers)
        await go_to_step(turn, answers, qn.next_step(step_key, answers), ctx.text)
        return
    option = next((o for o in step.options if o.code == code), None)
    if option is None:
        return
    if step.kind == "multi":
        answers = qn.toggle(step, answers, code)
        await turn.save("q", patient.data, answers=answers)
        try:
            await query.edit_message_reply_markup(question_keyboard(step, turn.language, answers, turn.nonce))
        except BadRequest:
            pass
        return
    answers = qn.choose(step, answers, option.value)
    await go_to_step(turn, answers, qn.next_step(step_key, answers), ctx.text)


async def typed_answer(turn: Turn, body: str) -> None:
    """Text while a question is shown: a typed age where the question takes one, else a pointer to the buttons."""
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    step = qn.BY_KEY.get(str(patient.data.get("step")))
    age = qn.parse_age(body) if step is not None and step.typed else None
    if step is not None and age is not None:
        view = await turn.case()
        if view is not None:
            answers = qn.choose(step, view.answers, age.years, typed=age)
            await go_to_step(turn, answers, qn.next_step(step.key, answers), view.text)
            return
    await turn.reply(turn.t("use_buttons"))


async def free_text(turn: Turn, body: str) -> None:
    """The patient's own words: kept with the case; they can raise the tier, never lower it."""
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    view = await turn.case()
    combined = "\n".join(p for p in ((view.text if view else ""), clean_text(body)[:2000]) if p)[:4000]
    await turn.save("free_text", patient.data, text=combined)
    if view is not None:
        await go_to_step(turn, view.answers, CONFIRM, combined)


async def free_text_skip(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None:
        return
    turn = await Turn.of(update, context)
    patient = turn.patient
    nonce = (query.data or "ft:-1:skip").split(":")[1]
    if patient is None or patient.state != "free_text" or nonce != str(turn.nonce):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    await show_confirm(turn)


# -- the confirmation screen -----------------------------------------------------------------------------------
def _symptom_labels(language: str, answers: dict[str, Any]) -> str:
    return listing(language, [t(language, f"symptom.{s}") for s in answers["answers"].get("symptoms", [])
                              if s != "near_eye"])


def summary(language: str, view: cases.CaseView, worker_ref: str | None = None) -> str:
    """The confirmation screen: everything the patient is about to send, in their words and ours (a health
    worker's, `worker_ref` naming their patient, sees it worded for them)."""
    patient, given = view.answers.get("patient", {}), view.answers.get("answers", {})
    unknown = t(language, "unknown")
    worker, ref = worker_ref is not None, esc(worker_ref or "")
    lines = [t_for(language, "confirm_title", worker, ref=ref), t(language, "sum.photos", n=view.image_count)]
    age = qn.age_shown(patient)
    lines.append(t(language, "sum.age", value=t(language, age[0], **age[1]) if age else unknown))
    sites = listing(language, [t(language, f"site.{s}") for s in given.get("body_sites", [])]) or unknown
    lines.append(t(language, "sum.sites", value=sites))
    duration = given.get("duration_days")
    duration_code = next((o.code for o in qn.BY_KEY["duration"].options if o.value == duration), None)
    lines.append(t(language, "sum.duration", value=t(language, f"duration.{duration_code}") if duration_code
                   else unknown))
    extent = given.get("extent")
    lines.append(t(language, "sum.extent", value=t(language, f"extent.{extent}") if extent else unknown))
    lines.append(t(language, "sum.symptoms", value=_symptom_labels(language, view.answers) or t(language, "none")))
    if given.get("skipped"):
        unsure = [t(language, f"symptom.{s}") for s in given["skipped"] if f"symptom.{s}" in SYMPTOM_KEYS]
        lines.append(t(language, "sum.unsure", value=listing(language, unsure)))
    flags = [t(language, f"sum.{k}") for k in ("pregnant", "immunosuppressed", "diabetes") if patient.get(k)]
    if flags:
        lines.append(listing(language, flags))
    if patient.get("skin_type") in qn.SKIN_TYPES:
        lines.append(t(language, "sum.skin_type", value=t(language, f"skin.{patient['skin_type']}")))
    if patient.get("sex") in ("female", "male"):
        lines.append(t(language, f"sex.{patient['sex']}"))
    if view.text:
        lines.append(t_for(language, "sum.text", worker, value=esc(view.text[:500])))
    return "\n".join(lines)


async def show_confirm(turn: Turn) -> None:
    patient = turn.patient
    assert patient is not None and patient.case_id is not None
    view = await turn.case()
    if view is None:
        return
    nonce = turn.nonce + 1
    data = {**patient.data, "nonce": nonce}
    data.pop("step", None)
    await turn.save("confirm", data)
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton(turn.t("btn_submit"), callback_data=f"cf:{nonce}:submit")],
        [InlineKeyboardButton(turn.t("btn_change"), callback_data=f"cf:{nonce}:change"),
         InlineKeyboardButton(turn.t("btn_cancel"), callback_data=f"cf:{nonce}:cancel")],
    ])
    await turn.reply(summary(turn.language, view, patient.subject_ref if turn.is_health_worker else None), markup)


async def confirm_answer(update: Update, context: Context) -> None:
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    turn = await Turn.of(update, context)
    patient = turn.patient
    _, nonce_text, action = ((query.data or "") + "::").split(":", 3)[:3]
    if patient is not None and patient.state == "waiting_result" and action == "submit":
        await turn.refuse(query, "waiting")  # Submit tapped again, or delivered again: it is on its way
        return
    if (patient is None or patient.state != "confirm" or nonce_text != str(turn.nonce) or patient.case_id is None
            or action not in ("submit", "change", "cancel")):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    services = turn.services
    if action == "cancel":
        await services.run(cases.cancel_case, services.sessions, services.images, patient.id, turn.subject_id)
        await turn.reply(turn.t("cancelled"))
        return
    if action == "change":
        view = await turn.case()
        if view is not None:
            await go_to_step(turn, view.answers, qn.next_step(None, view.answers), view.text)
        return
    # The case, its analysis task and the "being analysed" notice are stored in one transaction: whatever fails
    # next (Telegram, the broker, this process), the task and the notice go out from there, the notice first.
    submitted = await services.run(cases.submit_case, services.sessions, patient_id=patient.id,
                                   case_id=patient.case_id, notice=turn.t("analysing"), subject_id=turn.subject_id)
    if not submitted:
        await turn.reply(turn.t("need_photo"))
        return
    services.send_outbox_now()
    services.dispatch_now()
    await turn.typing()

