"""Clinical triage rules: CLINICAL.md as a reviewable rule table and a pure ``assess()``.

No clock, no network, no database. Besides the standard library it imports only the kept text libraries
(snowballstemmer, with PyStemmer's C speed when installed, and rapidfuzz), and its only reads are its own
language files, once per process.
"""

from triage.rules.case import Case, CaseError, parse_case
from triage.rules.engine import Decision, Reason, about_a_lesion, assess, assess_json
from triage.rules.freetext import CONCEPTS, Extraction, Finding, extract, free_text_flags
from triage.rules.table import RULES, RULESET_VERSION, Rule
from triage.rules.vocabulary import BODY_SITES, CONDITION_TIERS, EXTENTS, SYMPTOMS, TIERS

__all__ = [
    "BODY_SITES",
    "CONCEPTS",
    "CONDITION_TIERS",
    "EXTENTS",
    "RULES",
    "RULESET_VERSION",
    "SYMPTOMS",
    "TIERS",
    "Case",
    "CaseError",
    "Decision",
    "Extraction",
    "Finding",
    "Reason",
    "Rule",
    "about_a_lesion",
    "assess",
    "assess_json",
    "extract",
    "free_text_flags",
    "parse_case",
]
