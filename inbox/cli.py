"""`python -m inbox`: manage clinician accounts and models' evaluation records from the command line (the first
admin is made here).

    python -m inbox create-user --email a@example.org --name "Dr A" --role admin --organisation north
    python -m inbox list-users [--organisation north]
    python -m inbox deactivate-user --email a@example.org
    python -m inbox activate-user --email a@example.org
    python -m inbox set-password --email a@example.org
    python -m inbox organisation --code north [--name "North clinic"] [--public yes|no] [--clinician-chat -100123]
    python -m inbox qr --organisation north --out poster.png [--bot-username derma_bot]
    python -m inbox list-evidence
    python -m inbox revoke-evidence --id 3 --by "Dr A" --reason "weights replaced"
    python -m inbox export-fhir --organisation north --case 12 --out exports/
    python -m inbox export-fhir --organisation north --closed-since 2026-11-01 --out exports/ [--no-photos]

Passwords are read from standard input when it is not a terminal (one line), else asked for twice without
echo. They never go on the command line, where other users and the shell history would see them.
Exit status: 0 done, 1 refused (the message says why), 2 configuration error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from triage import accounts, case_snapshot, evidence, outreach, review
from triage.config import ConfigError, Settings, load_settings
from triage.db import make_engine, make_sessionmaker
from triage.fhir import export
from triage.fhir.validate import InvalidBundle
from triage.images import ImageStore, load_keys

ACTOR = "cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inbox", description="Manage the inbox's clinician accounts.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create an account (password from stdin or a prompt)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="the name colleagues and patients see")
    create.add_argument("--role", required=True, choices=accounts.ROLES)
    create.add_argument("--organisation", required=True, help="whose cases the account sees")
    create.add_argument("--telegram-user-id", type=int, default=None, help="to use the Claim button in alerts")
    listing = commands.add_parser("list-users", help="list the accounts")
    listing.add_argument("--organisation", default=None)
    for name, text in (
        ("deactivate-user", "deactivate an account and end its sessions"),
        ("activate-user", "activate an account again"),
        ("set-password", "set a new password (from stdin or a prompt) and unlock the account"),
    ):
        commands.add_parser(name, help=text).add_argument("--email", required=True)
    org = commands.add_parser("organisation", help="create or change an organisation (its clinicians' chat too)")
    org.add_argument("--code", required=True, help="2-32 of a-z, 0-9, _ and -")
    org.add_argument("--name", default=None)
    org.add_argument("--public", choices=("yes", "no"), default=None, help="offered to patients without a link")
    org.add_argument("--clinician-chat", default=None, help="the clinicians' Telegram chat id, or 'none'")
    qr = commands.add_parser("qr", help="a QR code of an organisation's deep link, for a poster (PNG or SVG)")
    qr.add_argument("--organisation", required=True)
    qr.add_argument("--out", required=True, help="a .png or .svg file to write")
    qr.add_argument("--bot-username", default=None, help="the bot's @username (default: TELEGRAM_BOT_USERNAME)")
    commands.add_parser("list-evidence", help="list the models' evaluation records (triage.evaluate --record)")
    revoke = commands.add_parser("revoke-evidence", help="revoke an evaluation record: its model no longer sends "
                                 "benign lesions home")
    revoke.add_argument("--id", type=int, required=True)
    revoke.add_argument("--by", required=True, help="who revokes it (for the audit)")
    revoke.add_argument("--reason", required=True)
    fhir = commands.add_parser("export-fhir", help="write cases as FHIR R4 bundles (JSON) into a folder")
    fhir.add_argument("--organisation", required=True, help="whose cases (no other organisation's is written)")
    which = fhir.add_mutually_exclusive_group(required=True)
    which.add_argument("--case", type=_case_id, help="one case, by its number")
    which.add_argument("--closed-since", type=_date, help="every case closed on or after this day (YYYY-MM-DD, UTC)")
    fhir.add_argument("--out", required=True, type=Path, help="the folder (made if missing)")
    fhir.add_argument("--no-photos", action="store_true", help="photos by size and hash only, not inline")
    return parser


def _case_id(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= review.MAX_ID:
        raise argparse.ArgumentTypeError(f"not a case number: {text[:20]!r}")
    return int(text)


def _date(text: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text[:20]!r}") from None
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _export_folder(parser: argparse.ArgumentParser, folder: Path) -> Path:
    """The output folder, made if missing; a clear refusal (exit status 2) when it cannot be one."""
    if folder.exists() and not folder.is_dir():
        parser.error(f"--out {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {folder}: cannot make the folder ({exc.strerror or exc})")
    return folder


def export_fhir(args: argparse.Namespace, factory: sessionmaker[Session], settings: Settings, out: TextIO) -> None:
    """Write the chosen cases' bundles. Raises `review.CaseNotFound` for a case not in the organisation (nothing
    written)."""
    images = None if args.no_photos else ImageStore(
        settings.image_dir, load_keys(settings.image_encryption_keys, settings.key_file))
    ids = [args.case] if args.case is not None else case_snapshot.closed_since(
        factory, args.organisation, args.closed_since)
    if not ids:
        print(f"no case of {args.organisation} closed since {args.closed_since:%Y-%m-%d}", file=out)
    for case_id in ids:
        path = export.export_case(factory, images, args.organisation, case_id, args.out)
        print(f"case {case_id}: {path}", file=out)


def read_password(stdin: TextIO, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """One line from a pipe, or asked twice on a terminal. Raises `AccountError` if the two differ."""
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = prompt("Password: ")
    if prompt("Password again: ") != first:
        raise accounts.AccountError("the two passwords differ")
    return first


def _account(factory: sessionmaker[Session], email: str) -> accounts.ClinicianView:
    found = accounts.find_by_email(factory, email)
    if found is None:
        raise accounts.AccountError(f"no account with the email {email.strip().lower()}")
    return found


def run(args: argparse.Namespace, factory: sessionmaker[Session], stdin: TextIO, out: TextIO) -> None:
    """Do one command. Raises `AccountError` when it is refused."""
    if args.command == "create-user":
        created = accounts.create_clinician(
            factory,
            email=args.email,
            display_name=args.name,
            role=args.role,
            organisation=args.organisation,
            password=read_password(stdin),
            telegram_user_id=args.telegram_user_id,
            actor=ACTOR,
        )
        print(f"created {created.role} {created.email} (id {created.id}) in {created.organisation}", file=out)
    elif args.command == "list-users":
        for c in accounts.list_clinicians(factory, organisation=args.organisation):
            state = "active" if c.active else "deactivated"
            telegram = c.telegram_user_id if c.telegram_user_id is not None else "-"
            print(f"{c.id}\t{c.email}\t{c.display_name}\t{c.role}\t{c.organisation}\t{state}\t{telegram}", file=out)
    elif args.command in ("deactivate-user", "activate-user"):
        target = _account(factory, args.email)
        active = args.command == "activate-user"
        accounts.set_active(factory, target.id, active, actor=ACTOR)
        print(f"{target.email}: {'activated' if active else 'deactivated'}", file=out)
    elif args.command == "set-password":
        target = _account(factory, args.email)
        accounts.set_password(factory, target.id, read_password(stdin), actor=ACTOR)
        print(f"{target.email}: password set, account unlocked, sessions ended", file=out)
    elif args.command == "organisation":
        _organisation(args, factory, out)
    elif args.command == "qr":
        _qr(args, factory, out)
    elif args.command == "list-evidence":
        for view in evidence.records(factory):
            state = "revoked" if view.revoked_at else ("counts" if view.counts else "does not meet the thresholds")
            print(f"{view.id}\t{view.identity[:12]}\t{view.model_id}\t{view.backend}/{view.quantization}\t"
                  f"{view.split}\t{view.recorded_at:%Y-%m-%d}\t{view.recorded_by}\t{state}", file=out)
    elif args.command == "revoke-evidence":
        try:
            view = evidence.revoke(factory, args.id, by=args.by, reason=args.reason)
        except evidence.EvidenceError as exc:
            raise accounts.AccountError(str(exc)) from None
        print(f"evidence record {view.id} revoked: model {view.model_id} no longer sends benign lesions home "
              f"(within {evidence.CACHE_S:.0f} s on every worker)", file=out)


def _organisation(args: argparse.Namespace, factory: sessionmaker[Session], out: TextIO) -> None:
    chat: int | str | None = "keep"
    if args.clinician_chat is not None:
        text = args.clinician_chat.strip()
        if text.lower() == "none":
            chat = None
        elif text.lstrip("-").isascii() and text.lstrip("-").isdigit() and abs(int(text)) < 2**62:
            chat = int(text)
        else:
            raise accounts.AccountError("--clinician-chat is a chat id like -1001234567890, or 'none'")
    try:
        outreach.ensure_organisation(factory, args.code, name=args.name)
        org = outreach.update_organisation(factory, args.code, actor=ACTOR, name=args.name,
                                           public=None if args.public is None else args.public == "yes",
                                           clinician_chat_id=chat)
    except outreach.OutreachError as exc:
        raise accounts.AccountError(str(exc)) from None
    state = "listed for patients" if org.public else "not listed (deep link only)"
    chat_text = org.clinician_chat_id if org.clinician_chat_id is not None else "the deployment's CLINICIAN_CHAT_ID"
    print(f"{org.code}: {org.name}; {state}; alerts to {chat_text}", file=out)


def _qr(args: argparse.Namespace, factory: sessionmaker[Session], out: TextIO) -> None:
    import segno

    org = outreach.organisation(factory, args.organisation)
    if org is None:
        raise accounts.AccountError(f"there is no organisation {args.organisation[:32]!r}: create it first")
    username = (args.bot_username or load_settings().telegram_bot_username).lstrip("@")
    if not username:
        raise accounts.AccountError("give --bot-username or set TELEGRAM_BOT_USERNAME: the link needs the bot's name")
    if not args.out.endswith((".png", ".svg")):
        raise accounts.AccountError("--out must end with .png or .svg")
    link = f"https://t.me/{username}?start={outreach.CLINIC_PREFIX}{org.code}"
    try:
        segno.make(link, error="m").save(args.out, scale=10, border=4)
    except OSError as exc:
        raise accounts.AccountError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"{args.out}: QR code of {link}", file=out)


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "export-fhir":
        args.out = _export_folder(parser, args.out)
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        if args.command == "export-fhir":
            export_fhir(args, make_sessionmaker(engine), settings, out)
        else:
            run(args, make_sessionmaker(engine), stdin, out)
    except review.CaseNotFound as exc:
        print(f"error: no case {exc.args[0]} in {args.organisation}'s cases (never sent, erased, or another "
              "organisation's); nothing written for it", file=sys.stderr)
        return 1
    except InvalidBundle as exc:
        print(f"error: the bundle is not valid FHIR ({exc}); nothing written for it", file=sys.stderr)
        return 1
    except accounts.AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, ProgrammingError) as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else exc.__class__.__name__
        print(f"error: the database is not reachable or not migrated ({reason}); run `alembic upgrade head`",
              file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
