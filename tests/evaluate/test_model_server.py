"""Through a real model server process (the tiny random-weight model of tests/conftest.py): the plumbing of the
production path, per-case errors, interruption and resume. The tiny model's answers are meaningless, so these
tests assert what reached the report, never accuracy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.evaluate.helpers import CASES, ROOT, evaluate, read_rows, run_process, write_dataset
from tests.images import skin_photo
from tests.processes import Proc, free_port
from triage.rules import CONDITION_TIERS

pytestmark = [pytest.mark.model, pytest.mark.e2e]


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


def test_every_case_with_a_photo_gets_the_servers_answer_through_the_workers_path(
    model_server: Proc, tiny_model: Path, labels: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    assert evaluate("--csv", str(labels), "--model-url", model_server.url, "--split", "all", "--concurrency", "4",
                    "--out", str(out)) == 0  # fmt: skip
    rows = {r["case_id"]: r for r in read_rows(out / "cases.csv")}
    with_photo = {c[0] for c in CASES if c[7]}
    for case_id, row in rows.items():
        assert row["error"] == "", row
        if case_id in with_photo:
            assert (row["model_used"], row["backend"], row["model_id"]) == ("yes", "hf", tiny_model.name)
            differential = json.loads(row["differential"])
            assert len(differential) == 5 and all(key in CONDITION_TIERS for key, _ in differential)
            assert row["image_quality"] in ("good", "poor", "not_skin")
            assert row["tier_unvalidated"] and row["reasons_unvalidated"]
        else:
            assert (row["model_used"], row["forwarded_unvalidated"]) == ("no", "yes")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cases"]["model_used"] == len(with_photo)
    assert [m["backend"] for m in metrics["models"]] == ["hf"]
    assert metrics["calibration"]["cases"] == len(with_photo)
    assert (out / "reliability.png").exists()


def test_unreadable_photos_are_errors_on_their_cases_and_are_retried_on_resume(
    model_server: Proc, labels: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = labels.parent / "photos"
    (photos / "mel-1.jpg").write_bytes(b"this is not a photo at all")
    (photos / "mel-2.jpg").unlink()
    (photos / "mel-2.jpg").mkdir()  # a folder where a photo should be
    (photos / "scc-1.jpg").unlink()
    args = ["--csv", str(labels), "--model-url", model_server.url, "--split", "all", "--out", str(tmp_path / "r")]
    assert evaluate(*args) == 0
    rows = {r["case_id"]: r for r in read_rows(tmp_path / "r" / "cases.csv")}
    assert rows["mel-1"]["error"] == "photo rejected (unsupported_format): mel-1.jpg"
    assert rows["mel-2"]["error"] == "photo missing: mel-2.jpg"
    assert rows["scc-1"]["error"] == "photo missing: scc-1.jpg"
    assert rows["mel-1"]["tier_unvalidated"] == ""  # an errored case has no decision and counts in no figure
    assert sum(r["error"] == "" for r in rows.values()) == len(CASES) - 3
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["cases"]["errored"] == 3
    assert "3 cases could not be evaluated; the record needs a complete run" in metrics["evidence"]["reasons"]
    assert "## Errors" in (tmp_path / "r" / "report.md").read_text()

    (photos / "mel-2.jpg").rmdir()
    for name in ("mel-1.jpg", "mel-2.jpg", "scc-1.jpg"):
        (photos / name).write_bytes(skin_photo(240, 240, with_gps=False))
    capsys.readouterr()
    assert evaluate(*args) == 0
    assert f"resuming: {len(CASES) - 3} of {len(CASES)} cases already done" in capsys.readouterr().err
    assert all(r["error"] == "" for r in read_rows(tmp_path / "r" / "cases.csv"))


def test_the_image_size_cap_of_the_settings_applies_to_every_photo(
    model_server: Proc, labels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_IMAGE_BYTES", "1024")  # smaller than every photo of the set
    assert evaluate("--csv", str(labels), "--model-url", model_server.url, "--split", "all",
                    "--out", str(tmp_path / "r")) == 0  # fmt: skip
    errors = {r["error"] for r in read_rows(tmp_path / "r" / "cases.csv") if r["images"] != "0"}
    assert errors == {f"photo rejected (too_large): {c[0]}.jpg" for c in CASES if c[7]}


def test_a_model_server_that_is_down_gets_one_line_and_exit_status_3(labels: Path, tmp_path: Path) -> None:
    done = run_process("--csv", str(labels), "--model-url", f"http://127.0.0.1:{free_port()}", "--out",
                       str(tmp_path / "r"))  # fmt: skip
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not answering (ConnectError); start it, or use --no-model" in lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_an_interrupted_run_keeps_its_cases_and_resumes(model_server: Proc, tmp_path: Path) -> None:
    (tmp_path / "p.jpg").write_bytes(skin_photo(240, 240, with_gps=False))
    labels = tmp_path / "many.csv"
    labels.write_text("case_id,image,diagnosis\n" + "".join(f"c{i},p.jpg,melanoma\n" for i in range(60)))
    args = [sys.executable, "-m", "triage.evaluate", "--csv", str(labels), "--model-url", model_server.url,
            "--concurrency", "1", "--out", str(tmp_path / "r")]  # fmt: skip
    # Ctrl-C's SIGINT as a terminal delivers it: a suite started in the background (`&`) has SIGINT ignored, and a
    # child would inherit that.
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    results = tmp_path / "r" / "cases.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= 4:  # header and three cases
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    done_before = len(read_rows(results))
    assert process.returncode == 130, err
    assert "interrupted;" in err and "run the same command again to resume" in err
    assert 3 <= done_before < 60
    # The concurrency is not part of a run's settings: the rest may go faster.
    again = subprocess.run([*args, "--concurrency", "8"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                           check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"resuming: {done_before} of 60 cases already done" in again.stderr
    assert [r["case_id"] for r in read_rows(results)] == [f"c{i}" for i in range(60)]


def test_a_run_through_a_real_model_server_is_recorded_for_its_identity(
    model_server: Proc, labels: Path, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx

    from tests.conftest import migrate
    from triage import evidence
    from triage.db import make_engine, make_sessionmaker

    migrate(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert evaluate("--csv", str(labels), "--no-model", "--record", "--split", "all",
                    "--out", str(tmp_path / "none")) == 2  # fmt: skip
    assert "--record needs a running model server" in capsys.readouterr().err
    assert evaluate("--csv", str(labels), "--model-url", model_server.url, "--split", "all", "--record",
                    "--recorded-by", "Dr Eval", "--out", str(tmp_path / "r")) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "evidence record 1 for model" in printed and "does not meet the thresholds" in printed  # 10 cases
    identity = httpx.get(f"{model_server.url}/healthz").json()["identity"]["identity"]
    sessions = make_sessionmaker(make_engine(sqlite_url))
    [view] = evidence.records(sessions)
    assert (view.identity, view.recorded_by, view.split, view.meets) == (identity, "Dr Eval", "all", False)
    assert view.figures["counts"]["lesion_cases"] == len(CASES)
    assert evidence.validating_record(sessions, identity) is None
    sessions.kw["bind"].dispose()
