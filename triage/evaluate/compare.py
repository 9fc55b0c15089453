"""Two runs side by side (two models, full precision against 4-bit, two rule-set versions): their headline
figures, and case by case, which tiers moved and which malignant cases one run caught and the other missed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triage.evaluate.document import Block, Heading, Items, Paragraph, Table
from triage.evaluate.labels import BadInput
from triage.evaluate.report import FLAG_TITLES, HEADLINE_ROWS, short_percent
from triage.evaluate.results import FLAGS, CaseResult, read_results
from triage.evaluate.summary import caught, flag_name

CASES_LISTED = 20


def load_other_run(folder: Path) -> tuple[dict[str, Any], list[CaseResult]]:
    """Return the metrics.json and per-case results of the report folder ``folder``. Raises BadInput."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"--compare {folder}: no metrics.json there (is it a report folder?)") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise BadInput(f"--compare {folder}: cannot read metrics.json: {error}") from None
    if not isinstance(metrics, dict) or "headline" not in metrics or "run" not in metrics:
        raise BadInput(f"--compare {folder}: metrics.json is not an evaluation report of this version")
    return metrics, read_results(folder / "cases.csv")


def comparison(
    this: dict[str, Any],
    this_results: Sequence[CaseResult],
    other: dict[str, Any],
    other_results: Sequence[CaseResult],
    other_name: str,
    malignant: Sequence[str],
) -> tuple[list[Block], dict[str, Any]]:
    """Return the comparison's report blocks and its metrics.json entry (this run first, the other second)."""
    figures: dict[str, Any] = {"other": other_name, "other_run": other["run"]["mode_description"], "flags": {}}
    blocks: list[Block] = [
        Heading(2, f"Compared with {other_name}"),
        Items((f"this run: {this['run']['mode_description']}", f"other run: {other['run']['mode_description']}")),
    ]
    rows = []
    for name in (flag_name(v) for v in FLAGS):
        for key, label in HEADLINE_ROWS:
            mine, theirs = this["headline"][name][key], other["headline"][name][key]
            rows.append((f"{label}, flag {'true' if name == 'validated' else 'false'}",
                         short_percent(mine), short_percent(theirs), _difference(mine, theirs)))  # fmt: skip
    blocks.append(Table(("figure", "this run", "other run", "difference"), tuple(rows)))
    mine_by_id = {r.case_id: r for r in this_results if not r.error}
    theirs_by_id = {r.case_id: r for r in other_results if not r.error}
    common = sorted(mine_by_id.keys() & theirs_by_id.keys())
    blocks.append(Paragraph(
        f"Case by case on the {len(common)} cases evaluated in both runs "
        f"({len(mine_by_id.keys() - theirs_by_id.keys())} only in this run, "
        f"{len(theirs_by_id.keys() - mine_by_id.keys())} only in the other)."
    ))  # fmt: skip
    for validated in FLAGS:
        name = flag_name(validated)
        pairs = [(theirs_by_id[i], mine_by_id[i]) for i in common]
        moved = Counter(
            (old.outcome(validated).tier, new.outcome(validated).tier)
            for old, new in pairs
            if old.outcome(validated).tier != new.outcome(validated).tier
        )
        lost = [new.case_id for old, new in pairs
                if new.diagnosis in malignant and caught(old, validated) and not caught(new, validated)]  # fmt: skip
        gained = [new.case_id for old, new in pairs
                  if new.diagnosis in malignant and caught(new, validated) and not caught(old, validated)]  # fmt: skip
        figures["flags"][name] = {
            "common_cases": len(common),
            "tier_changed": sum(moved.values()),
            "tier_moves": {f"{a} -> {b}": n for (a, b), n in sorted(moved.items())},
            "malignant_missed_only_here": lost,
            "malignant_caught_only_here": gained,
        }
        blocks += [
            Heading(3, f"Tier changes, {FLAG_TITLES[name]}"),
            Table(("other run -> this run", "cases"),
                  tuple((f"{a} -> {b}", str(n)) for (a, b), n in sorted(moved.items())) or (("none", "0"),)),
            Paragraph(f"Malignant cases caught by the other run and missed by this one: {_listed(lost)}. "
                      f"Caught by this run and missed by the other: {_listed(gained)}."),
        ]  # fmt: skip
    return blocks, figures


def _difference(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    if mine["value"] is None or theirs["value"] is None:
        return "n/a"
    return f"{100 * (mine['value'] - theirs['value']):+.1f} points"


def _listed(ids: list[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:CASES_LISTED])
    return f"{len(ids)} ({shown}{', ...' if len(ids) > CASES_LISTED else ''})"
