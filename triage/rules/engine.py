"""Assess a case against the rule table and explain the decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from triage.rules.case import Case, parse_case
from triage.rules.extractor import Finding
from triage.rules.facts import Facts, facts_of
from triage.rules.predicates import lesion_case
from triage.rules.table import LESION_CONDITIONS, RULES, RULESET_VERSION, Rule
from triage.rules.vocabulary import FORWARDED_TIERS, tier_rank


@dataclass(frozen=True)
class Reason:
    """Why a decision has its tier: one rule that fired. ``code`` is the rule id.

    ``evidence`` holds the findings from the patient's words (or extra findings) without which the rule would
    not have fired; it is empty when the answers and the model alone made it fire.
    """

    code: str
    text: str
    tier: str
    rule_id: str
    evidence: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's reason object: code and text, and ``evidence`` when the words made it fire."""
        data: dict[str, Any] = {"code": self.code, "text": self.text}
        if self.evidence:
            data["evidence"] = [finding.to_dict() for finding in self.evidence]
        return data


@dataclass(frozen=True)
class Decision:
    """The urgency tier of a case, whether a clinician must look, and every rule that fired (top reason first).

    ``findings`` are everything read from the patient's words (and any extra findings), each with its span in
    the text, so that a clinician's screen can highlight them.
    """

    tier: str
    forward_to_clinician: bool
    reasons: tuple[Reason, ...]
    ruleset_version: str
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the contract's decision JSON object (tier, forward_to_clinician, reasons, ruleset_version)."""
        return {
            "tier": self.tier,
            "forward_to_clinician": self.forward_to_clinician,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "ruleset_version": self.ruleset_version,
        }


def _evidence(rule: Rule, facts: Facts, without_words: Facts | None) -> tuple[Finding, ...]:
    """Return the findings a rule read when it fires only because of them (the answers alone do not fire it)."""
    if without_words is None or rule.when(without_words):
        return ()
    return tuple(finding for finding in facts.findings if finding.concept in rule.when.reads)


def assess(case: Case, extra_findings: Iterable[Finding] = ()) -> Decision:
    """Return the Decision for ``case``: the highest tier of the rules that fire, every one of them as a reason.

    ``extra_findings`` are findings about the patient's words from another reader (e.g. a model reading the
    text); like the extractor's own, they can only add facts, so they can only raise the tier. Findings of a
    concept the rules do not know are ignored. Pure: same case and findings, same decision; never raises.
    Some rule always fires, because the model policy covers every model output (none, uncertain, or a top
    condition, known or not), so ``reasons`` is never empty.
    """
    facts = facts_of(case, extra_findings)
    without_words = facts_of(case, read_words=False) if facts.findings else None
    fired = sorted((rule for rule in RULES if rule.when(facts)), key=lambda rule: tier_rank(rule.tier))
    tier = fired[0].tier
    return Decision(
        tier=tier,
        forward_to_clinician=tier in FORWARDED_TIERS or any(rule.forward for rule in fired),
        reasons=tuple(
            Reason(rule.id, rule.reason, rule.tier, rule.id, _evidence(rule, facts, without_words)) for rule in fired
        ),
        ruleset_version=RULESET_VERSION,
        findings=facts.findings,
    )


_LESION_CASE = lesion_case(LESION_CONDITIONS)
MOLE_FEATURES = frozenset(("changing_size", "changing_shape", "changing_colour", "diameter_7mm_or_more",
                           "change_in_sensation"))


def about_a_lesion(case: Case, extra_findings: Iterable[Finding] = ()) -> bool:
    """Return whether ``case`` is about a spot, mole or growth: the lesion rules' own test (the model lists a
    lesion condition at likelihood 0.2 or more, or the words mention a spot, mole or growth), or a mole feature of
    the checklist reported (getting bigger, irregular shape or colour, 7 mm or more, feels different)."""
    facts = facts_of(case, extra_findings)
    return _LESION_CASE(facts) or not facts.symptoms.isdisjoint(MOLE_FEATURES)


def assess_json(data: object) -> dict[str, Any]:
    """Return the contract's decision JSON for the contract's case JSON ``data``; raise CaseError if malformed."""
    return assess(parse_case(data)).to_dict()
