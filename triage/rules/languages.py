"""Languages as data: each ``languages/<code>.toml`` file is one reviewed language, compiled here for matching.

A language file lists, for every concept (a questionnaire symptom, a patient modifier, or another fact the rules
read), the words patients use for it; the words that cancel it (``[deny]``); its negation cues; its number,
unit and age words; and how its words are cut and compared (stemmer, clitics, aliases). Adding a language is
adding a file: this module has no list of languages. ``triage/rules/README.md`` describes the format.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import snowballstemmer

from triage.rules.words import MAX_TOKEN_LENGTH, fold, tokenize

Stemmer = Callable[[str], str]

AGE_UNITS: dict[str, float] = {"day": 1 / 365.25, "week": 7 / 365.25, "month": 1 / 12, "year": 1.0}
"""Years per unit, for the unit word lists of a language's ``[ages]`` table."""


class LanguageError(ValueError):
    """A language file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Word:
    """One word a pattern may match: a ``plain`` word (same form, or same stem) or a ``prefix`` (word*)."""

    kind: str
    form: str
    stem: str


Slot = frozenset[int]  # the ids of the Words one position of a phrase accepts
Part = tuple[Slot, ...]  # words in order, each after the one before with at most `sequence_gap` words between


ROLES = ("term", "deny", "before", "after", "pseudo", "uncertain", "newborn")
"""What a phrase is for: a concept's ``term`` or ``deny`` phrase, a negation cue (``before`` or ``after`` the
words it negates), a ``pseudo`` cue (words that look like a negation but are not one: "no longer"), an
``uncertain`` phrase (no negation counts in its clause: "not sure"), or a ``newborn`` age word."""


@dataclass(frozen=True)
class Pattern:
    """A phrase: one part, or several parts (``a + b``) found near each other in any order."""

    concept: str
    role: str
    parts: tuple[Part, ...]
    source: str


@dataclass(eq=False)  # compared and hashed by identity: one compiled object per file
class Language:
    """A compiled language file: what the extractor needs to match its phrases in a message."""

    code: str
    name: str
    direction: str
    stem_word: Stemmer
    keep_marks: bool
    sequence_gap: int
    window: int
    fuzzy_min_length: int
    aliases: Mapping[str, tuple[str, ...]]
    drop: frozenset[str]
    join_to_previous: frozenset[str]
    clitic_prefixes: tuple[str, ...]
    never_fuzzy: frozenset[str]
    spelling: tuple[tuple[str, str], ...]
    words: list[Word] = field(default_factory=list)
    by_form: dict[str, set[int]] = field(default_factory=dict)
    by_stem: dict[str, set[int]] = field(default_factory=dict)
    by_prefix: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    fuzzy_forms: dict[str, set[int]] = field(default_factory=dict)
    # fuzzy_forms' keys by (first letter, length +-2): a typo is looked for among words with the same first
    # letter only ("lipps" -> "lips", but never "spain" -> "pain")
    fuzzy_choices: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    patterns: list[Pattern] = field(default_factory=list)
    starts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # word id -> (pattern, part) it starts
    clause_breaks: frozenset[str] = frozenset()
    scope: int = 4
    after_scope: int = 2
    number_words: Mapping[str, float] = field(default_factory=dict)
    halves: tuple[tuple[str, ...], ...] = ()  # "y medio": the number before it plus a half
    temperature_cues: frozenset[str] = frozenset()
    reading_words: frozenset[str] = frozenset()  # cues a normal reading cancels ("temp 37.2"); not "fever"
    celsius: frozenset[str] = frozenset()
    fahrenheit: frozenset[str] = frozenset()
    millimetres: frozenset[str] = frozenset()
    centimetres: frozenset[str] = frozenset()
    unit_before_number: bool = False  # sizes written "sentimita 2" (Swahili) as well as "2 cm"
    age_units: Mapping[str, float] = field(default_factory=dict)
    age_patterns: list[tuple[str, ...]] = field(default_factory=list)
    groups: dict[str, Slot] = field(default_factory=dict)

    def normalise(self, word: str) -> str:
        """Return ``word`` as this language compares it: folded, and without a clitic prefix."""
        return _normalised(self, word)

    def _normalise(self, word: str) -> str:
        word = fold(word, self.keep_marks)
        for prefix in self.clitic_prefixes:
            if word.startswith(prefix) and len(word) - len(prefix) >= 2:
                return word[len(prefix) :]
        return word

    def words_of(self, text: str) -> list[str]:
        """Return the words of ``text`` as this language reads them (aliases, dropped and joined words applied)."""
        result: list[str] = []
        for token in tokenize(text):
            if token.value is not None:
                result.append(token.text)
                continue
            for word in self.aliases.get(self.normalise(token.text), (self.normalise(token.text),)):
                if word in self.drop:
                    continue
                if word in self.join_to_previous and result:
                    result[-1] += word
                else:
                    result.append(word)
        return result

    def stem(self, word: str) -> str:
        """Return the stem of an already normalised ``word`` (the word itself when it is too long to be one)."""
        return word if len(word) > MAX_TOKEN_LENGTH else self.stem_word(word)

    def spell(self, word: str) -> str:
        """Return ``word`` with the language's spelling equivalences applied (used by fuzzy matching only)."""
        for old, new in self.spelling:
            word = word.replace(old, new)
        return word


