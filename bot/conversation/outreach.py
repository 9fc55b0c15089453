"""Outreach in the conversation: clinics chosen by deep link or from a list, health workers joining by invite,
and a health worker's own stages — adding a patient (`/newpatient`), choosing one (`/patients`), erasing one.

Everything after that is the same conversation a patient has (photos, questionnaire, confirmation, result,
follow-up questions), about the chosen patient and worded for the health worker (`Turn.t`). States here:
`hw_intake` (a new patient's reference, age, sex, skin type and the health worker's attestation of consent, kept in
`data.intake` until the attestation stores the patient) and `patient` (a patient chosen; their menu).
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import questionnaire as qn
from bot.conversation import photos
from bot.conversation.turn import Context, Turn, esc
from bot.texts import t
from triage import cases, outreach

INTAKE_STEPS = ("ref", "age", "sex", "skin", "attest")
SEXES = ("female", "male")


# -- arriving through a link ------------------------------------------------------------------------------------
async def start_payload(turn: Turn, payload: str) -> bool:
    """Handle `/start <payload>` from a deep link; False when the payload is not one of ours."""
    if payload.startswith(outreach.INVITE_PREFIX):
        await _show_invite(turn, payload)
        return True
    if payload.startswith(outreach.CLINIC_PREFIX):
        await _clinic_link(turn, payload.removeprefix(outreach.CLINIC_PREFIX))
        return True
    return False


async def _clinic_link(turn: Turn, code: str) -> None:
    services = turn.services
    org = await services.run(outreach.organisation, services.sessions, code)
    if org is None or not org.active:
        await turn.reply(turn.t("org_unknown"))
        return
    if turn.patient is not None and turn.patient.consented:
        if turn.is_health_worker:
            await turn.reply(turn.t("invite.other_organisation"))
            return
        await services.run(outreach.join_organisation, services.sessions, turn.patient.id, code)
        await turn.reply(turn.t("org_joined", name=esc(org.name)))
        return
    from bot.conversation.consent import show_consent  # consent shows the notice; it imports this module

    await show_consent(turn, turn.language, code)


async def choose_clinic(turn: Turn) -> bool:
    """Before consent, when the deployment has several public clinics: ask which one. False when there is no
    choice to make (the deployment's `ORGANISATION` is used)."""
    services = turn.services
    public = await services.run(outreach.organisations, services.sessions, public_only=True)
    if len(public) < 2:
        return False
    buttons = [[InlineKeyboardButton(org.name[:60], callback_data=f"org:{org.code}")] for org in public[:20]]
    await turn.reply(turn.t("org_choose"), InlineKeyboardMarkup(buttons))
    return True


async def clinic_chosen(update: Update, context: Context) -> None:
    """A clinic chosen from the list: the consent notice follows, for that clinic."""
    query = update.callback_query
    if query is None:
        return
    turn = await Turn.of(update, context)
    await turn.acknowledge(query)
    await _clinic_link(turn, (query.data or "").removeprefix("org:"))


async def _show_invite(turn: Turn, code: str) -> None:
    services = turn.services
    try:
        invite = await services.run(outreach.check_invite, services.sessions, code)
    except outreach.OutreachError as refused:
        await turn.reply(turn.t(f"invite.{refused.code}"))
        return
    if turn.is_health_worker and turn.patient is not None and turn.patient.organisation != invite.organisation:
        await turn.reply(turn.t("invite.other_organisation"))
        return
    org = await services.run(outreach.organisation, services.sessions, invite.organisation)
    name = org.name if org is not None else invite.organisation
    markup = InlineKeyboardMarkup([[InlineKeyboardButton(turn.t("chw_accept"), callback_data=f"chw:yes:{code}"),
                                    InlineKeyboardButton(turn.t("consent_no"), callback_data="chw:no")]])
    await turn.reply(turn.t("chw_terms", name=esc(name)), markup)


async def invite_answer(update: Update, context: Context) -> None:
    query = update.callback_query
    user, chat = update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    turn = await Turn.of(update, context)
    await turn.acknowledge(query)
    parts = (query.data or "").split(":", 2)
    if len(parts) != 3 or parts[1] != "yes":
        await turn.reply(turn.t("chw_declined"))
        return
    services = turn.services
    try:
        code = await services.run(outreach.become_health_worker, services.sessions, parts[2],
                                  telegram_user_id=user.id, chat_id=chat.id, language=turn.language)
    except outreach.OutreachError as refused:
        await turn.reply(turn.t(f"invite.{refused.code}"))
        return
    org = await services.run(outreach.organisation, services.sessions, code)
    await turn.refresh()
    await turn.reply(turn.t("chw_joined", name=esc(org.name if org else code)))


# -- a new patient ---------------------------------------------------------------------------------------------
def _is_health_worker(turn: Turn) -> bool:
    return turn.patient is not None and turn.patient.consented and turn.patient.is_health_worker


async def new_patient(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    if not _is_health_worker(turn):
        await turn.reply(turn.t("hw_only"))
        return
    await _intake_step(turn, "ref", {})


async def _intake_step(turn: Turn, step: str, intake: dict[str, Any]) -> None:
    """Store the intake so far and ask its next question."""
    patient = turn.patient
    assert patient is not None
    nonce = turn.nonce + 1
    data = {"intake": intake, "step": step, "nonce": nonce}  # a new patient: no subject carried over
    await turn.services.run(cases.set_state, turn.services.sessions, patient.id, "hw_intake", data)
    await turn.refresh()
    language = turn.language
    if step == "ref":
        await turn.reply(turn.t("hw_ask_ref"))
        return
    if step == "age":
        age = qn.BY_KEY["age"]
        buttons = [InlineKeyboardButton(t(language, o.label), callback_data=f"hw:{nonce}:age:{o.code}")
                   for o in age.options]
        await turn.reply(t(language, age.prompt), InlineKeyboardMarkup([buttons[:2], buttons[2:], _skip(language,
                                                                                                        nonce)]))
        return
    if step == "sex":
        buttons = [InlineKeyboardButton(t(language, f"sex.{s}"), callback_data=f"hw:{nonce}:sex:{s}") for s in SEXES]
        await turn.reply(turn.t("hw_ask_sex"), InlineKeyboardMarkup([buttons, _skip(language, nonce)]))
        return
    if step == "skin":
        rows = [[InlineKeyboardButton(t(language, f"skin.{s}"), callback_data=f"hw:{nonce}:skin:{s}")]
                for s in qn.SKIN_TYPES]
        await turn.reply(t(language, "q.skin_type"), InlineKeyboardMarkup([*rows, _skip(language, nonce)]))
        return
    await turn.reply(turn.t("hw_attest", ref=esc(str(intake.get("ref", "")))),
                     _yes_no(turn, f"hw:{nonce}:attest:", "hw_attest_yes", "hw_attest_no"))


def _yes_no(turn: Turn, prefix: str, yes: str, no: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(turn.t(yes), callback_data=f"{prefix}yes"),
                                  InlineKeyboardButton(turn.t(no), callback_data=f"{prefix}no")]])


