"""Tolerant parsing of a generative model's reply into (findings, answer). Never raises.

A model may reply with a JSON object (possibly inside a code fence, with text around it, or cut off), with
bullet lines, or with garbage (a random-weight test model does). The order of attempts: the first balanced
JSON object that parses; then bullet lines as findings and the rest as the answer; then the raw text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_FINDINGS = 12
MAX_FINDING_CHARS = 200
MAX_ANSWER_CHARS = 4000

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+(.+?)\s*$")
_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


@dataclass
class ParsedReply:
    """What could be read from a reply."""

    findings: list[str] = field(default_factory=list)
    answer: str = ""


def parse_reply(text: str) -> ParsedReply:
    """Return the findings and answer found in `text`; empty fields when nothing usable is there."""
    text = _FENCE.sub("", text or "")
    obj = find_json_object(text)
    if obj is not None:
        return ParsedReply(findings=_clean_findings(obj.get("findings")), answer=_clean_text(obj.get("answer")))
    findings: list[str] = []
    rest: list[str] = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        if match:
            findings.append(match.group(1))
        elif line.strip():
            rest.append(line.strip())
    return ParsedReply(findings=_clean_findings(findings), answer=_clean_text(" ".join(rest)))


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced `{...}` in `text` that parses as a JSON object, or None. Quotes and escapes aware."""
    start = text.find("{")
    while start != -1:
        end = _balanced_end(text, start)
        if end is None:
            return None
        try:
            value = json.loads(text[start : end + 1], strict=False)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def _balanced_end(text: str, start: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        ch = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _clean_text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return " ".join(value.split())[:MAX_ANSWER_CHARS]


def _clean_findings(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    findings = []
    for item in value:
        text = _clean_text(item)[:MAX_FINDING_CHARS]
        if text and text not in findings:
            findings.append(text)
    return findings[:MAX_FINDINGS]
