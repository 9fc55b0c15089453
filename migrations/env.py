"""Alembic environment: migrates the database named by the application's settings."""

from __future__ import annotations

import sys
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection

from triage.config import ConfigError, load_settings
from triage.db import make_engine
from triage.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    explicit = config.get_main_option("sqlalchemy.url")
    if explicit:
        return explicit
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if settings.resolved_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_database_url


def _configure(connection: Connection, **options: Any) -> None:
    if connection.dialect.name == "sqlite":
        # Rebuilding a table (batch mode) drops the old one, which would cascade to the rows that refer to it.
        # The pragma only works outside a transaction; revisions that rebuild check the keys afterwards.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        **options,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _sqlite_sequences(connection: Connection) -> dict[str, int]:
    if connection.dialect.name != "sqlite":
        return {}
    exists = connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first()
    return dict(connection.exec_driver_sql("SELECT name, seq FROM sqlite_sequence").all()) if exists else {}


def _keep_sqlite_sequences(connection: Connection, before: dict[str, int]) -> None:
    """A table rebuilt on SQLite (batch mode) starts its AUTOINCREMENT counter from its rows again, which would give
    out the ids of rows deleted earlier: every revision keeps each table's counter at least where it was."""
    if not before:
        return
    after = _sqlite_sequences(connection)
    tables = {row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for name, seq in before.items():
        if name not in tables or after.get(name, 0) >= seq:
            continue
        connection.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        connection.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))


def _migrate(connection: Connection) -> None:
    seen: dict[str, int] = {}

    def after_each_revision(**_: Any) -> None:  # Alembic's on_version_apply
        _keep_sqlite_sequences(connection, seen)
        seen.update(_sqlite_sequences(connection))

    _configure(connection, on_version_apply=after_each_revision)
    with context.begin_transaction():
        seen.update(_sqlite_sequences(connection))
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _migrate(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
