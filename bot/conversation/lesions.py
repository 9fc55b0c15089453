"""Following a spot: the **Follow this spot** button under a result, naming it (`lesion_name`) and saying where it
is (`lesion_site`), `/lesions` with each spot's buttons, and a new photo of a followed spot (a new case carrying
the lesion's id, asked for with guidance that makes the two photos comparable).

Buttons (`lt:<action>:<id>`) name a case or a lesion; every action checks that it is the person's own (a health
worker's: one of their patients'), so an old or forged button changes nothing of anybody else's. Pausing,
resuming and stopping are idempotent, so an old button of one's own does no harm either.
"""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import lesion_render
from bot.conversation.turn import Context, Turn, esc
from bot.texts import date, t
from triage import cases, outreach, tracking
from triage.models import LesionStatus
from triage.rules import BODY_SITES

NAMING_STATES = ("lesion_name", "lesion_site")
_ERRORS = {"not_found": "lesion_not_found", "stopped": "lesion_not_found", "already_tracked": "lesion_already",
           "not_triaged": "lesion_not_found", "bad_name": "lesion_bad_name", "bad_site": "use_buttons"}


async def lesions_command(update: Update, context: Context) -> None:
    """/lesions: the spots the person follows (a health worker: their patients'), with a row of buttons each."""
    turn = await Turn.of(update, context)
    if turn.patient is None or not turn.patient.consented:
        await turn.reply(turn.t("need_consent"))
        return
    services = turn.services
    found = await services.run(tracking.lesions_of, services.sessions, turn.patient.id)
    if not found:
        await turn.reply(turn.t("lesions_none"))
        return
    lines = [turn.t("lesions_title")]
    lines += [lesion_render.lesion_line(turn.language, lesion, turn.is_health_worker) for lesion in found]
    await turn.reply("\n".join(lines), lesion_render.list_markup(turn.language, found))


async def lesion_button(update: Update, context: Context) -> None:
    """`lt:f:<case>` follow, `lt:p:<lesion>` new photo, `lt:z|r|s:<lesion>` pause, resume, stop,
    `lt:site:<nonce>:<site>` the spot's site while following."""
    tapped = await Turn.of_tap(update, context)
    if tapped is None:
        return
    turn, query, parts = tapped
    if turn.patient is None or not turn.patient.consented or len(parts) < 3:
        await turn.refuse(query)
        return
    if parts[1] == "site":
        await _site_chosen(turn, query, parts)
        return
    action = parts[1]
    if (len(parts) != 3 or action not in ("f", "p", "z", "r", "s") or not parts[2].isascii()
            or not parts[2].isdigit() or len(parts[2]) > 10):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    target = int(parts[2])
    try:
        if action == "f":
            await _ask_name(turn, target)
        elif action == "p":
            await _new_photo(turn, target)
        else:
            await _set_status(turn, target, {"z": LesionStatus.PAUSED, "r": LesionStatus.ACTIVE,
                                             "s": LesionStatus.STOPPED}[action])
    except tracking.TrackingError as refused:
        await turn.reply(turn.t(_ERRORS.get(refused.code, "lesion_not_found")))


# -- following a spot from a result ---------------------------------------------------------------------------------
async def _ask_name(turn: Turn, case_id: int) -> None:
    patient = turn.patient
    assert patient is not None
    services = turn.services
    await services.run(tracking.case_sites, services.sessions, patient.id, case_id)  # refuses another's case
    nonce = turn.nonce + 1
    await services.run(cases.set_state, services.sessions, patient.id, "lesion_name",
                       turn.state_data(follow=case_id, nonce=nonce))
    await turn.refresh()
    await turn.reply(turn.t("lesion_ask_name"))


async def name_typed(turn: Turn, body: str) -> None:
    """The spot's name, typed: then its site (asked only when the case does not say it), then it is followed."""
    patient = turn.patient
    assert patient is not None
    services = turn.services
    case_id = patient.data.get("follow")
    if not isinstance(case_id, int):
        await turn.reply(turn.t(turn.hint()))
        return
    try:
        name = tracking.clean_name(body)
        sites = await services.run(tracking.case_sites, services.sessions, patient.id, case_id)
    except tracking.TrackingError as refused:
        await turn.reply(turn.t(_ERRORS.get(refused.code, "lesion_not_found")))
        return
    if len(sites) == 1:
        await _follow(turn, case_id, name, sites[0])
        return
    nonce = turn.nonce + 1
    await services.run(cases.set_state, services.sessions, patient.id, "lesion_site",
                       turn.state_data(follow=case_id, name=name, nonce=nonce))
    await turn.refresh()
    choices = sites or list(BODY_SITES)
    buttons = [InlineKeyboardButton(t(turn.language, f"site.{s}"), callback_data=f"lt:site:{nonce}:{s}")
               for s in choices]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(turn.t("btn_skip"), callback_data=f"lt:site:{nonce}:-")])
    await turn.reply(turn.t("lesion_ask_site", name=esc(name)), InlineKeyboardMarkup(rows))


