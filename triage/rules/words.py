"""Words of a message: tokens with their character spans, and the folding that makes spellings comparable.

Tokens are runs of letters (any script, combining marks included, so Devanagari vowel signs stay inside their
word) or numbers (``39.4``, ``39,2``). Apostrophes, hyphens and every other sign separate tokens, and
sentence and clause boundaries are recorded so that a window or a negation never reaches across them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def _mark_ranges() -> str:
    """Return a regex class body for every combining mark (Unicode category M*) of the Basic Multilingual Plane.

    Python's \\w leaves marks out, so Devanagari vowel signs would split words; listing the categories (not a
    block) keeps signs such as the danda, a full stop, outside words.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


# Letters of any script plus combining marks (Python's \w leaves marks out).
_MARKS = _mark_ranges()
_TOKEN = re.compile(rf"(?P<number>\d+(?:[.,]\d+)?)|(?P<word>(?:[^\W\d_]|[{_MARKS}])+)")
# A full stop ends a sentence; an ellipsis ("lips... swollen") is a pause in a phone message, a clause break.
_SENTENCE_END = re.compile(r"(?<!\.)\.(?!\.)|[!?¿¡\n\r\u06d4\u0964]")  # with the Arabic and Devanagari stops
_CLAUSE_END = re.compile(r"[,;:()\[\]\u060c…]|\.\.")
_DEGREE = re.compile(r"\s?[°º]")
MAX_TOKEN_LENGTH = 40  # longer "words" (pasted junk) are never stemmed or fuzzed: no medical word is that long


@dataclass(frozen=True)
class Token:
    """One word or number of the message. ``start``/``end`` index the original text; ``text`` is case-folded.

    ``sentence`` and ``clause`` count the boundaries before the token; ``value`` is set for numbers and
    ``degree`` when a degree sign follows the number.
    """

    text: str
    start: int
    end: int
    sentence: int
    clause: int
    value: float | None = None
    degree: bool = False


def tokenize(text: str) -> list[Token]:
    """Return the tokens of ``text`` in order, with spans into ``text``."""
    tokens: list[Token] = []
    sentence = clause = 0
    previous_end = 0
    for match in _TOKEN.finditer(text):
        between = text[previous_end : match.start()]
        if _SENTENCE_END.search(between):
            sentence += 1
            clause += 1
        elif _CLAUSE_END.search(between):
            clause += 1
        previous_end = match.end()
        raw = match.group()
        if match.group("number") is not None:
            value = _number(raw)
            degree = bool(_DEGREE.match(text, match.end()))
            tokens.append(Token(raw, match.start(), match.end(), sentence, clause, value, degree))
        else:
            tokens.append(
                Token(unicodedata.normalize("NFKC", raw).casefold(), match.start(), match.end(), sentence, clause)
            )
    return tokens


def _number(raw: str) -> float | None:
    try:
        return float(raw.replace(",", "."))
    except ValueError:  # digits of a script float() does not read
        return None


def fold_marks(word: str) -> str:
    """Return ``word`` without accents and other combining marks (``fièvre`` -> ``fievre``)."""
    decomposed = unicodedata.normalize("NFKD", word)
    return unicodedata.normalize("NFC", "".join(char for char in decomposed if not unicodedata.combining(char)))


def fold(word: str, keep_marks: bool) -> str:
    """Return ``word`` case-folded, and without marks unless ``keep_marks`` (scripts whose vowels are marks)."""
    word = unicodedata.normalize("NFKC", word).casefold()
    return unicodedata.normalize("NFC", word) if keep_marks else fold_marks(word)
