"""``python -m triage.evaluate`` end to end on a labelled set made here: rules only and simulated models, the
report folder, resuming, comparing, and every bad argument answered in one line."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.evaluate.helpers import CASES, ROOT, evaluate, read_rows, run_process, write_dataset, write_simulation
from triage.evaluate import evidence_from_metrics, lesion_discharge_verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "triage" / "evaluate" / "examples"
CLASSES = sorted({c[1] for c in CASES})


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


def perfect(tmp_path: Path) -> Path:
    return write_simulation(tmp_path / "perfect.json", {c: {c: 1.0} for c in CLASSES}, {"kind": "fixed", "value": 0.9})


def benign(tmp_path: Path) -> Path:
    return write_simulation(tmp_path / "benign.json", {c: {"seborrheic_keratosis": 1.0} for c in CLASSES},
                            {"kind": "fixed", "value": 0.7})  # fmt: skip


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_rules_only_run_as_a_process_writes_the_whole_report(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = run_process("--csv", str(labels), "--no-model", "--split", "all", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "lesion discharge evidence: not met" in done.stdout
    assert re.search(r"evaluated 10 cases in [0-9.]+ s", done.stderr)
    rows = read_rows(out / "cases.csv")
    assert [r["case_id"] for r in rows] == [c[0] for c in CASES]
    assert {r["model_used"] for r in rows} == {"no"}
    assert {r["forwarded_unvalidated"] for r in rows} == {"yes"}  # no model output always goes to a clinician
    by_id = {r["case_id"]: r for r in rows}
    assert by_id["mel-1"]["tier_unvalidated"] == "soon"  # size and shape changed: 4 checklist points
    assert by_id["scc-1"]["reasons_unvalidated"].startswith("red_flag.bleeding_lesion")
    assert by_id["mel-2"]["tier_unvalidated"] == "routine"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["mode"] == "rules_only"
    assert metrics["headline"]["unvalidated"]["malignant_soon_or_above"]["successes"] == 2
    assert metrics["cases"]["model_used"] == 0
    assert set(metrics["strata"]["skin_type"]) == {"I", "II", "III", "IV", "V", "VI", "unknown"}
    for name in ("report.md", "report.html", "tiers.png", "caught_by_group.png"):
        assert (out / name).stat().st_size > 0, name


def test_the_html_report_is_self_contained_with_its_plots_embedded(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert evaluate("--csv", str(labels), "--simulate", str(perfect(tmp_path)), "--split", "all",
                    "--out", str(out)) == 0  # fmt: skip
    page = (out / "report.html").read_text()
    assert "<script" not in page and "<link" not in page and 'src="http' not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3  # tiers, caught by group, reliability diagram
    assert all(base64.b64decode(data).startswith(b"\x89PNG") for data in images)
    markdown = (out / "report.md").read_text()
    assert "![reliability diagram](reliability.png)" in markdown and (out / "reliability.png").exists()


def test_a_simulated_perfect_model_is_right_and_calibrated_as_specified(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert evaluate("--csv", str(labels), "--simulate", str(perfect(tmp_path)), "--split", "all",
                    "--out", str(out)) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(entry["top1"]["value"] == 1.0 for entry in metrics["classes"].values())
    assert metrics["calibration"]["ece"] == pytest.approx(0.1)  # always right at likelihood 0.9
    assert metrics["models"] == [{"backend": "simulated", "model_id": "perfect", "model_revision": metrics["models"][0]
                                  ["model_revision"]}]  # fmt: skip
    rows = {r["case_id"]: r for r in read_rows(out / "cases.csv")}
    # The gate: a mole named benign goes home only from a model with evidence; otherwise a clinician confirms.
    assert rows["nev-1"]["tier_unvalidated"] == "routine" and rows["nev-1"]["tier_validated"] == "self_care"
    assert rows["mel-2"]["tier_unvalidated"] == "soon"  # melanoma on top at 0.9


def test_a_confidently_benign_model_sends_malignant_cases_home_and_fails_the_evidence(
    labels: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    assert evaluate("--csv", str(labels), "--simulate", str(benign(tmp_path)), "--split", "all",
                    "--out", str(out)) == 0  # fmt: skip
    rows = {r["case_id"]: r for r in read_rows(out / "cases.csv")}
    # No red flag, "benign" at 0.7: the gate keeps it with a clinician unless the model has evidence.
    assert rows["mel-2"]["tier_unvalidated"] == "routine" and rows["mel-2"]["forwarded_unvalidated"] == "yes"
    assert rows["mel-2"]["tier_validated"] == "self_care"
    metrics = json.loads((out / "metrics.json").read_text())
    verdict = lesion_discharge_verdict(evidence_from_metrics(metrics))
    assert not verdict.met and verdict.reasons == tuple(metrics["evidence"]["reasons"])
    assert any("sensitivity" in reason for reason in verdict.reasons)


def test_the_flag_travels_in_the_triage_case_and_skipped_questions_in_the_answers(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, object]] = []
    import triage.evaluate.run as run_module

    original = run_module.parse_case

    def spy(data: dict[str, object]) -> object:
        seen.append(json.loads(json.dumps(data)))
        return original(data)

    monkeypatch.setattr(run_module, "parse_case", spy)
    assert evaluate("--csv", str(labels), "--simulate", str(benign(tmp_path)), "--split", "all",
                    "--out", str(tmp_path / "r")) == 0  # fmt: skip
    flags = [case["model"]["lesion_discharge_validated"] for case in seen]  # type: ignore[index]
    assert flags.count(False) == flags.count(True) == len(CASES)
    skipped = [case["answers"].get("skipped") for case in seen]  # type: ignore[union-attr]
    assert ["bleeding"] in skipped


def test_the_default_split_is_dev_and_holdout_is_chosen_explicitly(labels: Path, tmp_path: Path) -> None:
    assert evaluate("--csv", str(labels), "--no-model", "--out", str(tmp_path / "dev")) == 0
    assert {r["split"] for r in read_rows(tmp_path / "dev" / "cases.csv")} == {"dev"}
    assert evaluate("--csv", str(labels), "--no-model", "--split", "holdout", "--out", str(tmp_path / "ho")) == 0
    assert len(read_rows(tmp_path / "ho" / "cases.csv")) == sum(c[6] == "holdout" for c in CASES)
    assert evaluate("--csv", str(labels), "--no-model", "--split", "all", "--only-with-images", "--limit", "3",
                    "--out", str(tmp_path / "some")) == 0  # fmt: skip
    assert [r["case_id"] for r in read_rows(tmp_path / "some" / "cases.csv")] == ["mel-1", "mel-2", "scc-1"]


def test_a_stopped_run_resumes_where_it_stopped_and_ends_as_a_fresh_one(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--csv", str(labels), "--simulate", str(EXAMPLES / "accuracy_70.json"), "--split", "all"]
    fresh, stopped = tmp_path / "fresh", tmp_path / "stopped"
    assert evaluate(*args, "--out", str(fresh)) == 0
    assert evaluate(*args, "--out", str(stopped)) == 0
    lines = (stopped / "cases.csv").read_text().splitlines(keepends=True)
    # Four whole rows, and a fifth cut short as a killed process leaves it.
    (stopped / "cases.csv").write_text("".join(lines[:5]) + lines[5][:30])
    (stopped / "metrics.json").unlink()
    capsys.readouterr()
    assert evaluate(*args, "--out", str(stopped)) == 0
    err = capsys.readouterr().err
    assert "resuming: 4 of 10 cases already done" in err
    assert "evaluated 6 cases" in err
    assert (stopped / "cases.csv").read_text() == (fresh / "cases.csv").read_text()
    fresh_metrics = json.loads((fresh / "metrics.json").read_text())
    resumed_metrics = json.loads((stopped / "metrics.json").read_text())
    fresh_metrics["run"]["command"] = resumed_metrics["run"]["command"] = ""
    assert resumed_metrics == fresh_metrics


def test_a_report_folder_is_not_reused_for_other_settings_unless_restarted(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r")
    assert evaluate("--csv", str(labels), "--no-model", "--split", "all", "--out", out) == 0
    capsys.readouterr()
    assert evaluate("--csv", str(labels), "--no-model", "--split", "dev", "--out", out) == 2
    assert "holds a run with other settings (split)" in only_line(capsys.readouterr().err)
    assert evaluate("--csv", str(labels), "--no-model", "--split", "dev", "--out", out, "--restart") == 0
    assert {r["split"] for r in read_rows(tmp_path / "r" / "cases.csv")} == {"dev"}


def test_two_runs_are_compared_side_by_side_and_case_by_case(labels: Path, tmp_path: Path) -> None:
    base = ["--csv", str(labels), "--split", "all"]
    assert evaluate(*base, "--simulate", str(benign(tmp_path)), "--out", str(tmp_path / "old")) == 0
    assert evaluate(*base, "--simulate", str(perfect(tmp_path)), "--out", str(tmp_path / "new"),
                    "--compare", str(tmp_path / "old")) == 0  # fmt: skip
    comparison = json.loads((tmp_path / "new" / "metrics.json").read_text())["comparison"]
    flags = comparison["flags"]["validated"]
    assert flags["common_cases"] == len(CASES)
    assert "mel-2" in flags["malignant_caught_only_here"]  # benign sent it home; the perfect model did not
    assert flags["malignant_missed_only_here"] == []
    assert flags["tier_moves"]["self_care -> soon"] >= 1
    report = (tmp_path / "new" / "report.md").read_text()
    assert f"## Compared with {tmp_path / 'old'}" in report


def test_without_matplotlib_the_report_is_written_without_plots(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    out = tmp_path / "r"
    assert evaluate("--csv", str(labels), "--no-model", "--split", "all", "--out", str(out)) == 0
    assert "matplotlib is not installed" in capsys.readouterr().err
    assert "pip install '.[eval]'" in (out / "report.md").read_text()
    assert not list(out.glob("*.png"))


def status_of(*args: str) -> int:
    """Run the command in this process; return its exit status, whether returned or raised by argparse."""
    try:
        return evaluate(*args)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--no-model"], "required: --out"),
        (["--no-model", "--simulate", "x.json"], "not allowed with argument"),
        (["--no-model", "--split", "later"], "invalid choice: 'later'"),
        (["--no-model", "--limit", "0"], "--limit must be at least 1"),
        (["--no-model", "--concurrency", "1000"], "--concurrency must be from 1 to 64"),
        (["--no-model", "--malignant", "melanome"], "--malignant: not a condition key"),
        (["--no-model", "--bogus"], "unrecognized arguments: --bogus"),
        (["--model-url", "ftp://model"], "--model-url must start with http:// or https://"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_status_2(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str
) -> None:
    out = [] if words == "required: --out" else ["--out", str(tmp_path / "o")]
    assert status_of("--csv", str(labels), *args, *out) == 2
    assert words in only_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


def test_a_simulated_model_without_a_row_for_a_diagnosis_is_refused_before_running(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_simulation(tmp_path / "s.json", {"melanoma": {"melanoma": 1.0}}, {"kind": "fixed", "value": 1})
    assert evaluate("--csv", str(labels), "--simulate", str(spec), "--out", str(tmp_path / "o")) == 2
    assert "no confusion row for diagnosis basal_cell_carcinoma" in only_line(capsys.readouterr().err)


def out_is_a_file(tmp: Path) -> list[str]:
    (tmp / "file").write_text("x")
    return ["--out", str(tmp / "file")]


def out_is_someone_elses_folder(tmp: Path) -> list[str]:
    (tmp / "dir").mkdir()
    (tmp / "dir" / "mine.txt").write_text("keep")
    return ["--out", str(tmp / "dir")]


def compare_with_a_plain_folder(tmp: Path) -> list[str]:
    return ["--out", str(tmp / "o"), "--compare", str(tmp)]


def csv_that_is_absent(tmp: Path) -> list[str]:
    return ["--out", str(tmp / "o"), "--csv", str(tmp / "absent.csv")]


def pad_folder_without_metadata(tmp: Path) -> list[str]:
    return ["--out", str(tmp / "o"), "--pad", str(tmp)]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (out_is_a_file, "exists and is not a folder"),
        (out_is_someone_elses_folder, "a folder that is not an evaluation report"),
        (compare_with_a_plain_folder, "no metrics.json there"),
        (csv_that_is_absent, "cannot read"),
        (pad_folder_without_metadata, "no metadata.csv there"),
    ],
)
def test_bad_input_files_and_folders_get_one_line_and_exit_status_2(
    labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], list[str]], words: str
) -> None:
    extra = make(tmp_path)
    data = [] if "--csv" in extra or "--pad" in extra else ["--csv", str(labels)]
    assert evaluate(*data, "--no-model", "--split", "all", *extra) == 2
    assert words in only_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()
    if (tmp_path / "dir").exists():
        assert [p.name for p in (tmp_path / "dir").iterdir()] == ["mine.txt"]


def test_a_csv_without_splits_needs_split_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "l.csv"
    path.write_text("image,diagnosis\n,melanoma\n")
    assert evaluate("--csv", str(path), "--no-model", "--out", str(tmp_path / "o")) == 0  # default: all
    assert evaluate("--csv", str(path), "--no-model", "--split", "dev", "--out", str(tmp_path / "p")) == 2
    assert "these cases have no split; use --split all" in capsys.readouterr().err


def test_a_reader_that_goes_away_gets_no_traceback_and_the_report_is_complete(labels: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    process = subprocess.Popen(
        [sys.executable, "-m", "triage.evaluate", "--csv", str(labels), "--no-model", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -0`: the summary has nowhere to go
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in err
    assert (out / "report.html").exists()


def test_a_report_that_cannot_be_written_gets_one_line(
    labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import triage.evaluate.cli as cli

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_report", full_disk)  # a full disk cannot be made here as root
    assert evaluate("--csv", str(labels), "--no-model", "--out", str(tmp_path / "r")) == 2
    assert "cannot write to --out" in capsys.readouterr().err.splitlines()[-1]
    (tmp_path / "file").write_text("x")
    assert evaluate("--csv", str(labels), "--no-model", "--out", str(tmp_path / "file" / "r")) == 2
    assert "--out" in only_line(capsys.readouterr().err)
