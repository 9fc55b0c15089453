"""Telegram updates of every kind, well-formed and not, through the real webhook of the real web process.

Each example is a short run of updates from one of a few users (so that consent, photos and questions build up a
state between examples) or from anyone: messages with text, commands, photos, documents, stickers, voice notes,
locations, contacts, captions and entities; edited messages and channel posts; button taps with the bot's own
callback data, mutated, or anything; membership changes, inline queries, polls, reactions and kinds Telegram has
not invented yet; with fields missing, added or of the wrong type, huge strings, NUL and lone surrogates. The
property: every answer is 200, 400 or 503 (never a 500), the process keeps answering, and nothing is logged at
ERROR (a handler that failed is logged there, however the webhook answered).

Derandomised and bounded by WEBHOOK_FUZZ_EXAMPLES (default 150 per database, about 30 s in all); raise it for a
longer hunt. Every crash it found is a named regression test in test_webhook_regressions.py.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.bot_harness import SECRET, start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from triage import logs

EXAMPLES = int(os.environ.get("WEBHOOK_FUZZ_EXAMPLES", "150"))
# No shrinking: the web process keeps the patients' state between examples, so a shrunk example would not replay.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))
ANSWERS = {200, 400, 503}
USERS = (8101, 8102, 8103)
CALLBACK_SEEDS = (
    "consent:yes:en", "consent:no:en", "consent:yes:fr", "consent:yes:zz", "lang:es", "lang:xx", "ph:0:done",
    "ph:-1:done", "ph:99999999999999999999999:done", "q:0:age:adult", "q:1:age:_back", "q:0:sites:face",
    "q:0:sites:_done", "q:0:x:_skip", "q:", "q:a:b:c:d:e", "ft:0:skip", "em:0:send", "em:0:go", "cf:0:submit",
    "cf:0:change", "cf:0:cancel", "cf:", "em:", "delete:yes", "delete:no", "claim:1:abc", "claim:99999999999:x",
    "claim:", "claim:1", "ph:1:done\n", "q:0:age:adult\n", "lt:f:1", "lt:p:1", "lt:z:1", "lt:r:1", "lt:s:1",
    "lt:site:0:back", "lt:site:0:-", "lt:f:99999999999", "lt:", "lt:p:-1",
)
COMMANDS = ("/start", "/new", "/status", "/history", "/language", "/cancel", "/help", "/delete", "/lesions",
            "/start fr", "/start@derma_test_bot", "/unknown", "/", "/start " + "x" * 300)


# -- values ------------------------------------------------------------------------------------------------------
hostile_text = (
    st.text(max_size=40)
    | st.sampled_from(["\x00", "\ud800", "a\udfffb", "\u202e", "\x1b[2J", "😀" * 50, "٣", "", " ", "\n" * 20])
    | st.integers(1, 40_000).map(lambda n: "x" * n)
    | st.sampled_from(COMMANDS)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
ids = st.sampled_from(USERS) | st.integers(-(2**70), 2**70) | st.integers(1, 2**52)


@st.composite
def users(draw: st.DrawFn, uid: int) -> dict[str, Any]:
    user: dict[str, Any] = {"id": uid, "is_bot": draw(st.booleans()), "first_name": draw(hostile_text)}
    if draw(st.booleans()):
        user["language_code"] = draw(st.sampled_from(["en", "fr", "es", "pt", "xx", "en-GB"]) | hostile_text)
    return user


@st.composite
def chats(draw: st.DrawFn, uid: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["private", "private", "group", "supergroup", "channel"]) | hostile_text)
    return {"id": uid if kind == "private" else draw(ids), "type": kind}


def _entities(draw: st.DrawFn, text: str) -> list[dict[str, Any]]:
    kinds = st.sampled_from(["bot_command", "mention", "url", "bold", "text_link", "custom_emoji", "spoiler"])
    return [{"type": draw(kinds), "offset": draw(st.integers(-5, len(text) + 5)),
             "length": draw(st.integers(-5, len(text) + 5))} for _ in range(draw(st.integers(0, 3)))]


@st.composite
def contents(draw: st.DrawFn, photo: dict[str, Any]) -> dict[str, Any]:
    """What a message carries: one kind of content, sometimes two."""
    kind = draw(st.sampled_from(["text", "text", "command", "photo", "photo", "document", "sticker", "voice",
                                 "location", "contact", "video", "poll", "dice", "new_chat_members", "empty"]))
    if kind in ("text", "command"):
        text = draw(st.sampled_from(COMMANDS)) if kind == "command" else draw(hostile_text)
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0]) if text.split() else 0}]
        return {"text": text, "entities": entities if kind == "command" else _entities(draw, text)}
    caption: dict[str, Any] = {}
    if draw(st.booleans()):
        text = draw(hostile_text)
        caption = {"caption": text, "caption_entities": _entities(draw, text)}
    if kind == "photo":
        sizes = [photo] if draw(st.booleans()) else [
            {"file_id": draw(hostile_text), "file_unique_id": draw(hostile_text), "width": draw(st.integers(-1, 10**6)),
             "height": draw(st.integers(-1, 10**6)), "file_size": draw(st.integers(-1, 2**40))}]
        return {"photo": sizes, **caption}
    if kind == "document":
        doc = {"file_id": photo["file_id"] if draw(st.booleans()) else draw(hostile_text), "file_unique_id": "d",
               "file_name": draw(hostile_text), "mime_type": draw(st.sampled_from(["image/jpeg", "image/heic",
                                                                                    "application/pdf"]) | hostile_text),
               "file_size": draw(st.integers(-1, 2**40))}
        return {"document": doc, **caption}
    simple: dict[str, Any] = {
        "sticker": {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False, "type": "regular", "emoji": "😀"}},
        "voice": {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}},
        "location": {"location": {"latitude": draw(st.floats(-1000, 1000)), "longitude": draw(st.floats(-1000, 1000))}},
        "contact": {"contact": {"phone_number": draw(hostile_text), "first_name": draw(hostile_text)}},
        "video": {"video": {"file_id": "vi", "file_unique_id": "vi", "width": 1, "height": 1, "duration": 1}},
        "poll": {"poll": {"id": "p", "question": draw(hostile_text), "options": [], "total_voter_count": 0,
                          "is_closed": False, "is_anonymous": True, "type": "regular",
                          "allows_multiple_answers": False}},
        "dice": {"dice": {"emoji": "🎲", "value": draw(st.integers(-10, 10))}},
        "new_chat_members": {"new_chat_members": [{"id": 1, "is_bot": True, "first_name": "b"}]},
        "empty": {},
    }
    return {**simple[kind], **caption}


@st.composite
def messages(draw: st.DrawFn, uid: int, photo: dict[str, Any]) -> dict[str, Any]:
    message = {"message_id": draw(st.integers(-5, 2**40)), "date": draw(st.integers(-5, 2**40)),
               "chat": draw(chats(uid)), "from": draw(users(uid)), **draw(contents(photo))}
    if draw(st.integers(0, 5)) == 0:
        message["reply_to_message"] = {"message_id": 1, "date": 1, "chat": message["chat"], "text": draw(hostile_text)}
    return message


@st.composite
def callbacks(draw: st.DrawFn, uid: int, photo: dict[str, Any]) -> dict[str, Any]:
    data = draw(st.sampled_from(CALLBACK_SEEDS) | hostile_text | st.sampled_from(CALLBACK_SEEDS).map(
        lambda seed: seed.replace("0", "٠")) | st.tuples(st.sampled_from(CALLBACK_SEEDS), hostile_text).map("".join))
    query: dict[str, Any] = {"id": str(draw(st.integers(0, 2**63))), "from": draw(users(uid)),
                             "chat_instance": draw(hostile_text), "data": data}
    if draw(st.integers(0, 4)):
        query["message"] = draw(messages(uid, photo))
    return query


def _member(draw: st.DrawFn, uid: int) -> dict[str, Any]:
    status = st.sampled_from(["member", "kicked", "left", "administrator", "creator", "restricted"]) | hostile_text
    return {"chat": draw(chats(uid)), "from": draw(users(uid)), "date": 1,
            "old_chat_member": {"status": draw(status), "user": draw(users(uid))},
            "new_chat_member": {"status": draw(status), "user": draw(users(uid)), "until_date": 0}}


@st.composite
def updates(draw: st.DrawFn, update_id: int, photo: dict[str, Any]) -> dict[str, Any]:
    """One update of any kind Telegram sends (or might), maybe with a field dropped, added or of the wrong type."""
    uid = draw(ids)
    kind = draw(st.sampled_from(["message", "message", "message", "callback_query", "callback_query",
                                 "edited_message", "channel_post", "edited_channel_post", "business_message",
                                 "my_chat_member", "chat_member", "inline_query", "chosen_inline_result", "poll",
                                 "poll_answer", "chat_join_request", "message_reaction", "some_future_kind"]))
    if kind in ("message", "edited_message", "channel_post", "edited_channel_post", "business_message"):
        body: Any = draw(messages(uid, photo))
    elif kind == "callback_query":
        body = draw(callbacks(uid, photo))
    elif kind in ("my_chat_member", "chat_member"):
        body = _member(draw, uid)
    elif kind in ("inline_query", "chosen_inline_result"):
        body = {"id": "i", "from": draw(users(uid)), "query": draw(hostile_text), "offset": "",
                "result_id": "r"}
    elif kind == "poll_answer":
        body = {"poll_id": "p", "user": draw(users(uid)), "option_ids": draw(st.lists(st.integers(-1, 9)))}
    elif kind == "chat_join_request":
        body = {"chat": draw(chats(uid)), "from": draw(users(uid)), "user_chat_id": uid, "date": 1}
    elif kind == "message_reaction":
        body = {"chat": draw(chats(uid)), "message_id": 1, "date": 1, "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}], "user": draw(users(uid))}
    else:
        body = draw(json_values)
    update: dict[str, Any] = {"update_id": update_id, kind: body}
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        _mutate(draw, update)
    return update


# Fields the bot reads: a mutation goes for one of them half the time.
READ = ("chat", "from", "user", "id", "text", "data", "caption", "message", "message_id", "date", "type", "photo",
        "document", "file_id", "entities", "language_code", "first_name", "callback_query")


def _mutate(draw: st.DrawFn, value: dict[str, Any]) -> None:
    """Drop, replace or add one field somewhere below the top (the update id stays, or the door refuses it)."""
    target: Any = value
    while isinstance(target, dict) and draw(st.integers(0, 2)):
        inner = sorted(k for k, v in target.items() if k != "update_id" and isinstance(v, dict))
        if not inner:
            break
        target = target[draw(st.sampled_from(inner))]
    keys = sorted(k for k in target if k != "update_id")
    read = [k for k in keys if k in READ]
    action = draw(st.sampled_from(["drop", "replace", "replace", "add"]))
    if action == "add" or not keys:
        target[draw(st.sampled_from(READ) | st.text(max_size=10))] = draw(json_values)
        return
    key = draw(st.sampled_from(read)) if read and draw(st.booleans()) else draw(st.sampled_from(keys))
    if action == "drop":
        del target[key]
    else:
        target[key] = draw(json_values)


# -- the web process ----------------------------------------------------------------------------------------------
@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    """The web process, with the regular patients past consent (the fuzzer takes them on from there)."""
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path, MAX_CONCURRENT_UPDATES="4")
    for user in USERS:
        for update in (telegram.text_update(user, "/start"), telegram.callback_update(user, "consent:yes:en")):
            assert await post_update(client, update) == 200
    yield client
    await client.close()


class Counter:
    def __init__(self) -> None:
        self.next = 10_000

    def __call__(self) -> int:
        self.next += 1
        return self.next


@pytest.fixture
def update_ids() -> Counter:
    return Counter()


async def post_update(web: TestClient[Any, Any], update: dict[str, Any]) -> int:
    resp = await web.post("/telegram/webhook", data=json.dumps(update),
                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
    await resp.read()
    return resp.status


def errors_logged(caplog: pytest.LogCaptureFixture, since: int) -> list[str]:
    """The ERROR records since record `since`, formatted as the web process would write them."""
    formatter = logs.ContentFreeFormatter(logs.FORMAT)
    return [formatter.format(r) for r in caplog.records[since:] if r.levelno >= logging.ERROR]


def latest_buttons(telegram: FakeBotAPI, chat_id: int) -> list[str]:
    """The callback data of the buttons on the bot's latest message to `chat_id` (none if it has no keyboard)."""
    for call in reversed(telegram.calls):
        if str(call.params.get("chat_id")) != str(chat_id) or call.method not in SHOWN:
            continue
        markup = call.params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        keyboard = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        return [b["callback_data"] for row in keyboard or [] for b in row if "callback_data" in b]
    return []


