"""Signing in and out, and a clinician's own account page (change password)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from inbox.context import CONFIG, SESSION_TOKEN, clinician_of, form_of, services_of
from inbox.render import page, sentence
from inbox.security import (
    LOGIN_CSRF_COOKIE,
    clear_cookies,
    new_login_csrf,
    public,
    redisplays,
    safe_next,
    set_login_csrf_cookie,
    set_session_cookie,
)
from triage import accounts

LOGIN_FAILED = (
    "Wrong email or password, or the account is locked. "
    f"After {accounts.MAX_FAILED_LOGINS} failed attempts an account is locked for "
    f"{int(accounts.LOCKOUT.total_seconds() // 60)} minutes."
)


def redirect(location: str) -> web.Response:
    """A 303 See Other: after a POST the browser loads `location` with GET."""
    return web.Response(status=303, headers={"Location": location})


def _login_page(
    request: web.Request, *, next_path: str, error: str = "", email: str = "", status: int = 200
) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = page(
        request, "login.html", status=status, login_csrf=token, next_path=next_path, error=error, email=email
    )
    set_login_csrf_cookie(request, response, token)
    return response


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    """The sign-in page; a signed-in clinician goes straight on."""
    next_path = safe_next(request.query.get("next"))
    if request.get(SESSION_TOKEN):
        return redirect(next_path)
    return _login_page(request, next_path=next_path)


async def _login_refused(request: web.Request, message: str) -> web.StreamResponse:
    """The sign-in page again with the email as typed (cleaned); never the password."""
    form = form_of(request)
    return _login_page(request, next_path=safe_next(form.get("next")), error=message,
                       email=form.get("email", "")[:254], status=400)


@public
@redisplays(_login_refused)
async def login(request: web.Request) -> web.StreamResponse:
    """Check the email and password (counting failures), then start a fresh session."""
    form = form_of(request)
    email = form.get("email", "")[:254]
    password = form.get("password", "")
    next_path = safe_next(form.get("next"))
    services = services_of(request)
    result = await services.run(accounts.authenticate, services.sessions, email, password)
    if result.outcome != accounts.LoginOutcome.OK or result.clinician is None:
        return _login_page(request, next_path=next_path, error=LOGIN_FAILED, email=email, status=401)
    old = request.get(SESSION_TOKEN)
    if old:
        await services.run(accounts.end_session, services.sessions, old)
    max_age = dt.timedelta(seconds=request.app[CONFIG].session_max_age_s)
    grant = await services.run(accounts.start_session, services.sessions, result.clinician.id, max_age=max_age)
    response = redirect(next_path)
    clear_cookies(response)
    set_session_cookie(request, response, grant.token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (audited as `logout`) and go to the sign-in page."""
    services = services_of(request)
    token = request.get(SESSION_TOKEN)
    if token:
        await services.run(accounts.sign_out, services.sessions, token)
    response = redirect("/inbox/login")
    clear_cookies(response)
    return response


async def account(request: web.Request) -> web.StreamResponse:
    return page(request, "account.html", error="", done=request.query.get("done") == "password")


async def _password_refused(request: web.Request, message: str) -> web.StreamResponse:
    return page(request, "account.html", status=400, error=message, done=False)


@redisplays(_password_refused)
async def change_password(request: web.Request) -> web.StreamResponse:
    """Change one's own password (the current one is asked again); other sessions of the account end."""
    me = clinician_of(request)
    form = form_of(request)
    services = services_of(request)
    current, new, repeat = form.get("current", ""), form.get("new", ""), form.get("repeat", "")
    error = ""
    if new != repeat:
        error = "The new passwords do not match."
    else:
        result = await services.run(accounts.authenticate, services.sessions, me.email, current)
        if result.outcome != accounts.LoginOutcome.OK:
            error = "The current password is wrong (after repeated failures the account is locked)."
    if not error:
        try:
            await services.run(
                accounts.set_password,
                services.sessions,
                me.id,
                new,
                actor=me.actor,
                keep_session=request.get(SESSION_TOKEN) or None,
            )
        except accounts.AccountError as exc:
            error = sentence(exc)
    if error:
        return page(request, "account.html", status=400, error=error, done=False)
    return redirect("/inbox/account?done=password")
