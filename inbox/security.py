"""The inbox's door: who may call which route, sessions from cookies, CSRF on every POST, bounded forms.

Access is deny-by-default: a handler needs a signed-in, active clinician unless it is marked `@public`, and an
admin when marked `@admin_only`. Anonymous GET requests are redirected (303) to the sign-in page; anonymous
requests with any other method get 401. A clinician on an admin route gets 403. Case and account ids of another
organisation are answered 404 by the handlers (`triage.review.CaseNotFound`), never 403.

Every POST must carry the form field `csrf_token`: the session's token, or before sign-in the token of the
short-lived `inbox_login_csrf` cookie set with the sign-in form (double submit). Forms are read here, with a size
cap, as `application/x-www-form-urlencoded` in UTF-8 only.

Nothing malformed gets past this door: a query string or form with a control character (PostgreSQL refuses a NUL
in text; the others are invisible on the page) or a body that is not valid UTF-8 is answered 400 here, before a
handler runs. A handler marked `@redisplays(render)` shows its own page again instead, with the message and what
the clinician typed, control characters removed. Ids in paths and query strings are ASCII digits only
(`ascii_int`, `path_id`): `int()` also reads Arabic-Indic or full-width digits.
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
from triage.untrusted import clean_text, has_control_characters

SESSION_COOKIE = "inbox_session"
LOGIN_CSRF_COOKIE = "inbox_login_csrf"
COOKIE_PATH = "/inbox"
LOGIN_PATH = "/inbox/login"
MAX_FORM_FIELDS = 50
MAX_ID = 2**31 - 1  # ids are 32-bit integers: a larger one names nothing (and PostgreSQL would refuse it)
CONTROL_IN_FORM = (
    "The form contained control characters (invisible characters, often pasted from another program), which the "
    "inbox does not accept. They have been removed from what you typed: check it and send it again."
)
CONTROL_IN_QUERY = "The address contains control characters, which the inbox does not accept."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Redisplay = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)


class FormRefused(web.HTTPBadRequest):
    """A form refused at the door for its content; `kept` is what was typed, made safe to show again."""

    def __init__(self, text: str, kept: MultiDictProxy[str]) -> None:
        super().__init__(text=text)
        self.kept = kept


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


def redisplays(render: Redisplay) -> Callable[[H], H]:
    """Mark a handler whose page `render(request, message)` shows again when its form is refused at the door
    (the refused form, cleaned, is then the request's form)."""

    def mark(handler: H) -> H:
        handler.inbox_redisplay = render  # type: ignore[attr-defined]
        return handler

    return mark


def ascii_int(text: str | None, *, maximum: int) -> int | None:
    """`text` as a whole number when it is ASCII digits only and at most `maximum`, else None (never raises)."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def path_id(request: web.Request, name: str, missing: str) -> int:
    """The id `name` of the request's path; 404 with `missing` when it cannot name a row (0, or above 2³¹−1)."""
    value = ascii_int(request.match_info.get(name), maximum=MAX_ID)
    if not value:
        raise web.HTTPNotFound(text=missing)
    return value


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
    """The POSTed form, read with a cap. Raises 413 over `limit` bytes, 415 for anything but a urlencoded UTF-8
    form, 400 for a body that is not valid UTF-8 (also inside percent escapes) or has too many fields, and
    `FormRefused` (a 400) when a name or value holds a control character."""
    charset = (request.charset or "utf-8").lower()
    if request.content_type != "application/x-www-form-urlencoded" or charset not in ("utf-8", "utf8"):
        raise web.HTTPUnsupportedMediaType(text="Send the form as application/x-www-form-urlencoded in UTF-8.")
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(16 * 1024):
        body.extend(chunk)
        if len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
            errors="strict",  # an escape that is not UTF-8 (`%FF`, a surrogate's `%ED%A0%80`) is refused, not mangled
        )
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="The form could not be read: send it from the inbox's own page.") from None
    if any(has_control_characters(name) or has_control_characters(value) for name, value in pairs):
        kept = MultiDict((clean_text(name), clean_text(value)) for name, value in pairs)
        raise FormRefused(CONTROL_IN_FORM, MultiDictProxy(kept))
    return MultiDictProxy(MultiDict(pairs))


def check_query(request: web.Request) -> None:
    """400 when a query parameter's name or value holds a control character (`%00`, `%7F`, ...)."""
    if any(has_control_characters(k) or has_control_characters(v) for k, v in request.query.items()):
        raise web.HTTPBadRequest(text=CONTROL_IN_QUERY)


def _login_redirect(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{LOGIN_PATH}?next={quote(safe_next(request.path_qs), safe='/')}")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the query string, resolve the session, enforce the handler's access level, read the form and check
    its CSRF token. A form refused for its content is shown again by the handler's `@redisplays` page, if any."""
    check_query(request)
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
        refused: FormRefused | None = None
        try:
            form = await read_form(request, config.max_form_bytes)
        except FormRefused as exc:
            form, refused = exc.kept, exc
        expected = active.csrf_token if active else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        given = form.get("csrf_token", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPForbidden(text="The form has expired or did not come from the inbox. Reload the page.")
        request[FORM] = form
        if refused is not None:
            render: Redisplay | None = getattr(request.match_info.handler, "inbox_redisplay", None)
            if render is None:
                raise refused
            return await render(request, refused.text or CONTROL_IN_FORM)
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