@lru_cache(maxsize=65536)
def _normalised(language: Language, word: str) -> str:
    return language._normalise(word)


def _stemmer(name: str, where: str) -> Stemmer:
    if name == "none":
        return lambda word: word
    try:
        stemmer = snowballstemmer.stemmer(name)
    except KeyError as error:
        raise LanguageError(f"{where}: unknown stemmer {name!r} (a Snowball algorithm name, or 'none')") from error
    return lru_cache(maxsize=65536)(stemmer.stemWord)


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise LanguageError(f"{where}: {key} must be a list of non-empty strings")
    return [item.strip() for item in value]


class _Compiler:
    """Turns the phrase strings of one file into Words, Slots and Patterns."""

    def __init__(self, language: Language, where: str) -> None:
        self.language = language
        self.where = where
        self.known: dict[tuple[str, str], int] = {}

    def word(self, kind: str, form: str) -> int:
        language = self.language
        if (kind, form) in self.known:
            return self.known[kind, form]
        stem = language.stem(form) if kind == "plain" else form
        language.words.append(Word(kind, form, stem))
        self.known[kind, form] = len(language.words) - 1
        index = len(language.words) - 1
        if kind == "prefix":
            if len(form) < 2:
                raise LanguageError(f"{self.where}: prefix {form!r}* is too short (at least 2 letters)")
            language.by_prefix.setdefault(form[:2], []).append((form, index))
        else:
            language.by_form.setdefault(form, set()).add(index)
            language.by_stem.setdefault(stem, set()).add(index)
            if len(form) >= language.fuzzy_min_length - 1:  # a 5-letter typo may be a 4-letter word doubled
                language.fuzzy_forms.setdefault(language.spell(form), set()).add(index)
        return index

    def slots(self, text: str) -> list[Slot]:
        """Return the slots of one phrase part: ``@group``, ``word*`` or plain words (several for "can't")."""
        slots: list[Slot] = []
        for piece in text.split():
            if piece.startswith("@"):
                if piece[1:] not in self.language.groups:
                    raise LanguageError(f"{self.where}: unknown group {piece!r} in {text!r}")
                slots.append(self.language.groups[piece[1:]])
            elif piece.endswith("*"):
                slots.append(frozenset({self.word("prefix", self.language.normalise(piece[:-1]))}))
            else:
                slots += [frozenset({self.word("plain", word)}) for word in self.language.words_of(piece)]
        if not slots:
            raise LanguageError(f"{self.where}: the phrase {text!r} has no words")
        return slots

    def group(self, name: str, items: Sequence[str]) -> Slot:
        ids: set[int] = set()
        for item in items:
            if len(item.split()) != 1:
                raise LanguageError(f"{self.where}: group {name!r} holds single words, not {item!r}")
            ids |= self.slots(item)[0]
        return frozenset(ids)

    def pattern(self, concept: str, role: str, text: str) -> None:
        parts = tuple(tuple(self.slots(part)) for part in text.split(" + "))
        language = self.language
        language.patterns.append(Pattern(concept, role, parts, text))
        for part_index, part in enumerate(parts):
            for word_id in part[0]:
                language.starts.setdefault(word_id, []).append((len(language.patterns) - 1, part_index))


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise LanguageError(f"{where}: [{key}] must be a table")
    return value


