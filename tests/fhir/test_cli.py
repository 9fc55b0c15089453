"""`python -m inbox export-fhir`: one case or every case closed since a day, into a folder; nothing about another
organisation's case or an erased patient is written; bad arguments are refused with a clear message."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from inbox.cli import main
from tests.conftest import ROOT, migrate
from tests.fhir.schema import schema_errors
from tests.fhir.world import referred
from tests.inbox.conftest import World, build_world
from triage import cases
from triage.db import make_engine, make_sessionmaker
from triage.fhir.validate import validate_bundle
from triage.images import ImageStore
from triage.models import AuditEvent, Patient


@pytest.fixture
def cli_world(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """The inbox world in the database and image store the command line's settings name."""
    key = Fernet.generate_key()
    migrate(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IMAGE_ENCRYPTION_KEYS", key.decode())
    return build_world(make_sessionmaker(make_engine(sqlite_url)), ImageStore(tmp_path / "images", [key]))


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["export-fhir", *argv], out=out), out.getvalue()


def test_one_case_is_written_valid_with_its_photos_and_audited(cli_world: World, tmp_path: Path) -> None:
    case_id = referred(cli_world)
    out_dir = tmp_path / "exports" / "north"
    code, out = _run("--organisation", "north", "--case", str(case_id), "--out", str(out_dir))
    assert code == 0, out
    written = out_dir / f"case-{case_id}.fhir.json"
    assert out == f"case {case_id}: {written}\n"
    bundle = json.loads(written.read_text(encoding="utf-8"))
    validate_bundle(bundle)
    assert schema_errors(bundle) == []
    media = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Media"]
    assert len(media) == 1 and media[0]["content"]["data"]
    assert [p.name for p in out_dir.iterdir()] == [written.name]  # no temporary file left
    with cli_world.services.sessions() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "case.exported")).all()
    assert [(a.actor, a.case_id, a.details) for a in audit] == [("cli", case_id, {"format": "fhir", "via": "cli"})]


def test_every_case_closed_since_a_day_and_without_photos(cli_world: World, tmp_path: Path) -> None:
    referred_id = referred(cli_world)
    code, out = _run("--organisation", "north", "--closed-since", "2020-01-01", "--out", str(tmp_path / "o"),
                     "--no-photos")
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted([f"case-{referred_id}.fhir.json", f"case-{cli_world.cases['closed']}.fhir.json"])
    bundle = json.loads((tmp_path / "o" / f"case-{referred_id}.fhir.json").read_text())
    assert all("data" not in e["resource"].get("content", {}) for e in bundle["entry"])
    code, out = _run("--organisation", "north", "--closed-since", "2999-01-01", "--out", str(tmp_path / "none"))
    assert code == 0 and out == "no case of north closed since 2999-01-01\n"
    assert list((tmp_path / "none").iterdir()) == []


def test_another_organisations_or_an_erased_case_writes_nothing(
    cli_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "o"
    code, _ = _run("--organisation", "north", "--case", str(cli_world.cases["south"]), "--out", str(out_dir))
    assert code == 1
    assert "no case" in capsys.readouterr().err
    assert list(out_dir.iterdir()) == []
    code, _ = _run("--organisation", "south", "--closed-since", "2020-01-01", "--out", str(out_dir))
    assert code == 0 and list(out_dir.iterdir()) == []  # north's closed case is not south's
    with cli_world.services.sessions() as session:
        telegram_id = int(session.scalar(select(Patient.telegram_user_id)) or 0)
    cases.erase_patient(cli_world.services.sessions, cli_world.services.images, telegram_id)
    code, _ = _run("--organisation", "north", "--case", str(cli_world.cases["emergency"]), "--out", str(out_dir))
    assert code == 1 and list(out_dir.iterdir()) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--organisation", "north", "--out", "x"], "one of the arguments --case --closed-since is required"),
    (["--organisation", "north", "--case", "1", "--closed-since", "2026-01-01", "--out", "x"], "not allowed with"),
    (["--organisation", "north", "--case", "abc", "--out", "x"], "not a case number: 'abc'"),
    (["--organisation", "north", "--case", "0", "--out", "x"], "not a case number"),
    (["--organisation", "north", "--case", "99999999999", "--out", "x"], "not a case number"),
    (["--organisation", "north", "--closed-since", "01/11/2026", "--out", "x"], "not a date (YYYY-MM-DD)"),
    (["--organisation", "north", "--closed-since", "2026-02-30", "--out", "x"], "not a date"),
    (["--case", "1", "--out", "x"], "--organisation"),
])
def test_bad_arguments_are_refused_with_what_is_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export-fhir", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_output_path_that_is_a_file_is_refused(cli_world: World, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        _run("--organisation", "north", "--case", str(cli_world.cases["closed"]), "--out", str(target))
    assert exit_info.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"


def test_python_dash_m_inbox_export_fhir_runs(cli_world: World, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "inbox", "export-fhir", "--organisation", "north", "--case",
         str(cli_world.cases["closed"]), "--out", str(tmp_path / "p")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "p" / f"case-{cli_world.cases['closed']}.fhir.json").read_text())["type"] == (
        "transaction")