def _skip(language: str, nonce: int) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(t(language, "btn_skip"), callback_data=f"hw:{nonce}:skip:-")]


def _next(step: str) -> str:
    return INTAKE_STEPS[INTAKE_STEPS.index(step) + 1]


async def intake_text(turn: Turn, body: str) -> None:
    """Typed during the intake: the patient's reference, or an age ("34", "8 months")."""
    patient = turn.patient
    assert patient is not None
    step, intake = str(patient.data.get("step")), dict(patient.data.get("intake") or {})
    if step == "ref":
        try:
            ref = outreach.clean_ref(body)
        except outreach.OutreachError:
            await turn.reply(turn.t("hw_bad_ref"))
            return
        mine = await turn.services.run(outreach.my_patients, turn.services.sessions, patient.id, 500)
        if any(p.ref == ref for p in mine):
            await turn.reply(turn.t("hw_ref_taken", ref=esc(ref)))
            return
        await _intake_step(turn, "age", {**intake, "ref": ref})
        return
    age = qn.parse_age(body) if step == "age" else None
    if age is not None:
        profile = qn.choose(qn.BY_KEY["age"], {"patient": {}, "answers": {}}, age.years, typed=age)["patient"]
        await _intake_step(turn, "sex", {**intake, **profile})
        return
    await turn.reply(turn.t("use_buttons"))


