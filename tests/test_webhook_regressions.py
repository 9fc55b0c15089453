"""The crashes the webhook fuzzer (test_webhook_fuzz.py) found, one named test each, and the door that ends them
(`bot/update_shape.py`): each update below was a 500 or a handler failure logged at ERROR; now it is a 400 and
nothing is logged at ERROR. Telegram never sends these; a forged or garbled delivery past the secret could."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.update_shape import MalformedUpdate, check_shape
from tests.bot_harness import start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.test_webhook_fuzz import post_update

USER = {"id": 8150, "is_bot": False, "first_name": "P"}
CHAT = {"id": 8150, "type": "private"}


def _message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 1, "date": 1, "from": USER, "chat": CHAT, "text": "/start", **fields}


# name: (update without its id, what it did before the door)
FOUND = {
    "chat_id_is_a_list": ({"message": _message(chat={"id": [], "type": "private"})},
                          "500: unhashable type 'list' (the chat id as a lock key)"),
    "user_id_is_an_object": ({"message": _message(**{"from": {"id": {}, "is_bot": False, "first_name": "x"}})},
                             "500: unhashable type 'dict' (the user id as a lock key)"),
    "member_update_user_id_is_a_list": (
        {"my_chat_member": {"chat": CHAT, "from": {"id": [1], "is_bot": False, "first_name": "x"}, "date": 1,
                            "old_chat_member": {"status": "member", "user": USER},
                            "new_chat_member": {"status": "kicked", "user": USER, "until_date": 0}}},
        "500: unhashable type 'list'"),
    "message_without_a_chat": ({"message": {"message_id": 1, "date": 1, "from": USER, "text": "hi"}},
                               "handler failed: 'NoneType' object has no attribute 'type' (the private-chat filter)"),
    "text_is_a_number": ({"message": _message(text=5)}, "handler failed: expected string, got 'int'"),
    "text_is_a_list": ({"message": _message(text=["a"])}, "handler failed: expected string, got 'list'"),
    "language_code_is_a_number": ({"message": _message(**{"from": {**USER, "language_code": 7}})},
                                  "handler failed: 'int' object has no attribute 'split'"),
    "user_id_beyond_64_bits": (
        {"message": _message(**{"from": {**USER, "id": 2**70}, "chat": {"id": 2**70, "type": "private"}})},
        "handler failed: OverflowError on SQLite, asyncpg 'invalid input' on PostgreSQL"),
    "callback_query_id_is_an_object": (
        {"callback_query": {"id": {"a": 1}, "from": USER, "chat_instance": "c", "data": "cf:0:change"}},
        "500: unhashable type 'dict' (the tap's id keys its answer)"),
    "user_id_is_a_string": ({"message": _message(**{"from": {**USER, "id": "8150"}})},
                            "handler failed on PostgreSQL: asyncpg 'invalid input for query argument'"),
}


@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path)
    yield client
    await client.close()


@pytest.mark.parametrize("name", sorted(FOUND))
async def test_a_malformed_update_is_refused_at_the_door(
    web: TestClient[Any, Any], telegram: FakeBotAPI, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.WARNING)
    update, before = FOUND[name]
    status = await post_update(web, {"update_id": 70_001, **update})
    assert status == 400, before
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == [], before
    assert telegram.sent("sendMessage") == []  # no "something went wrong" to anyone
    # The same patient, well-formed, is served as usual afterwards.
    assert await post_update(web, {"update_id": 70_002, "message": _message()}) == 200


def test_the_shape_check_names_the_field_and_never_its_value() -> None:
    secret = "patient-words-Pp7"
    with pytest.raises(MalformedUpdate) as caught:
        check_shape({"update_id": 1, "message": _message(text=[secret])})
    assert "update.message.text" in str(caught.value) and secret not in str(caught.value)
    for bad in ([], "x", {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": CHAT,
                                                      "entities": [{"type": "bold", "offset": "0", "length": 1}]}},
                {"update_id": 1, "callback_query": {"id": "1", "from": USER, "data": {"x": 1}}},
                {"update_id": 1, "message": _message(photo={"file_id": "x"})},
                {"update_id": 2**64, "message": _message()}):
        with pytest.raises(MalformedUpdate):
            check_shape(bad)


def test_the_shape_check_lets_every_well_formed_kind_through() -> None:
    telegram = FakeBotAPI()
    well_formed = [
        telegram.text_update(1, "/start"), telegram.callback_update(1, "consent:yes:en"),
        telegram.document_update(1, b"x", file_name="a.jpg", mime_type="image/jpeg"),
        {"update_id": 9, "inline_query": {"id": "abc", "from": USER, "query": "q", "offset": "10"}},
        {"update_id": 9, "poll": {"id": "p", "question": "?", "options": [{"text": "a", "voter_count": 0}],
                                  "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                                  "type": "regular", "allows_multiple_answers": False}},
        {"update_id": 9, "callback_query": {"id": "1", "from": USER, "chat_instance": "c", "data": None,
                                            "message": {"message_id": 1, "date": 0, "chat": CHAT}}},
        {"update_id": 9, "some_future_kind": {"anything": [1, {"id": "not ours"}]}},
    ]
    for update in well_formed:
        assert check_shape(update) is update
