"""Whether the model's own words may reach the patient (CLINICAL.md, "What the patient reads").

The model's answer is shown to the patient only when it is in the patient's language, readable, claims no
certainty ("you have ..."), and agrees with the tier (no reassurance when the tier is `soon` or above). Otherwise
it is left out of the patient's message; the clinician still sees it in the inbox. The checks are deliberately
plain and conservative: leaving a good answer out costs little, showing a wrong one could cost a life.
The words per language are data (`patient_answer.toml`).
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from triage.rules.vocabulary import tier_rank

DATA = Path(__file__).with_name("patient_answer.toml")
MIN_CHARS, MAX_CHARS = 40, 1500
SERIOUS = "soon"  # this tier and above: no reassurance


@dataclass(frozen=True)
class Verdict:
    shown: bool
    why: str  # for the audit and the inbox: "ok", or which check failed


@functools.cache
def _words() -> dict[str, dict[str, list[str]]]:
    with DATA.open("rb") as fh:
        data = tomllib.load(fh)
    return {code: {k: [str(v) for v in values] for k, values in table.items()} for code, table in data.items()}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", _fold(text))


def _language_score(tokens: list[str], code: str) -> float:
    common = set(_words().get(code, {}).get("common", []))
    return sum(token in common for token in tokens) / max(1, len(tokens))


def _readable(text: str) -> bool:
    letters = sum(ch.isalpha() for ch in text)
    if not MIN_CHARS <= len(text) <= MAX_CHARS or letters < 0.6 * len(text.replace(" ", "")):
        return False
    tokens = _tokens(text)
    if len(tokens) < 6:
        return False
    if len(set(tokens)) < 0.4 * len(tokens):  # a loop: the same few words again and again
        return False
    if re.search(r"(.)\1{5,}", text) or re.search(r"<[a-z_/]+>|\[[A-Z_]+\]", text):  # runs, special tokens
        return False
    lengths = [len(token) for token in tokens]
    return 2 <= sum(lengths) / len(lengths) <= 12


def _has_phrase(text: str, phrases: list[str]) -> bool:
    folded = " " + " ".join(_tokens(text)) + " "
    return any(f" {' '.join(_tokens(phrase))} " in folded for phrase in phrases)


def check(answer: str, language: str, tier: str) -> Verdict:
    """Whether `answer` may be shown to a patient reading `language` whose case is at `tier`, and why not."""
    text = answer.strip()
    if not text:
        return Verdict(False, "empty")
    if not _readable(text):
        return Verdict(False, "unreadable")
    tokens = _tokens(text)
    scores = {code: _language_score(tokens, code) for code in _words()}
    own = scores.get(language, 0.0)
    if own < 0.12 or any(score > own for code, score in scores.items() if code != language):
        return Verdict(False, "not in the patient's language")
    words = _words().get(language, {})
    if _has_phrase(text, words.get("certainty", [])):
        return Verdict(False, "claims certainty")
    if tier_rank(tier) <= tier_rank(SERIOUS) and _has_phrase(text, words.get("reassurance", [])):
        return Verdict(False, "reassures at a serious tier")
    return Verdict(True, "ok")


def for_patient(answer: str, language: str, tier: str) -> str:
    """`answer` when it may be shown to the patient, else an empty string."""
    return answer.strip() if check(answer, language, tier).shown else ""