async def intake_answer(update: Update, context: Context) -> None:
    """A button of the intake: age group, sex, skin type, skip, or the attestation."""
    tapped = await Turn.of_tap(update, context)
    if tapped is None:
        return
    turn, query, parts = tapped
    patient = turn.patient
    if (patient is None or patient.state != "hw_intake" or len(parts) != 4 or parts[1] != str(turn.nonce)
            or parts[2] not in ("age", "sex", "skin", "skip", "attest")):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    step, intake = str(patient.data.get("step")), dict(patient.data.get("intake") or {})
    what, value = parts[2], parts[3]
    if what == "age" and step == "age":
        option = next((o for o in qn.BY_KEY["age"].options if o.code == value), None)
        if option is not None:
            intake |= qn.choose(qn.BY_KEY["age"], {"patient": {}, "answers": {}}, option.value)["patient"]
    elif what == "sex" and step == "sex" and value in SEXES:
        intake["sex"] = value
    elif what == "skin" and step == "skin" and value in qn.SKIN_TYPES:
        intake["skin_type"] = value
    elif what == "attest" and step == "attest":
        await _attested(turn, intake, value == "yes")
        return
    elif what != "skip" or step in ("ref", "attest"):
        await turn.refuse(query)
        return
    await _intake_step(turn, _next(step), intake)


async def _attested(turn: Turn, intake: dict[str, Any], agreed: bool) -> None:
    patient = turn.patient
    assert patient is not None
    services = turn.services
    if not agreed:
        await services.run(cases.set_state, services.sessions, patient.id, "idle", {})
        await turn.reply(turn.t("hw_not_attested"))
        return
    profile = {k: intake[k] for k in ("age_years", "age_answer", "sex", "skin_type") if k in intake}
    try:
        patient_id = await services.run(outreach.add_patient, services.sessions, worker_id=patient.id,
                                        ref=str(intake.get("ref", "")), profile=profile,
                                        consent_version=services.settings.consent_version)
    except outreach.OutreachError as refused:
        await turn.reply(turn.t("hw_ref_taken" if refused.code == "ref_taken" else "hw_bad_ref",
                                ref=esc(str(intake.get("ref", "")))))
        return
    await services.run(outreach.choose_patient, services.sessions, patient.id, patient_id, turn.nonce + 1)
    await turn.refresh()
    await photos.new_case(turn.update, turn.context)


# -- choosing a patient ----------------------------------------------------------------------------------------
async def my_patients(update: Update, context: Context) -> None:
    turn = await Turn.of(update, context)
    if not _is_health_worker(turn):
        await turn.reply(turn.t("hw_only"))
        return
    assert turn.patient is not None
    services = turn.services
    mine = await services.run(outreach.my_patients, services.sessions, turn.patient.id)
    if not mine:
        await turn.reply(turn.t("patients_none"))
        return
    nonce = turn.nonce + 1
    await services.run(cases.set_state, services.sessions, turn.patient.id, "idle", {"nonce": nonce})
    rows = [[InlineKeyboardButton(t(turn.language, "patient_button", ref=p.ref[:32], open=p.open_cases),
                                  callback_data=f"pt:{nonce}:{p.id}")] for p in mine[:40]]
    await turn.reply(turn.t("patients_title"), InlineKeyboardMarkup(rows))


