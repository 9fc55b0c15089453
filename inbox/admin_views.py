"""Account management for admins: the accounts of their own organisation only (others' ids are 404)."""

from __future__ import annotations

from aiohttp import web

from inbox.auth_views import redirect
from inbox.context import SESSION_TOKEN, clinician_of, form_of, services_of
from inbox.render import page, sentence
from inbox.security import admin_only, ascii_int, path_id, redisplays
from triage import accounts

DONE_MESSAGES = {
    "created": "The account has been created. Give the person their password in person or by phone.",
    "activated": "The account is active again.",
    "deactivated": "The account is deactivated; its sessions have ended.",
    "password": "The password has been set; the account is unlocked and its sessions have ended.",
}


async def _users_page(request: web.Request, *, status: int = 200, error: str = "", **form: str) -> web.Response:
    me = clinician_of(request)
    services = services_of(request)
    users = await services.run(accounts.list_clinicians, services.sessions, organisation=me.organisation)
    done = DONE_MESSAGES.get(request.query.get("done", "")) if status == 200 else None
    return page(
        request,
        "admin_users.html",
        status=status,
        users=users,
        roles=accounts.ROLES,
        error=error,
        done=done,
        form={"email": "", "name": "", "role": "clinician", "telegram_user_id": "", **form},
    )


async def _user_in_my_organisation(request: web.Request) -> accounts.ClinicianView:
    me = clinician_of(request)
    services = services_of(request)
    missing = "There is no such account in your organisation."
    user = await services.run(accounts.get_clinician, services.sessions, path_id(request, "user_id", missing))
    if user is None or user.organisation != me.organisation:
        raise web.HTTPNotFound(text=missing)
    return user


def _kept(request: web.Request) -> dict[str, str]:
    """The new account's fields as typed (never the password), so a refused form does not lose them."""
    form = form_of(request)
    return {k: form.get(k, "")[:254] for k in ("email", "name", "role", "telegram_user_id")}


async def _refused(request: web.Request, message: str) -> web.StreamResponse:
    return await _users_page(request, status=400, error=message, **_kept(request))


@admin_only
async def users(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


@admin_only
@redisplays(_refused)
async def create_user(request: web.Request) -> web.StreamResponse:
    """Create an account in the admin's own organisation."""
    me = clinician_of(request)
    form = form_of(request)
    kept = _kept(request)
    telegram = kept["telegram_user_id"].strip()
    telegram_id = ascii_int(telegram, maximum=2**63 - 1)  # ASCII digits: int() also reads '١٢' (and fails on '²')
    if telegram and not telegram_id:
        return await _users_page(request, status=400, error="The Telegram user id must be a number.", **kept)
    services = services_of(request)
    try:
        await services.run(
            accounts.create_clinician,
            services.sessions,
            email=kept["email"],
            display_name=kept["name"],
            role=kept["role"],
            organisation=me.organisation,
            password=form.get("password", ""),
            telegram_user_id=telegram_id,
            actor=me.actor,
        )
    except accounts.AccountError as exc:
        return await _users_page(request, status=400, error=sentence(exc), **kept)
    return redirect("/inbox/admin/users?done=created")


@admin_only
@redisplays(_refused)
async def set_active(request: web.Request) -> web.StreamResponse:
    me = clinician_of(request)
    user = await _user_in_my_organisation(request)
    active = form_of(request).get("active") == "1"
    if user.id == me.id and not active:
        return await _users_page(request, status=409, error="You cannot deactivate your own account.")
    services = services_of(request)
    await services.run(accounts.set_active, services.sessions, user.id, active, actor=me.actor)
    return redirect(f"/inbox/admin/users?done={'activated' if active else 'deactivated'}")


@admin_only
@redisplays(_refused)
async def set_password(request: web.Request) -> web.StreamResponse:
    """Set a new password for an account (and unlock it); its sessions end."""
    me = clinician_of(request)
    user = await _user_in_my_organisation(request)
    services = services_of(request)
    try:
        await services.run(
            accounts.set_password,
            services.sessions,
            user.id,
            form_of(request).get("password", ""),
            actor=me.actor,
            keep_session=request.get(SESSION_TOKEN) or None if user.id == me.id else None,
        )
    except accounts.AccountError as exc:
        return await _users_page(request, status=400, error=sentence(exc))
    return redirect("/inbox/admin/users?done=password")