SHOWN = ("sendMessage", "sendPhoto", "editMessageText", "editMessageReplyMarkup", "editMessageCaption")


@st.composite
def patient_actions(draw: st.DrawFn, telegram: FakeBotAPI) -> dict[str, Any]:
    """What one of the regular patients does next, mostly what the bot asked for: tap a button of its latest
    message (as it is, or tampered with), else send a photo or say something. Every choice is drawn before the
    chat is looked at, so that hypothesis draws the same way whatever the bot answered."""
    user = draw(st.sampled_from(USERS))
    intent, button, tamper = draw(st.integers(0, 9)), draw(st.integers(0, 11)), draw(st.integers(0, 9))
    said = draw(hostile_text | st.sampled_from(COMMANDS))
    document = draw(st.sampled_from([skin_photo(64, 48), b"%PDF-1.4", b""]))
    buttons = latest_buttons(telegram, user)
    if buttons and intent < 7:
        data = buttons[button % len(buttons)]
        tampered = (data + "x", data.replace(":", "::"), data[:-1], data + "\n", "٠" + data)
        return telegram.callback_update(user, tampered[tamper] if tamper < len(tampered) else data)
    if intent < 4 or (not buttons and intent < 6):
        return telegram.photo_update(user, skin_photo(320, 240), caption=said if intent % 2 else "")
    if intent == 9:
        return telegram.document_update(user, document, file_name=said, mime_type="image/jpeg")
    return telegram.text_update(user, said)


