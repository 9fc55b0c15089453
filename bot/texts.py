"""Everything the bot says, in every language it speaks, from gettext catalogs (`bot/locales/*/LC_MESSAGES/
messages.po`, read with Babel). Messages are keyed (`msgid "ask_photo"`); the English catalog holds the source
text and each translation carries the English as a translator comment. `tests/test_boundaries.py` checks every
catalog is complete, with the same placeholders.

Messages are short, plain, and say what to do next; HTML parse mode (only <b> and <i>).
To add a language: copy `en/LC_MESSAGES/messages.po`, translate the msgstr lines, add its code to LANGUAGES.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("en", "es", "fr")
LANGUAGE_NAMES = {"en": "English", "es": "Español", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LOCALES = Path(__file__).resolve().parent / "locales"


@functools.cache
def catalog(language: str) -> dict[str, str]:
    """The messages of one language, keyed by message id."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def pick_language(code: str | None) -> str:
    """The bot's language for a Telegram `language_code` such as `es-MX`; English when unsupported."""
    base = (code or "").split("-")[0].lower()
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


def t(language: str, key: str, **values: Any) -> str:
    """The message `key` in `language` (English when the language or the translation is missing)."""
    messages = catalog(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    text = messages.get(key) or catalog(DEFAULT_LANGUAGE)[key]
    return text.format(**values) if values else text
