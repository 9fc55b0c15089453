"""The patient's own words as findings: the concepts they state, each with the exact words it came from.

``extract(text)`` returns the same findings the questionnaire gives (symptom keys of the contract), the patient
modifiers of CLINICAL.md (``pregnant``, ``immunosuppressed``, ``diabetes``, ``most_of_body``, an ``age``), and
the other facts some rules read (a mole, a spot or growth, acne scarring, the foot, a wound). Words are matched
in every language shipped in ``languages/`` (see ``languages.py``); findings only ever add to what the rules
know, and nothing in the words is read as an instruction.

Negation (NegEx-style, per language): a cue ("no", "sin", "pas de", ...) cancels a finding only when it is in
the same clause, within the cue's reach, and not part of the finding's own phrase ("can't breathe"); a clause
that also says "not sure", "no longer", ... cancels nothing; and a concept stated anywhere without negation
counts. When unsure, the finding counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triage.rules.extractor import Finding, Match, raw_matches
from triage.rules.languages import Language, shipped_languages
from triage.rules.vocabulary import SYMPTOMS
from triage.rules.words import Token, tokenize

MODIFIERS: tuple[str, ...] = ("pregnant", "immunosuppressed", "diabetes", "most_of_body", "age")
"""Patient modifiers of CLINICAL.md read from the words (``age`` carries its value in years)."""

FEATURES: tuple[str, ...] = ("mole", "lesion", "acne_scarring_or_nodular", "foot", "wound")
"""Other facts rules read from the words: a mole; a spot, mole or growth (a lesion); acne scarring or nodules;
the foot; a wound, ulcer or sore."""

CONCEPTS: frozenset[str] = frozenset(SYMPTOMS) | frozenset(MODIFIERS) | frozenset(FEATURES)

__all__ = ["CONCEPTS", "FEATURES", "MODIFIERS", "Extraction", "Finding", "extract", "free_text_flags", "languages"]


@dataclass(frozen=True)
class Extraction:
    """What the words say: ``findings`` that count, and ``negated`` ones (read, then cancelled), both in text order."""

    findings: tuple[Finding, ...] = ()
    negated: tuple[Finding, ...] = ()

    @property
    def concepts(self) -> frozenset[str]:
        """Return the concepts of the findings that count."""
        return frozenset(finding.concept for finding in self.findings)

    @property
    def youngest_age(self) -> float | None:
        """Return the youngest age (years) the words give, or None."""
        ages = [f.value for f in self.findings if f.concept == "age" and f.value is not None]
        return min(ages, default=None)


def languages() -> tuple[Language, ...]:
    """Return the shipped languages (compiled once per process)."""
    return shipped_languages(CONCEPTS)


def _clauses(tokens: Sequence[Token], breaks: set[int]) -> list[int]:
    """Return a clause number per token: punctuation and clause-break words ("but", "pero", "mais") end one."""
    numbers, current, previous = [], 0, 0
    for index, token in enumerate(tokens):
        if token.clause != previous:
            current, previous = current + 1, token.clause
        numbers.append(current)
        if index in breaks:
            current += 1
    return numbers


class _Cues:
    """The negation cues of a message, indexed by position so that each finding is checked in constant time."""

    def __init__(self, cues: Sequence[Match]) -> None:
        self.at: dict[int, list[Match]] = {}
        for cue in cues:
            for position in cue.positions:
                self.at.setdefault(position, []).append(cue)
        self.reach = max((cue.scope for cue in cues), default=0)

    def near(self, match: Match) -> list[Match]:
        """Return the cues on or within reach of ``match``'s words, each once."""
        found: dict[int, Match] = {}
        for position in range(match.first - self.reach, match.last + self.reach + 1):
            for cue in self.at.get(position, ()):
                found[id(cue)] = cue
        return list(found.values())


