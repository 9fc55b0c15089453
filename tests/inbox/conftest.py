"""The inbox's cast and world: two organisations, their clinicians and admins, and cases in every state.

`north` has Alice and Carol (clinicians) and Root (admin); `south` has Bob (clinician) and Sam (admin).
North's cases: an emergency with a photo, the model's output and a hostile patient text; an urgent case
triaged without the model; a routine case; a closed one. South has one urgent case with a photo.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy.orm import Session, sessionmaker

import inbox
from tests.images import skin_photo
from triage import accounts
from triage.config import Settings, load_settings
from triage.db import transaction
from triage.images import ImageStore
from triage.models import Case, CaseImage, CaseStatus, Message, ModelResult, Patient, TriageDecision, utcnow

T = TypeVar("T")
PASSWORD = "correct horse battery"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

#: For tests whose subject does not depend on the database: run them on SQLite only, to keep the suite fast.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with test-sized costs: the suite signs in dozens of times."""
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


@dataclass
class InboxTestServices:
    """What the web process's `Services` give the inbox: sessions, the image store, and an off-loop runner."""

    sessions: sessionmaker[Session]
    images: ImageStore

    async def run(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(func, *args, **kwargs)


@dataclass
class World:
    services: InboxTestServices
    people: dict[str, accounts.ClinicianView] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    images: dict[str, int] = field(default_factory=dict)
    chat_id: int = 4242


def _person(factory: sessionmaker[Session], name: str, role: str, organisation: str, telegram: int | None) -> Any:
    return accounts.create_clinician(
        factory,
        email=f"{name.lower()}@{organisation}.example.org",
        display_name=f"Dr {name}" if role == "clinician" else name,
        role=role,
        organisation=organisation,
        password=PASSWORD,
        telegram_user_id=telegram,
        actor="test",
    )


def _case(
    session: Session,
    store: ImageStore,
    patient: Patient,
    *,
    organisation: str,
    tier: str,
    status: str,
    minutes_ago: int,
    text: str = "",
    photo: bool = True,
    model: bool = True,
) -> tuple[int, int | None]:
    now = utcnow()
    submitted = now - dt.timedelta(minutes=minutes_ago)
    case = Case(
        patient_id=patient.id,
        status=status,
        language="en",
        answers={
            "patient": {"age_years": 34, "immunosuppressed": True},
            "answers": {"duration_days": 2, "body_sites": ["face", "trunk"], "symptoms": ["fever", "blisters"]},
        },
        patient_text=text,
        tier=tier,
        forwarded=True,
        organisation=organisation,
        submitted_at=submitted,
        triaged_at=submitted + dt.timedelta(minutes=1),
        created_at=submitted,
        updated_at=submitted,
    )
    session.add(case)
    session.flush()
    image_id = None
    if photo:
        data = skin_photo(320, 240, with_gps=False)
        image = CaseImage(
            case_id=case.id,
            storage_key=store.put(data),
            sha256="0" * 64,
            width=320,
            height=240,
            size_bytes=len(data),
            quality={"verdict": "good"},
        )
        session.add(image)
        session.flush()
        image_id = image.id
    reasons = [{"code": "RF_FEVER_BLISTERS", "text": "fever with blisters", "tier": tier}]
    session.add(
        TriageDecision(
            case_id=case.id,
            tier=tier,
            forward_to_clinician=True,
            reasons=reasons,
            ruleset_version="2026.11-test",
            model_used=model,
        )
    )
    if model:
        session.add(
            ModelResult(
                case_id=case.id,
                backend="tiny",
                model_id="tiny-test-model",
                differential=[
                    {"condition": "eczema_herpeticum", "likelihood": 0.6},
                    {"condition": "impetigo", "likelihood": 0.4},
                ],
                findings=["grouped vesicles", "crusting"],
                image_quality=["good"],
                answer_text="This may need a doctor today.",
                latency_ms=850.0,
            )
        )
    if text:
        session.add(Message(case_id=case.id, role="patient", text=text))
    return case.id, image_id


def build_world(factory: sessionmaker[Session], store: ImageStore) -> World:
    world = World(services=InboxTestServices(factory, store))
    for name, role, org, telegram in (
        ("Alice", "clinician", "north", 7001),
        ("Carol", "clinician", "north", 7002),
        ("Root", "admin", "north", None),
        ("Bob", "clinician", "south", 7003),
        ("Sam", "admin", "south", None),
    ):
        world.people[name.lower()] = _person(factory, name, role, org, telegram)
    with transaction(factory) as session:
        patient = Patient(telegram_user_id=900001, chat_id=world.chat_id, language="en", conversation_data={})
        session.add(patient)
        session.flush()
        specs: dict[str, dict[str, Any]] = {
            "emergency": {"tier": "emergency", "status": CaseStatus.FORWARDED, "minutes_ago": 30, "text": HOSTILE},
            "urgent": {
                "tier": "urgent",
                "status": CaseStatus.FAILED_MODEL,
                "minutes_ago": 90,
                "text": "it hurts",
                "model": False,
                "photo": False,
            },
            "routine": {"tier": "routine", "status": CaseStatus.FORWARDED, "minutes_ago": 600, "text": "itchy"},
            "closed": {"tier": "soon", "status": CaseStatus.CLOSED, "minutes_ago": 2000, "photo": False},
        }
        for key, spec in specs.items():
            world.cases[key], image_id = _case(session, store, patient, organisation="north", **spec)
            if image_id is not None:
                world.images[key] = image_id
        world.cases["south"], image_id = _case(
            session, store, patient, organisation="south", tier="urgent", status=CaseStatus.FORWARDED, minutes_ago=45
        )
        assert image_id is not None
        world.images["south"] = image_id
    return world


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", [Fernet.generate_key()])


@pytest.fixture
def world(sessions: sessionmaker[Session], store: ImageStore) -> World:
    return build_world(sessions, store)


def inbox_settings(tmp_path: Path, **extra: str) -> Settings:
    return load_settings({"DATA_DIR": str(tmp_path), "ORGANISATION": "north", **extra})


class InboxClient:
    """A browser stand-in: its own cookie jar, and the CSRF token of the last page it loaded."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        resp = await self.client.get(path, **kwargs)
        text = await resp.text()
        if found := CSRF_RE.search(text):
            self.csrf = found.group(1)
        return resp.status, text

    async def post(self, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None, **kw: Any) -> Any:
        form = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.client.post(path, data=form, allow_redirects=False, **kw)

    async def login(self, email: str, password: str = PASSWORD) -> Any:
        await self.get("/inbox/login")
        resp = await self.post("/inbox/login", {"email": email, "password": password, "next": "/inbox/"})
        if resp.status == 303:
            await self.get("/inbox/account")  # pick up the session's CSRF token
        return resp


@pytest.fixture
async def make_client(world: World, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[InboxClient]]]:
    """Clients of one inbox app over the world; `await make_client("alice")` signs Alice in."""
    app = web.Application()
    inbox.setup(
        app,
        inbox_settings(tmp_path),
        services=lambda: world.services,
        config=inbox.InboxConfig(cookie_secure=False),
    )
    server = TestServer(app)
    await server.start_server()
    clients: list[TestClient[Any, Any]] = []

    async def make(who: str | None = None) -> InboxClient:
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        wrapped = InboxClient(client)
        if who is not None:
            resp = await wrapped.login(world.people[who].email)
            assert resp.status == 303, await resp.text()
        return wrapped

    yield make
    for client in clients:
        await client.close()
    await server.close()


@dataclass
class WebProcess:
    """The real web process app (bot + inbox) in-process, the fake Bot API, and a world in its database."""

    client: TestClient[Any, Any]
    telegram: Any
    world: World
    settings: Settings
    app: web.Application

    @property
    def services(self) -> Any:
        from bot.app import SERVICES

        return self.app[SERVICES]

    async def user(self, who: str | None = None) -> InboxClient:
        client: TestClient[Any, Any] = TestClient(self.client.server)
        await client.start_server()
        wrapped = InboxClient(client)
        if who is not None:
            resp = await wrapped.login(self.world.people[who].email)
            assert resp.status == 303
        return wrapped


CLINICIAN_CHAT = -100777
INBOX_URL = "https://triage.example.org/inbox"


@pytest.fixture
async def web_process(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WebProcess]:
    from bot.app import SERVICES, init_app
    from tests.bot_harness import connected
    from tests.conftest import migrate
    from tests.fake_telegram import FakeBotAPI

    telegram = FakeBotAPI()
    await telegram.start()
    monkeypatch.setenv("INBOX_COOKIE_SECURE", "false")
    migrate(database_url)
    settings = inbox_settings(
        tmp_path,
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN="1:TEST",
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_SECRET="s3cret",
        TELEGRAM_API_BASE_URL=telegram.base_url,
        TELEGRAM_API_FILE_URL=telegram.file_url,
        CLINICIAN_CHAT_ID=str(CLINICIAN_CHAT),
        INBOX_BASE_URL=INBOX_URL,
        OUTBOX_POLL_INTERVAL_S="0.05",
    )
    app = init_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    await connected(client)
    services = app[SERVICES]
    world = await asyncio.to_thread(build_world, services.sessions, services.images)
    try:
        yield WebProcess(client, telegram, world, settings, app)
    finally:
        await client.close()
        await telegram.stop()