@FUZZ
@given(data=st.data())
async def test_no_update_crashes_the_web_process(
    web: TestClient[Any, Any], telegram: FakeBotAPI, update_ids: Counter, caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    caplog.set_level(logging.WARNING)
    file_id, unique = telegram.add_file(skin_photo(320, 240))
    photo = {"file_id": file_id, "file_unique_id": unique, "width": 320, "height": 240, "file_size": 5000}
    for step in range(data.draw(st.integers(1, 6), label="steps")):
        if data.draw(st.booleans(), label=f"patient {step}"):
            update = data.draw(patient_actions(telegram), label=f"action {step}")
        else:
            update = data.draw(updates(0, photo), label=f"update {step}")
        update["update_id"] = update_ids()
        since = len(caplog.records)
        status = await post_update(web, update)
        shown = json.dumps(update)[:600]
        assert status in ANSWERS, (status, shown)
        failed = errors_logged(caplog, since)
        assert not failed, (shown, failed)
    health = await web.get("/healthz")
    assert health.status == 200


async def test_after_hostile_updates_a_patient_still_gets_the_consent_question(
    web: TestClient[Any, Any], telegram: FakeBotAPI, update_ids: Counter
) -> None:
    # The fuzzer's run in miniature, then an ordinary patient: the process kept its state and its answers.
    for body in (b"{\"update_id\": 1, \"message\": " + b"[" * 5000 + b"]" * 5000 + b"}",
                 b'{"update_id": 2, "message": {"text": "\\u0000\\ud800"}}', b'{"update_id": 3, "poll": 7}',
                 b'{"update_id": 4, "callback_query": {"id": "1", "data": "q:0:x"}}'):
        resp = await web.post("/telegram/webhook", data=body,
                              headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"})
        assert resp.status in ANSWERS
    assert await post_update(web, telegram.text_update(8199, "/start")) == 200
    await telegram.wait_for(lambda calls: any("Do you agree?" in str(c.params.get("text", ""))
                                              for c in telegram.sent("sendMessage", 8199)), timeout=15)