async def patient_chosen(update: Update, context: Context) -> None:
    tapped = await Turn.of_tap(update, context)
    if tapped is None:
        return
    turn, query, parts = tapped
    if (not _is_health_worker(turn) or len(parts) != 3 or parts[1] != str(turn.nonce)
            or not parts[2].isascii() or not parts[2].isdigit()):
        await turn.refuse(query)
        return
    assert turn.patient is not None
    services = turn.services
    chosen = await services.run(outreach.choose_patient, services.sessions, turn.patient.id, int(parts[2]),
                                turn.nonce + 1)
    if not chosen:  # not theirs (a forged button, or another health worker's patient): nothing is shown
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    await turn.refresh()
    await show_patient(turn)


async def show_patient(turn: Turn) -> None:
    """The chosen patient's cases, and what the health worker can do next."""
    patient = turn.patient
    assert patient is not None and patient.subject_id is not None
    services = turn.services
    history = await services.run(cases.patient_cases, services.sessions, patient.subject_id, 5)
    lines = [turn.t("patient_menu")]
    for case in history:
        tier = turn.t(f"tier_name.{case.tier}") if case.tier else turn.t("tier_name.pending")
        lines.append(f"#{case.id} · {case.created_at:%Y-%m-%d} · {turn.t(f'status.{case.status}')} · {tier}")
    if not history:
        lines.append(turn.t("patient_no_cases"))
    nonce = turn.nonce
    rows = [[InlineKeyboardButton(turn.t("btn_new_case"), callback_data=f"pm:{nonce}:new")]]
    if history and history[0].tier:
        rows.append([InlineKeyboardButton(turn.t("btn_ask_question", id=history[0].id),
                                          callback_data=f"pm:{nonce}:ask:{history[0].id}")])
    rows.append([InlineKeyboardButton(turn.t("btn_delete_patient"), callback_data=f"pm:{nonce}:del")])
    await turn.reply("\n".join(lines), InlineKeyboardMarkup(rows))


async def patient_action(update: Update, context: Context) -> None:
    """The chosen patient's menu: a new case, a question about their latest case, or erasing them."""
    tapped = await Turn.of_tap(update, context)
    if tapped is None:
        return
    turn, query, parts = tapped
    patient = turn.patient
    if (patient is None or not patient.is_health_worker or patient.state not in ("patient", "delete_patient")
            or patient.subject_id is None or len(parts) < 3 or parts[1] != str(turn.nonce)):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    services = turn.services
    action = parts[2]
    if action == "new":
        await photos.new_case(update, context)
    elif action == "ask" and len(parts) == 4 and parts[3].isascii() and parts[3].isdigit():
        view = await services.run(cases.get_case, services.sessions, patient.subject_id, int(parts[3]))
        if view is None:
            await turn.refuse(query)
            return
        await services.run(cases.set_state, services.sessions, patient.id, "result",
                           turn.state_data(case_id=view.id))
        await turn.reply(turn.t("hw_ask_question", id=view.id))
    elif action == "del":
        await services.run(cases.set_state, services.sessions, patient.id, "delete_patient",
                           turn.state_data(nonce=turn.nonce))
        await turn.reply(turn.t("hw_delete_confirm"), _yes_no(turn, f"pm:{turn.nonce}:", "delete_yes", "delete_no"))
    elif action == "yes" and patient.state == "delete_patient":
        ref = patient.subject_ref
        await services.run(outreach.erase_managed_patient, services.sessions, services.images, patient.id,
                           patient.subject_id)
        services.send_outbox_now()  # the clinicians' alerts about them are taken back now
        await turn.reply(turn.t("hw_deleted", ref=esc(ref)))
    else:
        await services.run(cases.set_state, services.sessions, patient.id, "patient", turn.state_data())
        await turn.reply(turn.t("delete_kept"))
