"""The clinicians' Telegram side: alert buttons, Claim from the group, refusals, replies relayed to patients.

Through the real web process (PTB handlers, outbox sender) and the fake Bot API at the HTTP level.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.clinician import NOT_A_CLINICIAN, NOT_AVAILABLE, OUT_OF_DATE, alert_markup, render_reply
from tests.inbox.conftest import CLINICIAN_CHAT, INBOX_URL, WebProcess, inbox_settings, sqlite_only
from triage import accounts, outbox, review
from triage.db import transaction
from triage.models import AuditEvent, Case

SECRET = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}


def _markup(call: Any) -> dict[str, Any]:
    markup = call.params["reply_markup"]
    return json.loads(markup) if isinstance(markup, str) else dict(markup)


def _buttons(markup: dict[str, Any]) -> list[dict[str, Any]]:
    return [button for row in markup["inline_keyboard"] for button in row]


def test_alerts_get_claim_and_open_buttons_and_no_link_without_an_inbox_url(tmp_path: Any) -> None:
    with_url = alert_markup(12, "AbC-12_x", inbox_settings(tmp_path, INBOX_BASE_URL="https://x.example/inbox/"))
    assert [(b.text, b.callback_data, b.url) for b in with_url.inline_keyboard[0]] == [
        ("Claim", "claim:12:AbC-12_x", None),
        ("Open in inbox", None, "https://x.example/inbox/cases/12?ref=AbC-12_x"),
    ]
    without = alert_markup(12, "AbC-12_x", inbox_settings(tmp_path))
    assert [b.text for b in without.inline_keyboard[0]] == ["Claim"]


def test_a_reply_is_escaped_in_the_patients_language_and_fits_one_message() -> None:
    text = render_reply({"text": "<b>hi</b> & bye", "language": "es", "clinician": "Dr <Ana>"})
    assert "Mensaje de Dr &lt;Ana&gt;" in text and "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in text
    assert "<b>hi</b>" not in text
    english = render_reply({"text": "ok", "language": "xx", "clinician": "Dr A"})
    assert english.startswith("<b>Message from Dr A")
    huge = render_reply({"text": "<" * 3000, "language": "en", "clinician": "Dr A"})
    assert len(huge) <= 4096 and "&lt;" in huge and not huge.split("\n\n")[1].rstrip("…").endswith("&lt")


async def _send_alert(web: WebProcess, key: str, payload: dict[str, Any] | None = None, dedupe: str = "") -> Any:
    services = web.services
    case_id = web.world.cases[key]
    with transaction(services.sessions) as session:
        outbox.enqueue(
            session,
            kind="clinician_alert",
            chat_id=CLINICIAN_CHAT,
            case_id=case_id,
            dedupe_key=dedupe or f"case:{case_id}:alert",
            payload=payload or {"tier": "emergency", "reasons": [], "language": "en"},
            priority=0,
        )
    calls = await web.telegram.wait_for(lambda _: web.telegram.sent("sendPhoto", CLINICIAN_CHAT), timeout=15)
    return [c for c in calls if c.method == "sendPhoto"][-1]


@sqlite_only
async def test_the_alert_photo_carries_the_buttons_and_a_reminder_says_so(web_process: WebProcess) -> None:
    case_id = web_process.world.cases["emergency"]
    ref = _ref(web_process, "emergency")
    call = await _send_alert(web_process, "emergency")
    buttons = _buttons(_markup(call))
    assert buttons[0] == {"text": "Claim", "callback_data": f"claim:{case_id}:{ref}"}
    assert buttons[1] == {"text": "Open in inbox", "url": f"{INBOX_URL}/cases/{case_id}?ref={ref}"}
    assert not str(call.params["caption"]).startswith("🔔")
    web_process.telegram.calls.clear()
    payload = {"tier": "emergency", "reasons": [], "language": "en", "realert": 2}
    call = await _send_alert(web_process, "emergency", payload, dedupe=f"case:{case_id}:realert:2")
    assert str(call.params["caption"]).startswith("🔔 <b>Reminder 2: still unclaimed</b>\n")


async def _press(web: WebProcess, user_id: int, data: str) -> dict[str, Any]:
    before = len(web.telegram.sent("answerCallbackQuery"))
    resp = await web.client.post("/telegram/webhook", json=web.telegram.callback_update(user_id, data), headers=SECRET)
    assert resp.status == 200
    await web.telegram.webhook_reply(await resp.json())
    await web.telegram.wait_for(lambda _: len(web.telegram.sent("answerCallbackQuery")) > before, timeout=15)
    return web.telegram.sent("answerCallbackQuery")[-1].params


def _ref(web: WebProcess, key: str) -> str:
    with web.services.sessions() as session:
        return session.get_one(Case, web.world.cases[key]).public_ref


def _holder(web: WebProcess, key: str) -> int | None:
    with web.services.sessions() as session:
        return session.get_one(Case, web.world.cases[key]).assigned_clinician_id


async def test_a_registered_clinician_claims_from_telegram_and_the_buttons_say_who(web_process: WebProcess) -> None:
    world = web_process.world
    case_id = world.cases["emergency"]
    ref = _ref(web_process, "emergency")
    answer = await _press(web_process, 7001, f"claim:{case_id}:{ref}")  # Alice's Telegram account
    assert answer["text"] == f"You have claimed case #{case_id}."
    assert _holder(web_process, "emergency") == world.people["alice"].id
    edit = await web_process.telegram.wait_for(lambda _: web_process.telegram.sent("editMessageReplyMarkup"))
    edited = [c for c in edit if c.method == "editMessageReplyMarkup"][-1]
    assert _buttons(_markup(edited))[0]["text"] == "✅ Claimed by Dr Alice"
    with web_process.services.sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.claimed")).one()
        assert (event.actor, event.case_id, event.details["via"]) == (world.people["alice"].actor, case_id, "telegram")
    # A colleague pressing too late is told who has it; the claim stays.
    answer = await _press(web_process, 7002, f"claim:{case_id}:{ref}")
    assert answer["show_alert"] is True and "claimed by Dr Alice" in answer["text"]
    assert _holder(web_process, "emergency") == world.people["alice"].id


@sqlite_only
async def test_anyone_else_gets_a_polite_refusal_and_nothing_changes(web_process: WebProcess) -> None:
    world = web_process.world
    case_id = world.cases["emergency"]
    ref = _ref(web_process, "emergency")
    answer = await _press(web_process, 555, f"claim:{case_id}:{ref}")  # not a registered clinician
    assert answer == {"callback_query_id": answer["callback_query_id"], "text": NOT_A_CLINICIAN, "show_alert": True}
    answer = await _press(web_process, 7003, f"claim:{case_id}:{ref}")  # Bob, of the other organisation
    assert answer["text"] == NOT_AVAILABLE and answer["show_alert"] is True
    answer = await _press(web_process, 7001, f"claim:999999:{ref}")  # no such case
    assert answer["text"] == NOT_AVAILABLE
    # A button made for another case (an erased one whose number came back, a forgery): refused, nothing changes.
    answer = await _press(web_process, 7001, f"claim:{case_id}:XXXXXXXX")
    assert answer["text"] == OUT_OF_DATE and answer["show_alert"] is True
    for forged in (f"claim:{case_id}", f"claim:{case_id}:{ref}:x", "claim:٣:" + ref, f"claim:{case_id}:{ref[:7]}"):
        answer = await _press(web_process, 7001, forged)  # an older release's button, or garbage
        assert answer["text"] == OUT_OF_DATE
    services = web_process.services
    await services.run(accounts.set_active, services.sessions, world.people["carol"].id, False, actor="test")
    answer = await _press(web_process, 7002, f"claim:{case_id}:{ref}")  # Carol, deactivated
    assert answer["text"] == NOT_A_CLINICIAN
    assert _holder(web_process, "emergency") is None
    assert web_process.telegram.sent("editMessageReplyMarkup") == []


@sqlite_only
async def test_a_reply_from_the_inbox_reaches_the_patient_through_the_bot(web_process: WebProcess) -> None:
    world = web_process.world
    alice = await web_process.user("alice")
    base = f"/inbox/cases/{world.cases['routine']}"
    assert (await alice.post(f"{base}/claim")).status == 303
    resp = await alice.post(f"{base}/reply", {"reply": "Use the cream twice a day. <i>Not</i> on broken skin."})
    assert resp.status == 303
    calls = await web_process.telegram.wait_for(lambda _: web_process.telegram.sent("sendMessage", world.chat_id))
    sent = [c for c in calls if c.method == "sendMessage"][-1]
    assert sent.params["parse_mode"] == "HTML"
    assert "Message from Dr Alice" in sent.params["text"]
    assert "Use the cream twice a day. &lt;i&gt;Not&lt;/i&gt; on broken skin." in sent.params["text"]


@sqlite_only
async def test_the_beat_job_realerts_through_the_outbox_and_the_task_is_scheduled(web_process: WebProcess) -> None:
    from triage.celery_app import create_celery

    services = web_process.services
    celery = create_celery(web_process.settings)
    assert "triage.realert_unclaimed" in celery.tasks
    schedule = {entry["task"] for entry in celery.conf.beat_schedule.values()}
    assert "triage.realert_unclaimed" in schedule
    ids = await services.run(review.realert_unclaimed, services.sessions, chat_id=CLINICIAN_CHAT, after_s=60)
    world = web_process.world
    # Urgent and emergency, unclaimed: not the routine or the closed case. Alerts go to the one clinician chat,
    # whatever the organisation, as the first alerts do (triage.pipeline).
    assert sorted(ids) == sorted([world.cases["emergency"], world.cases["urgent"], world.cases["south"]])
    call = await web_process.telegram.wait_for(
        lambda _: (
            len(web_process.telegram.sent("sendPhoto", CLINICIAN_CHAT))
            + len(web_process.telegram.sent("sendMessage", CLINICIAN_CHAT))
            >= 3
        )
    )
    texts = [str(c.params.get("caption") or c.params.get("text")) for c in call if c.params.get("chat_id")]
    assert sum(t.startswith("🔔 <b>Reminder 1:") for t in texts) == 3
