"""Engines and sessions. One engine per process, made by the process's wiring module and passed down."""

from __future__ import annotations

import logging
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for `url`. SQLite gets WAL and a busy timeout so the web and worker processes can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # A fixed pool: the default overflow connections reconnect constantly under load (NOTES-TELEGRAM.md).
    engine = create_engine(url, pool_size=pool_size, max_overflow=0, pool_recycle=1800, hide_parameters=True)
    event.listen(engine, "checkout", _check_alive)
    return engine


def connection_looks_alive(dbapi_connection: Any) -> bool:
    """Whether an idle pooled PostgreSQL connection is still usable, without a round trip to the server.

    An idle connection has nothing to read. When the server ends it (a restart, `pg_terminate_backend`, a crash)
    it sends a FATAL message and/or closes the socket, and either makes the socket readable. This replaces
    `pool_pre_ping`, which cost a `SELECT 1` round trip on every checkout: on the web process's hot path that was
    one of three round trips per button tap. A connection lost silently (a network partition) is not seen here;
    it fails on use, as it would after a successful ping too.
    """
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return False
    try:
        poller = select.poll()  # not select.select: a busy process's descriptors can be above FD_SETSIZE (1024)
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _check_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    if not connection_looks_alive(dbapi_connection):
        raise DisconnectionError("the server closed this pooled connection")  # the pool retries with a new one


# URL options that mean the same to asyncpg as to psycopg (after `sslmode` is renamed `ssl`).
ASYNCPG_URL_OPTIONS = frozenset({"ssl"})


def make_async_engine(url: str, *, pool_size: int = 10) -> AsyncEngine | None:
    """For PostgreSQL, an asyncio engine (asyncpg) in autocommit for the web process's per-update statements; None
    for other databases, whose callers use the synchronous functions through a thread instead.

    The web process's hot path (`triage.cases.*_async`) otherwise hops to a thread per statement and contends with
    the event loop for the GIL; on asyncpg the same statements cost about a third less CPU (docs/performance.md).
    Each is a single statement, so autocommit needs no BEGIN or COMMIT round trips.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    options = dict(parsed.query)
    if "sslmode" in options:  # libpq's name; asyncpg takes the same values as `ssl`
        options["ssl"] = options.pop("sslmode")
    unknown = sorted(set(options) - ASYNCPG_URL_OPTIONS)
    if unknown:
        log.warning("DATABASE_URL options %s are libpq's, not asyncpg's: the web process's per-update statements "
                    "use the thread pool instead", ", ".join(unknown))
        return None
    parsed = parsed.set(drivername="postgresql+asyncpg", query=options)
    engine = create_async_engine(parsed, pool_size=pool_size, max_overflow=0,
                                 pool_recycle=1800, isolation_level="AUTOCOMMIT", hide_parameters=True)
    event.listen(engine.sync_engine, "checkout", _check_async_alive)
    return engine


def _check_async_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # asyncpg reads its socket whenever the loop runs, so a connection the server ended is already marked closed.
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


# SQLSTATE classes of a database that is away for a moment, not of a bad statement: connection exceptions (08),
# operator intervention (57: shutting down, restarting, "cannot connect now" while starting up), insufficient
# resources (53: too many connections).
_PASSING_SQLSTATE_CLASSES = ("08", "53", "57")


def is_passing_db_error(exc: BaseException) -> bool:
    """A database error that passes when the server is back: retry the work, do not treat it as a bug. psycopg
    raises OperationalError for these; asyncpg's errors reach SQLAlchemy as a plain DBAPIError with a SQLSTATE
    (e.g. 57P03 while PostgreSQL starts up again after a restart)."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                        sa_exc.TimeoutError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(code, str) and code[:2] in _PASSING_SQLSTATE_CLASSES
    return False


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_of(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory is not bound to an engine")
    return bind


@contextmanager
def one_statement(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A Core connection in autocommit, for work that is a single SQL statement: no BEGIN and COMMIT (or ROLLBACK)
    round trips wrap it, and one statement is atomic on its own.

    For the per-update hot path of the web process (docs/performance.md), where a Core statement also skips the
    ORM's per-row work. Several statements that must agree belong in `writing` or `transaction`.
    """
    with engine_of(factory).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def writing(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A Core connection in one transaction, committed on success: `transaction` without the ORM session."""
    with engine_of(factory).begin() as conn:
        yield conn


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any exception."""
    with factory() as session, session.begin():
        yield session
