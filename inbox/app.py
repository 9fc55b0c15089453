"""Wiring of the inbox: a sub-application mounted under `/inbox` in the web process's aiohttp server.

`setup(app, settings, services=...)` takes a getter for the shared services because the web process makes them
at startup (`bot.app._bot_lifecycle`), after the routes are added.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from inbox import admin_views, auth_views, case_views, dashboard_views, export_views
from inbox.config import InboxConfig
from inbox.context import ASSETS, CONFIG, SERVICES, SETTINGS, TEMPLATES, InboxServices
from inbox.render import content_security_policy, load_assets, make_environment, page
from inbox.security import Handler, auth_middleware
from triage.config import Settings

log = logging.getLogger(__name__)

PREFIX = "/inbox"
ID = r"{%s:\d{1,10}}"

_ERROR_TITLES = {
    400: "The request could not be read",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible now",
    413: "Too large",
    415: "Wrong kind of form",
}


@web.middleware
async def errors_and_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP errors into readable pages, and give every response the inbox's security headers."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect: answer it as a plain response (returning the exception is deprecated)
            response = web.Response(status=exc.status, headers=exc.headers)
        else:
            message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else ""
            response = page(
                request,
                "error.html",
                status=exc.status,
                title=_ERROR_TITLES.get(exc.status, "Something went wrong"),
                message=message,
            )
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(request.app[ASSETS])
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cache-Control"] = "no-store"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def _routes(app: web.Application) -> None:
    case = ID % "case_id"
    user = ID % "user_id"
    image = ID % "image_id"
    add_get, add_post = app.router.add_get, app.router.add_post
    add_get("/login", auth_views.login_form, name="login")
    add_post("/login", auth_views.login, name="login_submit")
    add_post("/logout", auth_views.logout, name="logout")
    add_get("/account", auth_views.account, name="account")
    add_post("/account/password", auth_views.change_password, name="account_password")
    add_get("/", case_views.queue, name="queue")
    add_get(f"/cases/{case}", case_views.case_page, name="case")
    add_get(f"/cases/{case}/images/{image}", case_views.image, name="case_image")
    add_post(f"/cases/{case}/claim", case_views.claim, name="case_claim")
    add_post(f"/cases/{case}/reply", case_views.reply, name="case_reply")
    add_post(f"/cases/{case}/tier", case_views.change_tier, name="case_tier")
    add_post(f"/cases/{case}/outcome", case_views.record_outcome, name="case_outcome")
    add_post(f"/cases/{case}/close", case_views.close, name="case_close")
    add_get(f"/cases/{case}/fhir", export_views.fhir_bundle, name="case_fhir")
    add_get(f"/cases/{case}/letter.pdf", export_views.letter_pdf, name="case_letter")
    add_post(f"/cases/{case}/letter/send", export_views.send_letter, name="case_letter_send")
    add_get("/dashboard", dashboard_views.dashboard, name="dashboard")
    add_get("/admin/users", admin_views.users, name="admin_users")
    add_post("/admin/users", admin_views.create_user, name="admin_create_user")
    add_post(f"/admin/users/{user}/active", admin_views.set_active, name="admin_user_active")
    add_post(f"/admin/users/{user}/password", admin_views.set_password, name="admin_user_password")


def create_inbox_app(
    settings: Settings, services: Callable[[], InboxServices], config: InboxConfig | None = None
) -> web.Application:
    """The inbox as an aiohttp application, to be mounted under `/inbox`."""
    inbox = web.Application(middlewares=[errors_and_headers, auth_middleware])
    inbox[SETTINGS] = settings
    inbox[CONFIG] = config or InboxConfig.from_settings(settings)
    inbox[SERVICES] = services
    inbox[TEMPLATES] = make_environment()
    inbox[ASSETS] = load_assets()
    _routes(inbox)
    return inbox


async def _to_queue(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PREFIX + "/")


def setup(
    app: web.Application,
    settings: Settings,
    *,
    services: Callable[[], InboxServices],
    config: InboxConfig | None = None,
) -> web.Application:
    """Mount the inbox under `/inbox` on `app`; `services()` must work once the app has started."""
    inbox = create_inbox_app(settings, services, config)
    app.router.add_get(PREFIX, _to_queue)
    app.add_subapp(PREFIX, inbox)
    return inbox