def compile_language(data: Mapping[str, Any], where: str, concepts: frozenset[str]) -> Language:
    """Return the Language described by a parsed language file; raise LanguageError naming what is wrong.

    ``concepts`` are the concept keys the rules know: a phrase for any other key is an error (a typo in a
    concept name would otherwise never fire).
    """
    head = _table(data, "language", where)
    tokens = _table(data, "tokens", where)
    aliases = _table(tokens, "aliases", where)
    code = head.get("code")
    if not isinstance(code, str) or not code:
        raise LanguageError(f"{where}: [language] code is missing")
    keep_marks = bool(head.get("keep_marks", False))
    language = Language(
        code=code,
        name=str(head.get("name", code)),
        direction=str(head.get("direction", "ltr")),
        stem_word=_stemmer(str(head.get("stemmer", "none")), where),
        keep_marks=keep_marks,
        sequence_gap=int(head.get("sequence_gap", 1)),
        window=int(head.get("window", 6)),
        fuzzy_min_length=int(head.get("fuzzy_min_length", 5)),
        aliases={},
        drop=frozenset(fold(word, keep_marks) for word in _strings(tokens, "drop", where)),
        join_to_previous=frozenset(fold(word, keep_marks) for word in _strings(tokens, "join_to_previous", where)),
        clitic_prefixes=tuple(fold(word, keep_marks) for word in _strings(tokens, "clitic_prefixes", where)),
        never_fuzzy=frozenset(fold(word, keep_marks) for word in _strings(tokens, "never_fuzzy", where)),
        spelling=tuple((fold(a, keep_marks), fold(b, keep_marks)) for a, b in _pairs(data, where)),
    )
    language.aliases = {
        language.normalise(key): tuple(language.normalise(word) for word in str(value).split())
        for key, value in aliases.items()
    }
    compiler = _Compiler(language, where)
    for name, items in _table(data, "groups", where).items():
        language.groups[name] = compiler.group(name, _strings({name: items}, name, f"{where} [groups]"))
    for section, role in (("concepts", "term"), ("deny", "deny")):
        for concept, phrases in _table(data, section, where).items():
            if concept not in concepts:
                raise LanguageError(f"{where}: [{section}] {concept!r} is not a concept the rules know")
            for phrase in _strings({concept: phrases}, concept, where):
                compiler.pattern(concept, role, phrase)
    negation = _table(data, "negation", where)
    for role in ("before", "after", "pseudo", "uncertain"):
        for cue in _strings(negation, role, where):
            compiler.pattern("", role, cue)
    language.clause_breaks = frozenset(language.words_of(" ".join(_strings(negation, "clause_breaks", where))))
    language.scope = int(negation.get("scope", 4))
    language.after_scope = int(negation.get("after_scope", 0))
    _compile_numbers(language, compiler, _table(data, "numbers", where), _table(data, "ages", where), where)
    longest = max(map(len, language.fuzzy_forms), default=0)
    language.fuzzy_choices = {
        (first, length): tuple(f for f in language.fuzzy_forms if f[0] == first and abs(len(f) - length) <= 2)
        for first in {form[0] for form in language.fuzzy_forms}
        for length in range(1, longest + 3)
    }
    return language


def _pairs(data: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    pairs = _table(data, "spelling", where).get("replace", [])
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair) for pair in pairs
    ):
        raise LanguageError(f"{where}: [spelling] replace must be a list of [old, new] pairs")
    return [(old, new) for old, new in pairs]


def _compile_numbers(
    language: Language, compiler: _Compiler, numbers: Mapping[str, Any], ages: Mapping[str, Any], where: str
) -> None:
    def words(table: Mapping[str, Any], key: str) -> frozenset[str]:
        return frozenset(word for item in _strings(table, key, where) for word in language.words_of(item))

    number_words = _table(numbers, "words", where)
    if not all(isinstance(value, int | float) for value in number_words.values()):
        raise LanguageError(f"{where}: [numbers.words] values must be numbers")
    language.number_words = {language.normalise(key): float(value) for key, value in number_words.items()}
    language.halves = tuple(tuple(language.words_of(item)) for item in _strings(numbers, "half", where))
    language.temperature_cues = words(numbers, "temperature_cues")
    language.reading_words = words(numbers, "reading_words")
    language.celsius = words(numbers, "celsius")
    language.fahrenheit = words(numbers, "fahrenheit")
    language.millimetres = words(numbers, "millimetres")
    language.centimetres = words(numbers, "centimetres")
    language.unit_before_number = bool(numbers.get("unit_before_number", False))
    language.age_units = {word: AGE_UNITS[unit] for unit in AGE_UNITS for word in words(ages, unit)}
    for phrase in _strings(ages, "newborn", where):
        compiler.pattern("age", "newborn", phrase)
    for pattern in _strings(ages, "patterns", where):
        slots = tuple(
            piece if piece in ("N", "U") or piece.startswith(("@", "!")) else language.normalise(piece)
            for piece in pattern.split()
        )
        if slots.count("N") != 1:
            raise LanguageError(f"{where}: age pattern {pattern!r} needs exactly one N")
        for piece in slots:
            if piece.startswith("@") and piece[1:] not in language.groups:
                raise LanguageError(f"{where}: unknown group {piece!r} in age pattern {pattern!r}")
        language.age_patterns.append(slots)


def load_language(text: str, where: str, concepts: frozenset[str]) -> Language:
    """Return the Language in the TOML ``text``; raise LanguageError (naming ``where``) when it is unusable."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise LanguageError(f"{where}: not valid TOML: {error}") from error
    return compile_language(data, where, concepts)


@cache
def shipped_languages(concepts: frozenset[str]) -> tuple[Language, ...]:
    """Return every language file shipped in ``triage/rules/languages/``, in file-name order.

    Read once per process (the files are part of the package, like the rule table), so assess() itself
    does no I/O.
    """
    folder = resources.files("triage.rules") / "languages"
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".toml")), key=lambda e: e.name)
    return tuple(
        load_language(entry.read_text(encoding="utf-8"), f"languages/{entry.name}", concepts) for entry in files
    )
