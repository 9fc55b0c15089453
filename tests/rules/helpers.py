"""Small builders for rules tests: cases in the contract's JSON shape, and what a decision fired."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from triage.rules import Decision, assess, parse_case

Differential = list[tuple[str, float]]
ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run ``python -m MODULE ARGS`` from the repository root as a real process and return it, output decoded."""
    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args, completed.returncode, completed.stdout.decode(), completed.stderr.decode()
    )


def case_json(
    *,
    age: float | None = None,
    pregnant: bool | None = None,
    immunosuppressed: bool | None = None,
    diabetes: bool | None = None,
    symptoms: tuple[str, ...] = (),
    sites: tuple[str, ...] = (),
    extent: str | None = None,
    text: str | None = None,
    model: Differential | None = None,
    quality: str | None = "good",
    validated: bool | None = None,
    skipped: tuple[str, ...] = (),
    skin_type: str | int | None = None,
) -> dict[str, Any]:
    """Return a case in the contract's JSON shape; ``model=None`` leaves the model out entirely.

    ``validated`` sets model.lesion_discharge_validated (left out when None); ``skipped`` answers.skipped.
    """
    patient: dict[str, Any] = {}
    for key, value in (
        ("age_years", age),
        ("pregnant", pregnant),
        ("immunosuppressed", immunosuppressed),
        ("diabetes", diabetes),
        ("skin_type", skin_type),
    ):
        if value is not None:
            patient[key] = value
    answers: dict[str, Any] = {"symptoms": list(symptoms), "body_sites": list(sites)}
    if extent is not None:
        answers["extent"] = extent
    if skipped:
        answers["skipped"] = list(skipped)
    data: dict[str, Any] = {"patient": patient, "answers": answers}
    if text is not None:
        data["text"] = text
    if model is not None:
        block: dict[str, Any] = {"differential": [{"condition": c, "likelihood": p} for c, p in model]}
        if quality is not None:
            block["image_quality"] = quality
        if validated is not None:
            block["lesion_discharge_validated"] = validated
        data["model"] = block
    return data


def decide(data: object) -> Decision:
    """Return the decision for a case given as contract JSON."""
    return assess(parse_case(data))


def fired(decision: Decision) -> set[str]:
    """Return the ids of the rules that fired."""
    return {reason.rule_id for reason in decision.reasons}
