"""Outreach for admins: the organisation's settings (name, listed for patients, clinicians' chat), invites for
community health workers (a single-use Telegram deep link, shown once), and the health workers' activity.
Everything is the admin's own organisation's; another's invites are 404."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from inbox.auth_views import redirect
from inbox.context import SETTINGS, clinician_of, form_of, services_of
from inbox.render import page
from inbox.security import admin_only
from triage import outreach

DONE_MESSAGES = {
    "organisation": "The organisation's settings are saved.",
    "revoked": "The invite is cancelled: its link no longer works.",
}
TTL_DAYS = (1, 7, 30)


def deep_link(bot_username: str, payload: str) -> str:
    """The Telegram link that opens the bot with `payload` (a clinic's `c-<code>` or an invite's `chw-...`)."""
    return f"https://t.me/{bot_username}?start={payload}" if bot_username else f"/start {payload}"


async def _page(request: web.Request, *, status: int = 200, error: str = "", new_link: str = "") -> web.Response:
    me = clinician_of(request)
    services = services_of(request)
    org = await services.run(outreach.ensure_organisation, services.sessions, me.organisation)
    invites = await services.run(outreach.invites, services.sessions, me.organisation)
    workers = await services.run(outreach.health_workers, services.sessions, me.organisation)
    username = request.app[SETTINGS].telegram_bot_username
    return page(
        request, "admin_outreach.html", status=status, org=org, invites=invites, workers=workers, error=error,
        done=DONE_MESSAGES.get(request.query.get("done", "")) if status == 200 else None, new_link=new_link,
        clinic_link=deep_link(username, outreach.CLINIC_PREFIX + org.code), ttl_days=TTL_DAYS,
        now=dt.datetime.now(dt.UTC), weeks=outreach.WEEKS,
    )


@admin_only
async def outreach_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@admin_only
async def create_invite(request: web.Request) -> web.StreamResponse:
    """A new invite; its link is shown on this page once (only its hash is stored)."""
    me = clinician_of(request)
    form = form_of(request)
    days = form.get("days", "7")
    if not days.isascii() or not days.isdigit() or int(days) not in TTL_DAYS:
        return await _page(request, status=400, error="Choose how long the invite stays valid.")
    services = services_of(request)
    try:
        _, code = await services.run(outreach.create_invite, services.sessions, organisation_code=me.organisation,
                                     label=form.get("label", ""), created_by=me.id, actor=me.actor,
                                     ttl=dt.timedelta(days=int(days)))
    except outreach.OutreachError:
        return await _page(request, status=400, error="Say who the invite is for (a name or a role and place).")
    return await _page(request, new_link=deep_link(request.app[SETTINGS].telegram_bot_username, code))


@admin_only
async def revoke_invite(request: web.Request) -> web.StreamResponse:
    me = clinician_of(request)
    services = services_of(request)
    try:
        await services.run(outreach.revoke_invite, services.sessions, int(request.match_info["invite_id"]),
                           organisation_code=me.organisation, actor=me.actor)
    except outreach.OutreachError:
        raise web.HTTPNotFound(text="There is no such invite in your organisation.") from None
    return redirect("/inbox/admin/outreach?done=revoked")


@admin_only
async def update_organisation(request: web.Request) -> web.StreamResponse:
    """The organisation's name, whether patients arriving without a link see it, and its clinicians' chat."""
    me = clinician_of(request)
    form = form_of(request)
    chat = form.get("clinician_chat_id", "").strip()
    if chat and not (chat.lstrip("-").isascii() and chat.lstrip("-").isdigit() and abs(int(chat)) < 2**62):
        return await _page(request, status=400, error="The clinicians' chat id is a number like -1001234567890.")
    services = services_of(request)
    # An organisation exists from its first account; its row (name, list, chat) from the first time it is needed.
    await services.run(outreach.ensure_organisation, services.sessions, me.organisation)
    await services.run(outreach.update_organisation, services.sessions, me.organisation, actor=me.actor,
                       name=form.get("name", "")[:128], public=form.get("public") == "1",
                       clinician_chat_id=int(chat) if chat else None)
    return redirect("/inbox/admin/outreach?done=organisation")
