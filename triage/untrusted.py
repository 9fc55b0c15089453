"""Text from outside (Telegram updates, inbox forms) made safe to store and show.

PostgreSQL refuses a NUL character in text, and a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot be
encoded at all: either would turn a patient's message or a clinician's form into a server error. Other control
characters are invisible in the inbox and in Telegram and can hide or reorder what a reader sees.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls but tab, newline and carriage return; DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_DEPTH = 32


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a control character (other than tab and line breaks) or a lone surrogate."""
    return bool(_CONTROL.search(text) or _SURROGATE.search(text))


def clean_text(text: str) -> str:
    """`text` without control characters (tab and line breaks stay), lone surrogates replaced by U+FFFD."""
    if not has_control_characters(text):
        return text
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


class TooDeep(ValueError):
    """A JSON value nested deeper than MAX_DEPTH."""


def clean_json(value: Any, depth: int = 0) -> Any:
    """A decoded JSON value with every string (keys too) cleaned; `TooDeep` past MAX_DEPTH levels."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    return value
