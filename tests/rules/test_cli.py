"""``python -m triage``, run as a real process, exactly as clinicians and auditors run it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.rules import RULES, RULESET_VERSION

from .helpers import ROOT, run_module


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """Run ``python -m triage ARGS`` from the repository root and return the finished process."""
    return run_module("triage", *args, stdin=stdin)


def assert_rejected(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


CASE = {
    "patient": {"age_years": 19},
    "answers": {"symptoms": ["fever", "non_blanching_rash"]},
    "model": {"differential": [{"condition": "viral_exanthem", "likelihood": 0.7}], "image_quality": "good"},
}


def test_it_assesses_a_case_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(CASE))
    result = run("assess", str(path))
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    assert decision["tier"] == "emergency" and decision["forward_to_clinician"] is True
    assert decision["reasons"][0]["code"] == "red_flag.fever_non_blanching_rash"
    assert decision["ruleset_version"] == RULESET_VERSION
    assert result.stderr == ""


@pytest.mark.parametrize("args", [("assess",), ("assess", "-")])
def test_it_reads_standard_input_when_file_is_dash_or_absent(args: tuple[str, ...]) -> None:
    result = run(
        *args,
        stdin=json.dumps(
            {"model": {"differential": [{"condition": "tinea", "likelihood": 0.9}], "image_quality": "good"}}
        ).encode(),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "tier": "self_care",
        "forward_to_clinician": False,
        "reasons": [
            {
                "code": "model.default_tier.tinea",
                "text": "The image assessment suggests tinea (fungal infection), ICD-10 B35.9",
            }
        ],
        "ruleset_version": RULESET_VERSION,
    }


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"this is not json", ("not valid JSON",)),
        (b"", ("not valid JSON",)),
        (b'{"answers": {"symptoms": "fever"}}', ("answers.symptoms", "list of strings")),
        (
            b'{"model": {"differential": [{"condition": "melanoma", "likelihood": "high"}]}}',
            ("model.differential[0].likelihood",),
        ),
        (
            b'{"model": {"differential": [{"condition": "melanoma", "likelihood": 1.2}]}}',
            ("model.differential[0].likelihood", "from 0 to 1"),
        ),
        (b'{"model": {"differential": [{"condition": "melanoma", "likelihood": NaN}]}}', ("NaN",)),
        (b"[1, 2, 3]", ("case", "expected an object")),
        (b'"just a string"', ("case", "expected an object")),
        (b'{"patient": {"age_years": "forty"}}', ("patient.age_years",)),
        (b"\xff\xfe\x00", ("UTF-8",)),
        (b"[" * 100_000, ("not valid JSON",)),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_problem(stdin: bytes, words: tuple[str, ...]) -> None:
    assert_rejected(run("assess", stdin=stdin), *words)


def test_unknown_vocabulary_keys_and_fields_are_not_errors() -> None:
    case = {
        "answers": {"symptoms": ["hiccups", "fever"], "body_sites": ["elbow"], "extent": "galactic"},
        "model": {"differential": [{"condition": "granuloma_annulare", "likelihood": 0.8}], "image_quality": "good"},
        "favourite_colour": "blue",
    }
    result = run("assess", stdin=json.dumps(case).encode())
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["forward_to_clinician"] is True
    assert "model.other_or_unknown_condition" in [reason["code"] for reason in decision["reasons"]]


def test_a_reason_from_the_words_carries_the_words_as_evidence() -> None:
    case = {
        "patient": {"age_years": 34},
        "text": "Hello. My 6 week old has had a temperature of 38.3 since this morning",
        "model": {"differential": [{"condition": "viral_exanthem", "likelihood": 0.8}], "image_quality": "good"},
    }
    result = run("assess", stdin=json.dumps(case).encode())
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["tier"] == "urgent"
    top = decision["reasons"][0]
    assert top["code"] == "red_flag.infant_fever"
    evidence = {item["concept"]: item for item in top["evidence"]}
    assert evidence["age"]["text"] == "6 week old" and evidence["fever"]["text"] == "temperature of 38.3"
    for item in top["evidence"]:
        assert case["text"][item["start"] : item["end"]] == item["text"]
    assert all("evidence" not in reason for reason in decision["reasons"][1:])


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    assert_rejected(run("assess", str(tmp_path / "nowhere.json")), "nowhere.json")


def _likelihood_case(value: Any) -> dict[str, Any]:
    return {"model": {"differential": [{"condition": "melanoma", "likelihood": value}]}}


WRONG_VALUES: list[tuple[str, dict[str, Any]]] = [
    *(("patient.age_years", {"patient": {"age_years": value}}) for value in ("40", True, [40], {"y": 4}, -5, 200)),
    *(("patient.pregnant", {"patient": {"pregnant": value}}) for value in ("yes", 1, [True], {"a": 1})),
    *(("answers.symptoms", {"answers": {"symptoms": value}}) for value in ("fever", 3, {"fever": True}, ["fever", 1])),
    *(("answers.body_sites", {"answers": {"body_sites": value}}) for value in ("face", False, [None])),
    *(("answers.duration_days", {"answers": {"duration_days": value}}) for value in ("2 weeks", True, -1, [3])),
    *(("model.image_quality", {"model": {"image_quality": value}}) for value in (1, True, ["good"])),
    *(("model.differential[0].likelihood", _likelihood_case(value)) for value in ("high", True, 1.01, -0.5, [0.4])),
    *(("answers.skipped", {"answers": {"skipped": value}}) for value in ("bleeding", 3, {"bleeding": True}, [None])),
    *(
        ("model.lesion_discharge_validated", {"model": {"lesion_discharge_validated": value}})
        for value in ("true", 1, [True], {"a": 1})
    ),
    *(("patient.skin_type", {"patient": {"skin_type": value}}) for value in (0, 7, 2.5, True, ["IV"], {"t": 4})),
]


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(WRONG_VALUES))
def test_a_wrong_type_anywhere_exits_2_naming_the_field(example: tuple[str, dict[str, Any]]) -> None:
    field, data = example
    assert_rejected(run("assess", stdin=json.dumps(data).encode()), field)


def test_help_describes_both_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "assess" in result.stdout and "rules" in result.stdout


def test_rules_prints_an_aligned_table_of_every_rule() -> None:
    result = run("rules")
    assert result.returncode == 0
    for rule in RULES:
        assert rule.id in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.startswith("rule "))
    rows = [line for line in result.stdout.splitlines() if line.startswith("red_flag.")]
    assert all(row.index(row.split()[1]) == header.index("tier") for row in rows), "tier column is aligned"


def test_rules_prints_markdown() -> None:
    result = run("rules", "--format", "markdown")
    assert result.returncode == 0
    assert "| rule | tier | forwarded | when | reason | source |" in result.stdout
    assert sum(line.startswith("| `") for line in result.stdout.splitlines()) >= len(RULES)


def test_the_command_imports_only_the_cli_and_the_rules() -> None:
    tree = ast.parse((ROOT / "triage" / "__main__.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"triage.cli"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, triage.cli; print(' '.join(sorted(m for m in sys.modules if m.startswith('triage'))))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    modules = probe.stdout.split()
    assert all(name in ("triage", "triage.cli") or name.startswith("triage.rules") for name in modules), modules
