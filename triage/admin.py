"""Operator commands: `python -m triage.admin rotate-image-keys` and `python -m triage.admin grant-runtime-role ROLE`.

Rotating the image encryption key:
1. generate a key: `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`;
2. put it first in IMAGE_ENCRYPTION_KEYS (`new,old`) and restart web and worker: new photos use it, old ones
   still decrypt with the old key;
3. run `python -m triage.admin rotate-image-keys`: every stored photo is re-encrypted under the new key;
4. remove the old key from IMAGE_ENCRYPTION_KEYS and restart.

Least privilege on PostgreSQL (docs/operations.md): run the migrations as the owner role, then, still as the
owner (DATABASE_URL is the owner's), `python -m triage.admin grant-runtime-role derma_app` gives the runtime role
of web, worker and beat what they need and no more: SELECT, INSERT, UPDATE, DELETE on every table but the audit,
only SELECT and INSERT on `audit_events`, only SELECT on `alembic_version`, the sequences, and the same for tables
the owner creates later. Idempotent: run it after every migration. Exit status 0 done, 1 refused (the message
says why), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import re
import sys

from sqlalchemy import Connection, text

from triage.config import ConfigError, Settings, load_settings
from triage.db import make_engine
from triage.images import ImageStore, load_keys

AUDIT_TABLE = "audit_events"
VERSION_TABLE = "alembic_version"
TABLE_DML = "SELECT, INSERT, UPDATE, DELETE"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Refused(Exception):
    """The command cannot do what was asked; the message says why and what to do."""


def _check_runtime_role(conn: Connection, role: str, schema: str) -> None:
    """Raise `Refused` unless `role` exists and could not, through ownership or superuser, get round the grants."""
    if not _ROLE_NAME.match(role):
        raise Refused(f"{role!r} is not a plain role name (lower-case letters, digits and _, at most 63)")
    found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if found is None:
        raise Refused(f"there is no role {role}: create it first (CREATE ROLE {role} LOGIN PASSWORD '...')")
    if found[0]:
        raise Refused(f"{role} is a superuser: superusers bypass every grant and trigger; use an ordinary role")
    if role == conn.execute(text("SELECT current_user")).scalar():
        raise Refused(f"{role} is the role running this command, which owns the tables: connect as the owner and "
                      "name the runtime role")
    owners = conn.execute(text(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = :s AND pg_has_role(:r, tableowner, 'MEMBER')"
    ), {"s": schema, "r": role}).scalars().all()
    if owners:
        raise Refused(f"{role} owns, or is a member of a role that owns, tables in {schema} ({', '.join(owners)}): "
                      "an owner can disable the audit's triggers or truncate it. Give the tables to the migration "
                      "role (ALTER TABLE ... OWNER TO) and keep the runtime role out of it")
    migrated = conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{schema}.{AUDIT_TABLE}"}).scalar()
    if migrated is None:
        raise Refused(f"there is no table {schema}.{AUDIT_TABLE}: run the migrations (alembic upgrade head) first")


def grant_runtime_role(conn: Connection, role: str) -> dict[str, int]:
    """Give `role` the runtime's privileges on the current schema, exactly (earlier grants are replaced), and
    default privileges on what the connected role creates there later. Returns the number of other tables (full
    DML) and of sequences. Raises `Refused` when the role is missing, a superuser, this connection's role or a
    member of a role that owns tables."""
    schema = str(conn.execute(text("SELECT current_schema()")).scalar())
    _check_runtime_role(conn, role, schema)
    quote = conn.dialect.identifier_preparer.quote
    r, s = quote(role), quote(schema)
    statements = [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"GRANT {TABLE_DML} ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"REVOKE ALL ON {s}.{quote(AUDIT_TABLE)} FROM {r}",
        f"GRANT SELECT, INSERT ON {s}.{quote(AUDIT_TABLE)} TO {r}",  # append-only: no UPDATE, DELETE, TRUNCATE
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {TABLE_DML} ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]
    if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{schema}.{VERSION_TABLE}"}).scalar() is not None:
        statements += [f"REVOKE ALL ON {s}.{quote(VERSION_TABLE)} FROM {r}",
                       f"GRANT SELECT ON {s}.{quote(VERSION_TABLE)} TO {r}"]
    for statement in statements:
        conn.exec_driver_sql(statement)
    tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = :s AND tablename NOT IN (:a, :v)"),
                          {"s": schema, "a": AUDIT_TABLE, "v": VERSION_TABLE}).scalar()
    sequences = conn.execute(text("SELECT count(*) FROM pg_sequences WHERE schemaname = :s"), {"s": schema}).scalar()
    return {"tables": int(tables or 0), "sequences": int(sequences or 0)}


def _grant(settings: Settings, role: str) -> int:
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        print("grant-runtime-role: roles are a PostgreSQL feature; this DATABASE_URL is not PostgreSQL",
              file=sys.stderr)
        return 1
    engine = make_engine(url, pool_size=1)
    try:
        with engine.begin() as conn:
            counts = grant_runtime_role(conn, role)
    except Refused as exc:
        print(f"grant-runtime-role: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"{role}: {TABLE_DML} on {counts['tables']} tables, SELECT and INSERT only on {AUDIT_TABLE}, "
          f"SELECT only on {VERSION_TABLE}, USAGE on {counts['sequences']} sequences; the same for tables and "
          "sequences this role creates later")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rotate-image-keys", help="re-encrypt every stored photo under the first configured key")
    grant = sub.add_parser("grant-runtime-role", help="PostgreSQL: give the runtime role of web, worker and beat "
                           "its privileges (run as the owner of the tables)")
    grant.add_argument("role", help="the runtime role, e.g. derma_app")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "grant-runtime-role":
        return _grant(settings, args.role)
    try:
        keys = load_keys(settings.image_encryption_keys, settings.key_file)
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    count = ImageStore(settings.image_dir, keys).rotate()
    print(f"re-encrypted {count} photos under the newest key")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
