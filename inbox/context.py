"""What the inbox's handlers share: typed keys for app and request state, and the services they run on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.orm import Session, sessionmaker

from inbox.config import InboxConfig
from triage.accounts import ClinicianView
from triage.config import Settings
from triage.images import ImageStore

T = TypeVar("T")


class InboxServices(Protocol):
    """The web process's shared services, as the inbox uses them (`bot.services.Services` is one)."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def images(self) -> ImageStore: ...

    async def run(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, argon2, decryption) off the event loop."""
        ...


@dataclass(frozen=True)
class Assets:
    """The stylesheet, inlined into every page, and its hash for the Content-Security-Policy."""

    css: str
    css_sha256: str


CONFIG = web.AppKey("inbox_config", InboxConfig)
SETTINGS = web.AppKey("inbox_settings", Settings)
SERVICES: web.AppKey[Callable[[], InboxServices]] = web.AppKey("inbox_services")
TEMPLATES = web.AppKey("inbox_templates", jinja2.Environment)
ASSETS = web.AppKey("inbox_assets", Assets)


def _request_key(name: str, kind: Any) -> Any:
    """A typed request key where aiohttp has them (3.14 and later), else the plain name."""
    maker = getattr(web, "RequestKey", None)
    return maker(name, kind) if maker is not None else name


# Request state set by the access middleware.
CLINICIAN = _request_key("inbox_clinician", ClinicianView)
CSRF = _request_key("inbox_csrf", str)
SESSION_TOKEN = _request_key("inbox_session_token", str)
FORM = _request_key("inbox_form", MultiDictProxy)


def services_of(request: web.Request) -> InboxServices:
    return request.app[SERVICES]()


def clinician_of(request: web.Request) -> ClinicianView:
    """The signed-in clinician (the access middleware has made sure there is one)."""
    clinician = request.get(CLINICIAN)
    if not isinstance(clinician, ClinicianView):
        raise web.HTTPUnauthorized(text="Sign in first.")
    return clinician


def form_of(request: web.Request) -> MultiDictProxy[str]:
    """The POSTed form, already read and CSRF-checked by the access middleware."""
    form = request.get(FORM)
    if not isinstance(form, MultiDictProxy):
        raise web.HTTPBadRequest(text="No form was sent.")
    return form
