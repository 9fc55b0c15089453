"""Account management: the admin pages, a clinician's own password, and the `python -m inbox` command line."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from inbox.cli import main, read_password
from tests.conftest import ROOT
from tests.inbox.conftest import PASSWORD, InboxClient, World, sqlite_only
from triage import accounts

MakeClient = Callable[..., Awaitable[InboxClient]]
NEW = "a brand new passphrase"


@sqlite_only
async def test_an_admin_manages_the_accounts_of_their_own_organisation(make_client: MakeClient, world: World) -> None:
    root = await make_client("root")
    status, page = await root.get("/inbox/admin/users")
    assert status == 200
    assert "alice@north.example.org" in page and "bob@south.example.org" not in page

    form = {"email": "dee@north.example.org", "name": "Dr <Dee>", "role": "clinician", "telegram_user_id": "7010"}
    resp = await root.post("/inbox/admin/users", {**form, "password": NEW})
    assert resp.status == 303
    created = accounts.find_by_email(world.services.sessions, "dee@north.example.org")
    assert created is not None and (created.organisation, created.telegram_user_id) == ("north", 7010)
    _, page = await root.get("/inbox/admin/users")
    assert "Dr &lt;Dee&gt;" in page

    for bad, message in (
        ({**form, "password": NEW}, "exists already"),
        ({**form, "email": "eve@north.example.org", "password": "short"}, "at least 10"),
        ({**form, "email": "eve@north.example.org", "role": "root", "password": NEW}, "role must be"),
        ({**form, "email": "eve@north.example.org", "telegram_user_id": "12ab", "password": NEW}, "must be a number"),
    ):
        resp = await root.post("/inbox/admin/users", bad)
        assert resp.status == 400 and message in await resp.text(), message

    resp = await root.post(f"/inbox/admin/users/{world.people['root'].id}/active", {"active": "0"})
    assert resp.status == 409  # not oneself


@sqlite_only
async def test_deactivating_or_resetting_an_account_ends_its_sessions(make_client: MakeClient, world: World) -> None:
    root, alice = await make_client("root"), await make_client("alice")
    alice_id = world.people["alice"].id
    resp = await root.post(f"/inbox/admin/users/{alice_id}/active", {"active": "0"})
    assert resp.status == 303
    resp = await alice.client.get("/inbox/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/inbox/login")
    assert (await alice.login(world.people["alice"].email)).status == 401

    assert (await root.post(f"/inbox/admin/users/{alice_id}/active", {"active": "1"})).status == 303
    assert (await alice.login(world.people["alice"].email)).status == 303
    resp = await root.post(f"/inbox/admin/users/{alice_id}/password", {"password": NEW})
    assert resp.status == 303
    assert (await alice.client.get("/inbox/", allow_redirects=False)).status == 303
    assert (await alice.login(world.people["alice"].email)).status == 401
    assert (await alice.login(world.people["alice"].email, NEW)).status == 303


@sqlite_only
async def test_a_clinician_changes_their_own_password(make_client: MakeClient, world: World) -> None:
    alice, elsewhere = await make_client("alice"), await make_client("alice")
    for form, message in (
        ({"current": "wrong", "new": NEW, "repeat": NEW}, "current password is wrong"),
        ({"current": PASSWORD, "new": NEW, "repeat": NEW + "x"}, "do not match"),
        ({"current": PASSWORD, "new": "short", "repeat": "short"}, "at least 10"),
    ):
        resp = await alice.post("/inbox/account/password", form)
        assert resp.status == 400 and message in await resp.text()
    resp = await alice.post("/inbox/account/password", {"current": PASSWORD, "new": NEW, "repeat": NEW})
    assert resp.status == 303
    assert (await alice.client.get("/inbox/", allow_redirects=False)).status == 200  # this session goes on
    assert (await elsewhere.client.get("/inbox/", allow_redirects=False)).status == 303  # the others end


@pytest.fixture
def cli_database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> sessionmaker[Session]:
    from tests.conftest import migrate
    from triage.db import make_engine, make_sessionmaker

    migrate(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    return make_sessionmaker(make_engine(sqlite_url))


def _run(*argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), out=out)
    return code, out.getvalue()


def test_the_command_line_creates_lists_deactivates_and_resets_accounts(
    cli_database: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(
        "create-user",
        "--email",
        "Admin@North.example.org",
        "--name",
        "Nadia Admin",
        "--role",
        "admin",
        "--organisation",
        "north",
        "--telegram-user-id",
        "42",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "created admin admin@north.example.org" in out
    result = accounts.authenticate(cli_database, "admin@north.example.org", PASSWORD)
    assert result.outcome == accounts.LoginOutcome.OK
    code, out = _run("list-users")
    assert code == 0 and out.split("\t")[1:] == [
        "admin@north.example.org",
        "Nadia Admin",
        "admin",
        "north",
        "active",
        "42\n",
    ]
    assert _run("deactivate-user", "--email", "admin@north.example.org") == (
        0,
        "admin@north.example.org: deactivated\n",
    )
    assert "deactivated" in _run("list-users", "--organisation", "north")[1]
    assert _run("list-users", "--organisation", "south") == (0, "")
    assert _run("activate-user", "--email", "admin@north.example.org")[0] == 0
    assert _run("set-password", "--email", "admin@north.example.org", stdin=NEW + "\n")[0] == 0
    assert accounts.authenticate(cli_database, "admin@north.example.org", NEW).outcome == accounts.LoginOutcome.OK

    assert _run("set-password", "--email", "nobody@north.example.org", stdin=NEW)[0] == 1
    assert _run("set-password", "--email", "admin@north.example.org", stdin="short\n")[0] == 1
    assert "at least 10" in capsys.readouterr().err


def test_a_password_typed_at_a_terminal_is_asked_twice() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter([NEW, NEW])
    assert read_password(Terminal(), prompt=lambda _: next(answers)) == NEW
    answers = iter([NEW, NEW + "!"])
    with pytest.raises(accounts.AccountError, match="differ"):
        read_password(Terminal(), prompt=lambda _: next(answers))


def test_python_dash_m_inbox_runs(cli_database: sessionmaker[Session]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "inbox", "list-users"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "inbox", "create-user", "--email", "x@y.org", "--name", "X", "--role", "nurse"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
