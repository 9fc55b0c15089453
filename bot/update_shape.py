"""The shape of a Telegram update, checked at the webhook's door before python-telegram-bot reads it.

python-telegram-bot builds its objects from whatever JSON it is given without checking a single type, so an update
whose user id is a list, whose message has no chat, or whose text is a number would reach the handlers and fail
there (a chat id used as a dictionary key, `message.chat.type` on None). Telegram never sends such updates; the
Bot API guarantees these types. `check_shape` refuses anything else (`MalformedUpdate`, a `ValueError`: the
webhook answers 400) instead of letting a handler crash on it.

What is checked is what the bot reads, wherever it appears in an update:
- an object under `from`, `user`, `chat`, `sender_chat`: a JSON object whose `id` is a whole number;
- an object under `callback_query`, `inline_query`, `shipping_query`, `pre_checkout_query`: a JSON object with a
  text `id` (the bot keys the answer to a tap by it);
- an object under a message key (`message`, `edited_message`, `channel_post`, `reply_to_message`, ...): a JSON
  object with a `chat`, and a whole-number `message_id` and `date`;
- text fields (`text`, `caption`, `data`, `first_name`, `language_code`, `file_id`, `mime_type`, ...): strings;
- number fields (`message_id`, `date`, `width`, `file_size`, ...) and entities' `offset` and `length`: whole
  numbers; lists (`entities`, `photo`, ...): lists;
- every whole number within a signed 64-bit integer (the database's largest), nesting at most MAX_DEPTH deep.
Fields the bot does not read are left alone; `null` counts as not given, as the Bot API's optional fields do.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32
LIMIT = 2**63
IDENTITIES = frozenset({"from", "user", "chat", "sender_chat", "sender_business_bot", "actor_chat", "via_bot"})
MESSAGES = frozenset({"message", "edited_message", "channel_post", "edited_channel_post", "business_message",
                      "edited_business_message", "reply_to_message", "pinned_message"})
QUERIES = frozenset({"callback_query", "inline_query", "shipping_query", "pre_checkout_query"})
TEXTS = frozenset({"text", "caption", "data", "first_name", "last_name", "username", "language_code", "file_id",
                   "file_unique_id", "file_name", "mime_type", "type", "query", "chat_instance", "title"})
NUMBERS = frozenset({"update_id", "message_id", "date", "edit_date", "width", "height", "file_size", "duration",
                     "until_date", "user_chat_id"})
LISTS = frozenset({"entities", "caption_entities", "photo", "new_chat_members", "option_ids"})
ENTITY_LISTS = frozenset({"entities", "caption_entities"})


class MalformedUpdate(ValueError):
    """An update that is not what the Bot API sends; the message names the field, never its value."""


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -LIMIT < value < LIMIT


def check_shape(update: Any) -> Any:
    """`update` itself when its fields have the types the Bot API guarantees; raises `MalformedUpdate` naming the
    first field that does not."""
    if not isinstance(update, dict):
        raise MalformedUpdate("an update is a JSON object")
    _check_object(update, "update", 0)
    return update


def _check_object(obj: dict[str, Any], where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedUpdate(f"{where}: nested too deeply")
    for key, value in obj.items():
        path = f"{where}.{key}"
        if value is None:
            continue
        if key in IDENTITIES and not (isinstance(value, dict) and _whole(value.get("id"))):
            raise MalformedUpdate(f"{path}: expected an object with a whole-number id")
        if key in QUERIES and not (isinstance(value, dict) and isinstance(value.get("id"), str)):
            raise MalformedUpdate(f"{path}: expected an object with a text id")
        if key in MESSAGES and not (isinstance(value, dict) and isinstance(value.get("chat"), dict)
                                    and _whole(value.get("message_id")) and _whole(value.get("date"))):
            raise MalformedUpdate(f"{path}: expected a message with a chat, a message_id and a date")
        if key in TEXTS and not isinstance(value, str):
            raise MalformedUpdate(f"{path}: expected text")
        if key in NUMBERS and not _whole(value):
            raise MalformedUpdate(f"{path}: expected a whole number")
        if key in LISTS and not isinstance(value, list):
            raise MalformedUpdate(f"{path}: expected a list")
        _check_value(value, path, depth + 1, entities=key in ENTITY_LISTS)


def _check_value(value: Any, where: str, depth: int, *, entities: bool = False) -> None:
    if isinstance(value, dict):
        _check_object(value, where, depth)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if entities and not (isinstance(item, dict) and _whole(item.get("offset")) and _whole(item.get("length"))
                                 and isinstance(item.get("type"), str)):
                raise MalformedUpdate(f"{where}[{index}]: expected an entity with a type, an offset and a length")
            _check_value(item, f"{where}[{index}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and not -LIMIT < value < LIMIT:
        raise MalformedUpdate(f"{where}: a number beyond 64 bits")
