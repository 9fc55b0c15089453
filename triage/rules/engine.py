"""Assess a case against the rule table and explain the decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triage.rules.case import Case, parse_case
from triage.rules.facts import facts_of
from triage.rules.table import RULES, RULESET_VERSION
from triage.rules.vocabulary import FORWARDED_TIERS, tier_rank


@dataclass(frozen=True)
class Reason:
    """Why a decision has its tier: one rule that fired. ``code`` is the rule id."""

    code: str
    text: str
    tier: str
    rule_id: str


@dataclass(frozen=True)
class Decision:
    """The urgency tier of a case, whether a clinician must look, and every rule that fired (top reason first)."""

    tier: str
    forward_to_clinician: bool
    reasons: tuple[Reason, ...]
    ruleset_version: str

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's decision JSON object (tier, forward_to_clinician, reasons, ruleset_version)."""
        return {
            "tier": self.tier,
            "forward_to_clinician": self.forward_to_clinician,
            "reasons": [{"code": reason.code, "text": reason.text} for reason in self.reasons],
            "ruleset_version": self.ruleset_version,
        }


def assess(case: Case) -> Decision:
    """Return the Decision for ``case``: the highest tier of the rules that fire, every one of them as a reason.

    Pure: same case, same decision; never raises. Some rule always fires, because the model policy covers
    every model output (none, uncertain, or a top condition, known or not), so ``reasons`` is never empty.
    """
    facts = facts_of(case)
    fired = sorted((rule for rule in RULES if rule.when(facts)), key=lambda rule: tier_rank(rule.tier))
    tier = fired[0].tier
    return Decision(
        tier=tier,
        forward_to_clinician=tier in FORWARDED_TIERS or any(rule.forward for rule in fired),
        reasons=tuple(Reason(rule.id, rule.reason, rule.tier, rule.id) for rule in fired),
        ruleset_version=RULESET_VERSION,
    )


def assess_json(data: object) -> dict[str, Any]:
    """Return the contract's decision JSON for the contract's case JSON ``data``; raise CaseError if malformed."""
    return assess(parse_case(data)).to_dict()
