"""Everything the bot says, in every language it speaks, from gettext catalogs (`bot/locales/*/LC_MESSAGES/
messages.po`, read with Babel). Messages are keyed (`msgid "ask_photo"`); the English catalog holds the source
text and each translation carries the English as a translator comment. `tests/test_boundaries.py` checks every
catalog is complete, with the same placeholders. The clinical words of each language are kept consistent by its
glossary (`bot/locales/glossary/<code>.md`).

Messages are short, plain, and say what to do next; HTML parse mode (only <b> and <i>).
To add a language: copy `en/LC_MESSAGES/messages.po`, translate the msgstr lines, add its code to LANGUAGES and
its name, in its own script, to LANGUAGE_NAMES (and to RIGHT_TO_LEFT when it is written right to left).

`t()` formats what it puts into `{placeholders}`: numbers with Babel for the language (`1,5` in Portuguese), and,
in a right-to-left language, every value isolated (U+2068 ... U+2069) so that a number, a name, a case number or
an English word keeps its own direction and place, every line marked right to left (U+200F) so that a line that
starts with a number or a command is not laid out left to right, and every /command kept in one piece (U+2066 ...
U+2069) so that Telegram does not show it as "start/".
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = ("en", "es", "fr", "pt", "ar", "sw", "hi")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français", "pt": "Português", "ar": "العربية",
                  "sw": "Kiswahili", "hi": "हिन्दी"}
RIGHT_TO_LEFT = frozenset({"ar"})
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGE_BUTTONS_PER_ROW = 3  # seven names on a 390 px phone: rows of three fit without cutting a name

FIRST_STRONG_ISOLATE, LEFT_TO_RIGHT_ISOLATE, POP_DIRECTIONAL_ISOLATE = "\u2068", "\u2066", "\u2069"
RIGHT_TO_LEFT_MARK = "\u200f"
LIST_SEPARATORS = {"ar": "، "}  # the Arabic comma
_COMMAND = re.compile(r"(?<![\w/<])/[a-z]+\b")  # a /command, not the "/b" of "</b>"
_EXPLICIT_DIRECTION = re.compile("[\u202a-\u202e\u2066-\u2069]")


@functools.cache
def catalog(language: str) -> dict[str, str]:
    """The messages of one language, keyed by message id."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def pick_language(code: str | None) -> str:
    """The bot's language for a Telegram `language_code` such as `es-MX` or `pt-br`; English when unsupported."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def has_text(language: str, key: str) -> bool:
    """Whether `key` has a text (in `language` or, failing that, in English)."""
    return key in catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE) or key in catalog(DEFAULT_LANGUAGE)


def t_for(language: str, key: str, health_worker: bool, **values: Any) -> str:
    """`t`, worded for a community health worker writing for a patient when `health_worker` and the catalog has
    such a wording (`<key>.chw`, e.g. "Does the patient ...?"); the patient's own wording otherwise."""
    if health_worker and has_text(language, f"{key}.chw"):
        key = f"{key}.chw"
    return t(language, key, **values)


def direction(language: str) -> Literal["ltr", "rtl"]:
    """The direction `language` is written in."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def isolate(text: str) -> str:
    """`text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: laid out in its own direction, it neither
    takes nor gives direction to the words around it (an Arabic name in an English line, a number in Arabic).

    Embeddings, overrides and isolates inside `text` (U+202A-U+202E, U+2066-U+2069) are removed first: a patient's
    stray U+2069 would end the isolate early, and an override could reorder what the reader sees."""
    return f"{FIRST_STRONG_ISOLATE}{_EXPLICIT_DIRECTION.sub('', text)}{POP_DIRECTIONAL_ISOLATE}"


def number(language: str, value: float) -> str:
    """`value` as `language` writes numbers: Babel's decimal sign ("1,5" in pt, es, fr); integers without
    grouping, so that a case number stays the number the clinicians see."""
    locale = language if language in LANGUAGES else DEFAULT_LANGUAGE
    if isinstance(value, int):
        return format_decimal(value, locale=locale, group_separator=False)
    return format_decimal(value, locale=locale, decimal_quantization=False)


def date(language: str, value: datetime.date) -> str:
    """`value` as a date in `language` (Babel's medium format: "Nov 28, 2026", "28/11/2026", "28 नव॰ 2026")."""
    return format_date(value, format="medium", locale=language if language in LANGUAGES else DEFAULT_LANGUAGE)


def joined(language: str, parts: Sequence[str], separator: str = " · ") -> str:
    """`parts` on one line, such as a /history row: in a right-to-left language each part isolated and the line
    marked right to left, so that "#12" and a date stay in their places."""
    if direction(language) == "ltr":
        return separator.join(parts)
    return _right_to_left_lines(separator.join(isolate(part) for part in parts))


def listing(language: str, items: Sequence[str]) -> str:
    """`items` as a list in `language`'s punctuation: "Face, Arms"; "الوجه، الذراعان" in Arabic."""
    return LIST_SEPARATORS.get(language, ", ").join(items)


def language_rows(per_row: int = LANGUAGE_BUTTONS_PER_ROW) -> list[list[str]]:
    """The language codes in rows for a keyboard: at most `per_row` to a row, the rows as even as they can be
    (seven languages: 3, 2, 2), in the order of LANGUAGES."""
    count = -(-len(LANGUAGES) // per_row)
    size, extra = divmod(len(LANGUAGES), count)
    rows, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        rows.append(list(LANGUAGES[start:end]))
        start = end
    return rows


def _shown(language: str, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = number(language, value)
    else:
        text = str(value)
    # a line break ends an isolate: each line of a value (the patient's words) is isolated on its own
    return "\n".join(map(isolate, text.split("\n"))) if direction(language) == "rtl" else text


def _right_to_left_lines(text: str) -> str:
    """Every line of `text` starting with RIGHT-TO-LEFT MARK, and every /command isolated left to right."""
    text = _COMMAND.sub(lambda m: f"{LEFT_TO_RIGHT_ISOLATE}{m.group()}{POP_DIRECTIONAL_ISOLATE}", text)
    return "\n".join(RIGHT_TO_LEFT_MARK + line for line in text.split("\n"))


def t(language: str, key: str, **values: Any) -> str:
    """The message `key` in `language` (English when the language or the translation is missing), with `values`
    put into its placeholders (see the module docstring for how they are written)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    messages = catalog(language)
    text = messages.get(key)
    if text is None:  # shown in English: written and laid out as English
        language, text = DEFAULT_LANGUAGE, catalog(DEFAULT_LANGUAGE)[key]
    if values:
        text = text.format(**{name: _shown(language, value) for name, value in values.items()})
    return _right_to_left_lines(text) if direction(language) == "rtl" else text
