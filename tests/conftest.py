"""Shared fixtures: a migrated database per test on SQLite and on the real PostgreSQL, and Redis.

PostgreSQL and Redis tests are skipped with a reason when the servers are absent, except under CI=true,
where their absence is a failure. Each PostgreSQL test gets a database of its own, created and dropped here.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.fake_telegram import FakeBotAPI
from tests.processes import Proc, free_port, python
from triage.db import make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(f"{message}; start it to run this test (see README)")


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"derma_test_{uuid.uuid4().hex[:12]}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with postgres_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend the product supports."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory over a migrated database (Alembic head), on SQLite and PostgreSQL."""
    migrate(database_url)
    engine = make_engine(database_url, pool_size=4)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API, serving on a free port of this test's event loop."""
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def unique_queue() -> str:
    """A queue name no other test run uses, so tests on the shared Redis never see each other's messages."""
    return f"test-{uuid.uuid4().hex[:12]}"


# -- the model server, shared by the tests that start real processes (it is stateless) ---------------------------
@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch", reason="the model extra is not installed: pip install -e '.[model]'")
    from model_server.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-gemma3", arch="gemma3")


@pytest.fixture(scope="session")
def model_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """The model server process with a tiny random-weight model, shared by every test that needs one."""
    port = free_port()
    env = {
        **os.environ,
        "MODEL_BACKEND": "hf",
        "MODEL_PATH": str(tiny_model),
        "MODEL_PORT": str(port),
        "MODEL_HOST": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "MODEL_MAX_NEW_TOKENS": "16",
    }
    proc = Proc("model", python("-m", "model_server"), env, tmp_path_factory.mktemp("model-logs"))
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180)
        proc.url = f"http://127.0.0.1:{port}"
        yield proc
    finally:
        proc.stop()
