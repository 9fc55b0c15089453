"""Wiring of the inbox: a sub-application mounted under `/inbox` in the web process's aiohttp server.

`setup(app, settings, services=...)` takes a getter for the shared services because the web process makes them
at startup (`bot.app._bot_lifecycle`), after the routes are added.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from inbox import admin_views, auth_views, case_views, dashboard_views, export_views, lesion_views, outreach_views
from inbox.config import InboxConfig
from inbox.context import ASSETS, CONFIG, SERVICES, SETTINGS, TEMPLATES, InboxServices
from inbox.render import content_security_policy, load_assets, make_environment, page
from inbox.security import Handler, auth_middleware
from triage import logs
from triage.config import Settings

log = logging.getLogger(__name__)

PREFIX = "/inbox"
# ASCII digits only: `\d` also matches Arabic-Indic, Devanagari or full-width digits, which `int()` reads.
ID = r"{%s:[0-9]{1,10}}"

_ERROR_TITLES = {
    400: "The request could not be read",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible now",
    413: "Too large",
    415: "Wrong kind of form",
    500: "Something went wrong",
}
UNEXPECTED = (
    "The inbox could not finish this. Reload the page to see what was done, and try again; if it happens again, "
    "tell the service's administrators the time it happened."
)


@web.middleware
async def errors_and_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn HTTP errors into readable pages, any unexpected error into the inbox's error page (logged by class and
    frames, never its message: it may quote a form), and give every response the security headers."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect: answer it as a plain response (returning the exception is deprecated)
            response = web.Response(status=exc.status, headers=exc.headers)
        else:
            message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else ""
            response = _error_page(request, exc.status, message)
    except Exception as exc:
        log.error("inbox: %s %s failed: %s", request.method, _route_of(request), logs.format_exception(exc))
        response = _error_page(request, 500, UNEXPECTED)
    return with_security_headers(request.app, response)


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    title = _ERROR_TITLES.get(status, "Something went wrong")
    try:
        return page(request, "error.html", status=status, title=title, message=message)
    except Exception as exc:  # the page itself failed: still an answer, with the headers
        log.error("inbox: the error page failed: %s", logs.describe(exc))
        return web.Response(status=status, text=f"{title}. {message}")


def _route_of(request: web.Request) -> str:
    """The route's pattern (`/cases/{case_id}/reply`), never the path itself, which can carry anything."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def with_security_headers(app: web.Application, response: web.StreamResponse) -> web.StreamResponse:
    """`response` with the inbox's headers: no script, no framing, no sniffing, no referrer, never cached."""
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(app[ASSETS])
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
    add_post(f"/cases/{case}/lesion/track", lesion_views.track, name="case_lesion_track")
    add_post(f"/cases/{case}/lesion/interval", lesion_views.set_interval, name="case_lesion_interval")
    add_post(f"/cases/{case}/lesion/stop", lesion_views.stop, name="case_lesion_stop")
    add_get("/dashboard", dashboard_views.dashboard, name="dashboard")
    add_get("/admin/users", admin_views.users, name="admin_users")
    add_post("/admin/users", admin_views.create_user, name="admin_create_user")
    add_post(f"/admin/users/{user}/active", admin_views.set_active, name="admin_user_active")
    add_post(f"/admin/users/{user}/password", admin_views.set_password, name="admin_user_password")
    add_get("/admin/outreach", outreach_views.outreach_page, name="admin_outreach")
    add_post("/admin/outreach/organisation", outreach_views.update_organisation, name="admin_organisation")
    add_post("/admin/outreach/invites", outreach_views.create_invite, name="admin_invite_create")
    add_post(f"/admin/outreach/invites/{ID % 'invite_id'}/revoke", outreach_views.revoke_invite,
             name="admin_invite_revoke")


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


def _to_queue(inbox: web.Application) -> Handler:
    async def redirect(request: web.Request) -> web.StreamResponse:
        return with_security_headers(inbox, web.Response(status=308, headers={"Location": PREFIX + "/"}))

    return redirect


def setup(
    app: web.Application,
    settings: Settings,
    *,
    services: Callable[[], InboxServices],
    config: InboxConfig | None = None,
) -> web.Application:
    """Mount the inbox under `/inbox` on `app`; `services()` must work once the app has started."""
    inbox = create_inbox_app(settings, services, config)
    app.router.add_get(PREFIX, _to_queue(inbox))
    app.add_subapp(PREFIX, inbox)
    return inbox
