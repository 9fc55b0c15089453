"""Read a patient's message into findings: the concepts its words state, each with the words it came from.

Every shipped language is tried on every message (patients switch languages and the bot's language is not
always theirs). A phrase matches by normalised words: case and accents folded, the same stem, ``word*``
prefixes, and one or two typos in longer words. A finding is cancelled only by an unambiguous negation of
that very finding or by a phrase that says it is something else ("fever blister"); when unsure it counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from triage.rules.languages import Language, Pattern
from triage.rules.words import MAX_TOKEN_LENGTH, Token

FEVER_FROM_CELSIUS = 38.0
DIAMETER_FROM_MM = 7.0
NEWBORN_YEARS = 7 / 365.25
MIN_STEM_LENGTH = 4
_TEMPERATURE_CUE_BEFORE = 3  # a number this many words after "temperature"/"fiebre" is a temperature
_TEMPERATURE_CUE_AFTER = 2  # ... or this many words before it ("39 de fiebre")


@dataclass(frozen=True)
class Finding:
    """One concept read from the patient's words: ``text`` is ``message[start:end]``, the words it came from.

    ``value`` is the age in years for ``age``, the temperature in °C for a ``fever`` read from a number, and
    the size in millimetres for ``diameter_7mm_or_more``. ``source`` is ``words`` for the extractor's own
    findings (a caller may add others, e.g. ``model``).
    """

    concept: str
    start: int
    end: int
    text: str
    language: str
    value: float | None = None
    source: str = "words"

    def to_dict(self) -> dict[str, object]:
        """Return the finding as JSON: concept, text, start, end, and value when there is one."""
        data: dict[str, object] = {"concept": self.concept, "text": self.text, "start": self.start, "end": self.end}
        if self.value is not None:
            data["value"] = round(self.value, 3)
        return data


@dataclass(frozen=True)
class _Word:
    """A token as one language reads it; ``base`` is the index of the message token it came from."""

    form: str
    stem: str
    base: int
    last: int  # the last message token it covers (a joined "can" + "t" covers two)
    value: float | None
    hits: frozenset[int]


@dataclass(frozen=True)
class Match:
    """A phrase or number of one language found in the message: message token indices ``first``..``last``,
    the tokens it is made of (``positions``), and for a negation cue how many words it reaches (``scope``)."""

    concept: str
    role: str
    first: int
    last: int
    positions: frozenset[int]
    language: str
    value: float | None = None
    scope: int = 0


@lru_cache(maxsize=65536)
def _fuzzy(language: Language, form: str) -> frozenset[int]:
    """Return the ids of the word ``form`` is a typo of: one edit (a transposition counts as one) in words of
    fewer than 9 letters, two from 9; nothing when no word is that close."""
    limit = 1 if len(form) < 9 else 2
    spelled = language.spell(form)
    choices = language.fuzzy_choices.get((spelled[:1], len(spelled)), ())
    best = process.extractOne(spelled, choices, scorer=OSA.distance, score_cutoff=limit)
    return frozenset(language.fuzzy_forms[best[0]]) if best else frozenset()


def _hits(language: Language, form: str, stem: str) -> frozenset[int]:
    found = set(language.by_form.get(form, ()))
    if len(stem) >= MIN_STEM_LENGTH:  # short stems collide ("puso" and "pus"): short words match whole
        found |= language.by_stem.get(stem, set())
    found |= {index for prefix, index in language.by_prefix.get(form[:2], ()) if form.startswith(prefix)}
    if (
        not found
        and language.fuzzy_min_length <= len(form) <= MAX_TOKEN_LENGTH
        and form not in language.never_fuzzy
        and form.isalpha()
    ):
        return _fuzzy(language, form)
    return frozenset(found)


def _words(language: Language, tokens: Sequence[Token]) -> list[_Word]:
    words: list[_Word] = []
    for index, token in enumerate(tokens):
        if token.value is not None or token.text[:1].isdigit():
            words.append(_Word(token.text, token.text, index, index, token.value, frozenset()))
            continue
        normalised = language.normalise(token.text)
        for form in language.aliases.get(normalised, (normalised,)):
            if form in language.drop:
                continue
            if form in language.join_to_previous and words and words[-1].last == index - 1 and words[-1].value is None:
                form, base = words[-1].form + form, words.pop().base
            else:
                base = index
            stem = language.stem(form)
            value = language.number_words.get(form)
            words.append(_Word(form, stem, base, index, value, _hits(language, form, stem)))
    return words


def _part_occurrences(
    language: Language, words: Sequence[_Word], tokens: Sequence[Token]
) -> dict[int, dict[int, list[tuple[int, ...]]]]:
    """Return, per pattern index and part index, the word positions of each occurrence (in text order)."""
    found: dict[int, dict[int, list[tuple[int, ...]]]] = {}
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    gap = language.sequence_gap
    for start, word in enumerate(words):
        for word_id in word.hits:
            for pattern_index, part_index in language.starts.get(word_id, ()):
                part = language.patterns[pattern_index].parts[part_index]
                positions = [start]
                for slot in part[1:]:
                    at = positions[-1]
                    following = next(
                        (
                            j
                            for j in range(at + 1, min(at + 2 + gap, len(words)))
                            if not slot.isdisjoint(words[j].hits)
                            and tokens[words[j].base].sentence == tokens[word.base].sentence
                        ),
                        None,
                    )
                    if following is None:
                        break
                    positions.append(following)
                else:
                    key = (pattern_index, part_index, tuple(positions))
                    if key not in seen:
                        seen.add(key)
                        found.setdefault(pattern_index, {}).setdefault(part_index, []).append(tuple(positions))
    return found


def _assemble(
    language: Language,
    pattern: Pattern,
    by_part: dict[int, list[tuple[int, ...]]],
    words: Sequence[_Word],
    tokens: Sequence[Token],
) -> Iterable[tuple[int, ...]]:
    """Yield the word positions of each match of ``pattern``: every part, within the window, in any order."""
    parts = [by_part.get(index, []) for index in range(len(pattern.parts))]
    starts = [[positions[0] for positions in occurrences] for occurrences in parts]  # ascending: text order
    for anchor in parts[0]:
        chosen = [anchor]
        used = set(anchor)
        sentence = tokens[words[anchor[0]].base].sentence
        for occurrences, firsts in zip(parts[1:], starts[1:], strict=True):
            low = bisect.bisect_left(firsts, anchor[0] - language.window)
            high = bisect.bisect_right(firsts, anchor[0] + language.window)
            near = [
                positions
                for positions in occurrences[low:high]
                if tokens[words[positions[0]].base].sentence == sentence
                and used.isdisjoint(positions)
                and max(*positions, *anchor) - min(*positions, *anchor) <= language.window
            ]
            if not near:
                break
            best = min(near, key=lambda positions: abs(positions[0] - anchor[0]))
            chosen.append(best)
            used.update(best)
        else:
            yield tuple(sorted(used))


def _phrase_matches(language: Language, words: Sequence[_Word], tokens: Sequence[Token]) -> list[Match]:
    matches = []
    for pattern_index, by_part in _part_occurrences(language, words, tokens).items():
        pattern = language.patterns[pattern_index]
        for positions in _assemble(language, pattern, by_part, words, tokens):
            covered = frozenset(t for p in positions for t in range(words[p].base, words[p].last + 1))
            value = NEWBORN_YEARS if pattern.role == "newborn" else None
            role = "term" if pattern.role == "newborn" else pattern.role
            scope = language.scope if role == "before" else language.after_scope if role == "after" else 0
            matches.append(
                Match(pattern.concept, role, min(covered), max(covered), covered, language.code, value, scope)
            )
    return matches


def _temperature(language: Language, words: Sequence[_Word], tokens: Sequence[Token], at: int) -> Match | None:
    """Return a fever match (38.0 °C / 100.4 °F or more) or a normal-temperature reading (role ``deny``)."""
    word = words[at]
    token = tokens[word.base]
    if word.value is None or token.value is None:  # number words are never read as temperatures
        return None
    following = words[at + 1].form if at + 1 < len(words) else ""
    if following in language.age_units or following in language.millimetres or following in language.centimetres:
        return None
    sentence = token.sentence
    before = [j for j in range(max(0, at - _TEMPERATURE_CUE_BEFORE), at) if words[j].form in language.temperature_cues]
    after = [
        j
        for j in range(at + 1, min(len(words), at + 1 + _TEMPERATURE_CUE_AFTER))
        if words[j].form in language.temperature_cues
    ]
    cues = [j for j in before + after if tokens[words[j].base].sentence == sentence]
    value, half = token.value, 0
    for words_of_half in language.halves:
        if tuple(w.form for w in words[at + 1 : at + 1 + len(words_of_half)]) == words_of_half:
            value, half = value + 0.5, len(words_of_half)
            following = words[at + 1 + half].form if at + 1 + half < len(words) else ""
    unit = "c" if following in language.celsius or token.degree else "f" if following in language.fahrenheit else ""
    decimal = half > 0 or any(sign in token.text for sign in ".,")
    if not (unit or cues or (decimal and 35 <= value < 43)):
        return None
    if unit == "f" or (not unit and 93 <= value <= 110):
        value = (value - 32) * 5 / 9
    if not 33 <= value <= 44:
        return None
    role = "term" if value >= FEVER_FROM_CELSIUS else "deny"
    if role == "deny":  # a normal reading cancels a bare "temperature" beside it, never the word "fever"
        cues = [j for j in cues if words[j].form in language.reading_words]
    first = min([at, *cues])
    last = max([at + half, *cues]) + (1 if unit and following else 0)
    covered = frozenset(range(words[first].base, words[min(last, len(words) - 1)].last + 1))
    return Match("fever", role, min(covered), max(covered), covered, language.code, value)


def _diameter(language: Language, words: Sequence[_Word], at: int) -> Match | None:
    word = words[at]
    if word.value is None:
        return None
    # the unit after the number ("8 mm"), or before it in a language that writes it first ("sentimita 2")
    for unit_at in (at + 1, at - 1) if language.unit_before_number else (at + 1,):
        unit = words[unit_at].form if 0 <= unit_at < len(words) else ""
        millimetres = (
            word.value if unit in language.millimetres else word.value * 10 if unit in language.centimetres else None
        )
        if millimetres is not None and DIAMETER_FROM_MM <= millimetres <= 500:
            first, last = words[min(at, unit_at)].base, words[max(at, unit_at)].last
            covered = frozenset(range(first, last + 1))
            return Match("diameter_7mm_or_more", "term", first, last, covered, language.code, millimetres)
    return None


def _ages(language: Language, words: Sequence[_Word], tokens: Sequence[Token], at: int) -> Iterable[Match]:
    """Yield an ``age`` match for every age pattern whose number sits at word ``at``."""
    spelled_out = tokens[words[at].base].value is None  # "a", "six", "un": a number word
    for pattern in language.age_patterns:
        if spelled_out and "U" not in pattern:  # "I'm a nurse" is no age; "a month old" is
            continue
        consuming = [piece for piece in pattern if not piece.startswith("!")]
        start = at - consuming.index("N")
        if start < 0:
            continue
        cursor, factor, ok = start, 1.0, True
        for piece in pattern:
            if piece.startswith("!"):  # the word before the phrase must not be this one ("il y a 2 mois")
                if cursor >= 1 and words[cursor - 1].form == piece[1:]:
                    ok = False
                    break
                continue
            if cursor >= len(words) or tokens[words[cursor].base].sentence != tokens[words[at].base].sentence:
                ok = False
            elif piece == "N":
                ok = cursor == at
            elif piece == "U":
                ok = words[cursor].form in language.age_units
                factor = language.age_units.get(words[cursor].form, factor)
            elif piece.startswith("@"):
                ok = not language.groups[piece[1:]].isdisjoint(words[cursor].hits)
            else:
                ok = words[cursor].form == piece
            if not ok:
                break
            cursor += 1
        value = (words[at].value or 0.0) * factor
        if ok and 0 <= value <= 120:
            covered = frozenset(range(words[start].base, words[cursor - 1].last + 1))
            yield Match("age", "term", min(covered), max(covered), covered, language.code, value)


def _number_matches(language: Language, words: Sequence[_Word], tokens: Sequence[Token]) -> list[Match]:
    matches: list[Match] = []
    for at, word in enumerate(words):
        if word.value is None:
            continue
        for found in (_temperature(language, words, tokens, at), _diameter(language, words, at)):
            if found is not None:
                matches.append(found)
        matches += _ages(language, words, tokens, at)
    return matches


def raw_matches(languages: Sequence[Language], tokens: Sequence[Token]) -> tuple[list[Match], set[int]]:
    """Return every phrase and number match of every language, and the message tokens that break a clause."""
    matches: list[Match] = []
    breaks: set[int] = set()
    for language in languages:
        words = _words(language, tokens)
        matches += _phrase_matches(language, words, tokens)
        matches += _number_matches(language, words, tokens)
        breaks |= {word.base for word in words if word.form in language.clause_breaks}
    return matches, breaks
