"""Clinical triage rules: CLINICAL.md as a reviewable rule table and a pure ``assess()``.

Imports nothing outside itself and the standard library: no I/O, no clock, no database.
"""

from triage.rules.case import Case, CaseError, parse_case
from triage.rules.engine import Decision, Reason, assess, assess_json
from triage.rules.freetext import free_text_flags
from triage.rules.table import RULES, RULESET_VERSION, Rule
from triage.rules.vocabulary import BODY_SITES, CONDITION_TIERS, EXTENTS, SYMPTOMS, TIERS

__all__ = [
    "BODY_SITES",
    "CONDITION_TIERS",
    "EXTENTS",
    "RULES",
    "RULESET_VERSION",
    "SYMPTOMS",
    "TIERS",
    "Case",
    "CaseError",
    "Decision",
    "Reason",
    "Rule",
    "assess",
    "assess_json",
    "free_text_flags",
    "parse_case",
]