def _negated(match: Match, cues: _Cues, clause: Sequence[int], uncertain: set[int]) -> bool:
    """Return True when a cue unambiguously negates ``match`` (see the module docstring).

    A phrase that holds a negation itself ("can't breathe", "n'est toujours pas guéri") is never negated by
    another cue: the other cue is either part of the same negation (French "ne ... pas") or a double negation,
    which is not unambiguous.
    """
    if any(clause[p] in uncertain for p in match.positions):
        return False
    near = cues.near(match)
    if any(cue.positions <= match.positions for cue in near):
        return False
    for cue in near:
        if cue.positions & match.positions:
            continue
        if cue.role == "before":
            at = cue.last
            after = [p for p in match.positions if p > at]
            if after and at >= match.first - cue.scope and clause[at] == clause[min(after)]:
                return True
        else:
            at = cue.first
            before = [p for p in match.positions if p < at]
            if before and at <= match.last + cue.scope and clause[at] == clause[max(before)]:
                return True
    return False


def _denied(match: Match, denials: dict[tuple[str, int], list[Match]]) -> bool:
    """Return True when a denial of the same concept overlaps ``match`` and is not part of a longer reading of it
    ("no se quitan al apretar" holds the denial "quitan ... apretar" and is not cancelled by it)."""
    for position in range(match.first, match.last + 1):
        for denial in denials.get((match.concept, position), ()):
            if not denial.positions < match.positions:
                return True
    return False


def _finding(text: str, tokens: Sequence[Token], match: Match) -> Finding:
    start, end = tokens[match.first].start, tokens[match.last].end
    return Finding(match.concept, start, end, text[start:end], match.language, match.value)


def _distinct(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Return ``findings`` in text order without one that lies inside another of the same concept."""
    kept: list[Finding] = []
    reach: dict[str, int] = {}  # per concept, the furthest end of a kept finding (they come in start order)
    for finding in sorted(findings, key=lambda f: (f.start, -f.end, f.concept, f.language)):
        if finding.end > reach.get(finding.concept, -1):
            kept.append(finding)
            reach[finding.concept] = finding.end
    return tuple(kept)


def extract(text: str, only: Sequence[str] | None = None, using: Sequence[Language] | None = None) -> Extraction:
    """Return the findings in ``text``, matched in every shipped language (or only those coded in ``only``;
    ``using`` replaces the shipped languages, e.g. with a language file under review).

    Never raises for any string; time grows linearly with its length.
    """
    tokens = tokenize(text)
    chosen = [language for language in (using or languages()) if only is None or language.code in only]
    matches, breaks = raw_matches(chosen, tokens)
    clause = _clauses(tokens, breaks)
    pseudo = {p for m in matches if m.role == "pseudo" for p in m.positions}
    cues = _Cues([m for m in matches if m.role in ("before", "after") and not m.positions & pseudo])
    uncertain = {clause[p] for m in matches if m.role == "uncertain" for p in m.positions}
    denials: dict[tuple[str, int], list[Match]] = {}
    for denial in (m for m in matches if m.role == "deny" and not _negated(m, cues, clause, uncertain)):
        for position in range(denial.first, denial.last + 1):
            denials.setdefault((denial.concept, position), []).append(denial)
    kept: list[Finding] = []
    cancelled: list[Finding] = []
    for match in (m for m in matches if m.role == "term"):
        target = cancelled if _denied(match, denials) or _negated(match, cues, clause, uncertain) else kept
        target.append(_finding(text, tokens, match))
    concepts = {finding.concept for finding in kept}
    return Extraction(_distinct(kept), _distinct(f for f in cancelled if f.concept not in concepts))


def free_text_flags(text: str) -> frozenset[str]:
    """Return the symptom keys (of the contract's vocabulary) the patient's words state."""
    return extract(text).concepts & frozenset(SYMPTOMS)


def text_features(text: str) -> frozenset[str]:
    """Return the other facts (keys of FEATURES) the patient's words state."""
    return extract(text).concepts & frozenset(FEATURES)
