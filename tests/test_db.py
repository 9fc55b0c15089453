"""The database layer: which URLs get an asyncio engine, how libpq options carry over, which errors pass."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc as sa_exc

from triage.db import is_passing_db_error, make_async_engine


def test_sqlite_gets_no_asyncio_engine() -> None:
    assert make_async_engine("sqlite:////tmp/x.sqlite3") is None


def test_postgresql_gets_asyncpg_with_sslmode_carried_over() -> None:
    engine = make_async_engine("postgresql+psycopg://u:secret@db.example:5433/derma?sslmode=require")
    assert engine is not None
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
        assert dict(engine.url.query) == {"ssl": "require"}
        assert (engine.url.host, engine.url.port, engine.url.database, engine.url.password) == (
            "db.example", 5433, "derma", "secret")
    finally:
        asyncio.run(engine.dispose())


def test_libpq_only_options_fall_back_to_the_thread_pool(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql://u:secret@db.example/derma?connect_timeout=5&application_name=web"
    assert make_async_engine(url) is None
    assert "application_name, connect_timeout" in caplog.text
    assert "secret" not in caplog.text


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("server said no")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("error", "passing"), [
    (sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
    (sa_exc.DBAPIError("connect", {}, _Orig("57P03")), True),  # asyncpg: "the database system is starting up"
    (sa_exc.DBAPIError("SELECT 1", {}, _Orig("08006")), True),  # connection failure
    (sa_exc.DBAPIError("SELECT 1", {}, _Orig("53300")), True),  # too many connections
    (sa_exc.DBAPIError("INSERT", {}, _Orig("23505")), False),  # a unique violation is a bug, not a passing fault
    (sa_exc.DBAPIError("INSERT", {}, _Orig(None)), False),
    (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")), False),
    (ValueError("not a database error"), False),
])
def test_a_passing_database_error_is_told_from_a_bug(error: BaseException, passing: bool) -> None:
    assert is_passing_db_error(error) is passing
