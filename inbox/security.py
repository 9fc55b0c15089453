"""The inbox's door: who may call which route, sessions from cookies, CSRF on every POST, bounded forms.

Access is deny-by-default: a handler needs a signed-in, active clinician unless it is marked `@public`, and an
admin when marked `@admin_only`. Anonymous GET requests are redirected (303) to the sign-in page; anonymous
requests with any other method get 401. A clinician on an admin route gets 403. Case and account ids of another
organisation are answered 404 by the handlers (`triage.review.CaseNotFound`), never 403.

Every POST must carry the form field `csrf_token`: the session's token, or before sign-in the token of the
short-lived `inbox_login_csrf` cookie set with the sign-in form (double submit). Forms are read here, with a size
cap, as `application/x-www-form-urlencoded` only.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from inbox.context import CLINICIAN, CONFIG, CSRF, FORM, SESSION_TOKEN, services_of
from triage import accounts

SESSION_COOKIE = "inbox_session"
LOGIN_CSRF_COOKIE = "inbox_login_csrf"
COOKIE_PATH = "/inbox"
LOGIN_PATH = "/inbox/login"
MAX_FORM_FIELDS = 50

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


def public(handler: H) -> H:
    """Mark a handler as open to anyone (only the sign-in page)."""
    handler.inbox_access = "public"  # type: ignore[attr-defined]
    return handler


def admin_only(handler: H) -> H:
    """Mark a handler as for admins only (clinicians get 403)."""
    handler.inbox_access = "admin"  # type: ignore[attr-defined]
    return handler


def access_of(handler: Any) -> str:
    """`public`, `clinician` (the default) or `admin`."""
    return str(getattr(handler, "inbox_access", "clinician"))


def safe_next(target: str | None) -> str:
    """A local inbox path to go to after sign-in; anything else (other sites, odd schemes) goes to the queue."""
    if (
        target
        and target.startswith("/inbox/")
        and not target.startswith(LOGIN_PATH)
        and "//" not in target
        and "\\" not in target
        and all(32 < ord(ch) < 127 for ch in target)
    ):
        return target
    return "/inbox/"


async def read_form(request: web.Request, limit: int) -> MultiDictProxy[str]:
    """The POSTed form, read with a cap: 413 over `limit` bytes, 415 for anything but a urlencoded form."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise web.HTTPUnsupportedMediaType(text="Send the form as application/x-www-form-urlencoded.")
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(16 * 1024):
        body.extend(chunk)
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="The form could not be read.") from None
    return MultiDictProxy(MultiDict(pairs))


def _login_redirect(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(safe_next(request.path_qs), safe='/')}")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session, enforce the handler's access level, read the form and check its CSRF token."""
    access = access_of(request.match_info.handler)
    config = request.app[CONFIG]
    token = request.cookies.get(SESSION_COOKIE, "")
    active = None
    if token:
        services = services_of(request)
        active = await services.run(
            accounts.resolve_session,
            services.sessions,
            token,
            idle=dt.timedelta(seconds=config.session_idle_s),
        )
    request[CLINICIAN] = active.clinician if active else None
    request[CSRF] = active.csrf_token if active else ""
    request[SESSION_TOKEN] = token if active else ""
    if access != "public":
        if active is None:
            if request.method in ("GET", "HEAD"):
                raise _login_redirect(request)
            raise web.HTTPUnauthorized(text="Sign in first.")
        if access == "admin" and not active.clinician.is_admin:
            raise web.HTTPForbidden(text="This page is for administrators.")
    if request.method == "POST":
        form = await read_form(request, config.max_form_bytes)
        expected = active.csrf_token if active else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        given = form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPForbidden(text="The form has expired or did not come from the inbox. Reload the page.")
        request[FORM] = form
    return await handler(request)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    config = request.app[CONFIG]
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=config.session_max_age_s,
        path=COOKIE_PATH,
        secure=config.cookie_secure,
        httponly=True,
        samesite="Lax",  # Lax, not Strict: the "Open in inbox" link from Telegram must arrive signed in
    )


def set_login_csrf_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    config = request.app[CONFIG]
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_PATH,
        secure=config.cookie_secure,
        httponly=True,
        samesite="Strict",
    )


def clear_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