async def _site_chosen(turn: Turn, query: CallbackQuery, parts: list[str]) -> None:
    patient = turn.patient
    assert patient is not None
    case_id, name = patient.data.get("follow"), patient.data.get("name")
    site = parts[3] if len(parts) == 4 else ""
    if (patient.state != "lesion_site" or parts[2] != str(turn.nonce) or not isinstance(case_id, int)
            or not isinstance(name, str) or (site != "-" and site not in BODY_SITES)):
        await turn.refuse(query)
        return
    await turn.acknowledge(query)
    try:
        await _follow(turn, case_id, name, None if site == "-" else site)
    except tracking.TrackingError as refused:
        await turn.reply(turn.t(_ERRORS.get(refused.code, "lesion_not_found")))


async def _follow(turn: Turn, case_id: int, name: str, site: str | None) -> None:
    patient = turn.patient
    assert patient is not None
    services = turn.services
    lesion = await services.run(tracking.follow_case, services.sessions, person_id=patient.id, case_id=case_id,
                                name=name, site=site)
    services.dispatch_now()  # the first visit's photos are measured by a worker now
    # Back to the result of the case (its follow-up questions), when it is the one being worked on.
    mine = lesion.patient_id == turn.subject_id
    state, data = ("result", turn.state_data(case_id=case_id)) if mine else ("idle", turn.state_data())
    await services.run(cases.set_state, services.sessions, patient.id, state, data)
    await turn.refresh()
    when = date(turn.language, lesion.next_due_at) if lesion.next_due_at else "–"
    key = "lesion_followed.chw" if turn.is_health_worker else "lesion_followed"
    await turn.reply(t(turn.language, key, name=esc(lesion.name), date=when, ref=esc(lesion.patient_ref)))


# -- a followed spot's buttons ----------------------------------------------------------------------------------
async def _new_photo(turn: Turn, lesion_id: int) -> None:
    """A new case for the lesion, the photo asked for with guidance for the same distance, light and scale."""
    patient = turn.patient
    assert patient is not None
    services = turn.services
    lesion = await services.run(tracking.lesion_for_visit, services.sessions, patient.id, lesion_id)
    if patient.is_health_worker:  # work on that patient now, whoever was chosen before
        await services.run(outreach.choose_patient, services.sessions, patient.id, lesion.patient_id, turn.nonce + 1)
        await turn.refresh()
    await services.run(cases.start_case, services.sessions, services.images, patient_id=patient.id,
                       language=turn.language, organisation=patient.organisation, nonce=turn.nonce + 1,
                       subject_id=lesion.patient_id, lesion_id=lesion.id)
    await turn.refresh()
    coin = services.settings.lesion_coin_name
    await turn.reply(lesion_render.photo_guide(turn.language, lesion.name, coin,
                                               lesion.patient_ref if turn.is_health_worker else None))


async def _set_status(turn: Turn, lesion_id: int, status: str) -> None:
    patient = turn.patient
    assert patient is not None
    services = turn.services
    lesion = await services.run(tracking.set_status, services.sessions, patient.id, lesion_id, status)
    name = esc(lesion.name)
    if status == LesionStatus.PAUSED:
        await turn.reply(turn.t("lesion_paused", name=name))
    elif status == LesionStatus.STOPPED:
        await turn.reply(turn.t("lesion_stopped", name=name))
    else:
        when = date(turn.language, lesion.next_due_at) if lesion.next_due_at else "–"
        await turn.reply(turn.t("lesion_resumed", name=name, date=when))


async def cancel_naming(turn: Turn) -> None:
    """/cancel while naming a spot: it is not followed."""
    patient = turn.patient
    assert patient is not None
    await turn.services.run(cases.set_state, turn.services.sessions, patient.id, "idle", turn.state_data())
    await turn.reply(turn.t("lesion_cancelled"))
