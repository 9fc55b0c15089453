"""The web process's asyncio engine: which database URLs get one, and how libpq options carry over."""

from __future__ import annotations

import asyncio

import pytest

from triage.db import make_async_engine


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
