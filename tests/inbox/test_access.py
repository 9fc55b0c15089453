"""Every route of the web process under /inbox, found by walking the router, against every kind of caller.

New routes are covered without touching this file: anonymous callers are sent to sign in (GET/HEAD: 303 to
/inbox/login) or refused (other methods: 401); a clinician of another organisation gets 404 for anything that
names a case or an account of this one; a clinician on an admin route gets 403.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from inbox.security import access_of
from tests.inbox.conftest import WebProcess, sqlite_only
from triage import outreach

PUBLIC = {("GET", "/inbox/login"), ("HEAD", "/inbox/login"), ("POST", "/inbox/login")}


def _inbox_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith("/inbox"):
            continue
        found.append((route.method, resource.canonical, route.handler))
    assert len(found) >= 15, found
    return found


def _fill(path: str, values: dict[str, int]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no test value for the path parameter {name!r} in {path}: add one"
        return str(values[name])

    return re.sub(r"{(\w+)}", one, path)


@sqlite_only
async def test_every_inbox_route_is_closed_to_the_wrong_people(web_process: WebProcess) -> None:
    world = web_process.world
    routes = _inbox_routes(web_process.app)
    invite_id, _ = outreach.create_invite(web_process.services.sessions, organisation_code="north", label="access test",
                                          created_by=world.people["root"].id, actor="test")
    north = {
        "case_id": world.cases["emergency"],
        "image_id": world.images["emergency"],
        "user_id": world.people["carol"].id,
        "invite_id": invite_id,
    }
    public = {(m, p) for m, p, h in routes if access_of(h) == "public"}
    assert public == PUBLIC, "a route was made public: check it, then update PUBLIC"

    anonymous = await web_process.user()
    bob = await web_process.user("bob")  # a clinician of the other organisation
    sam = await web_process.user("sam")  # an admin of the other organisation
    alice = await web_process.user("alice")  # a clinician of this organisation
    for method, canonical, handler in routes:
        path = _fill(canonical, north)
        if (method, canonical) in PUBLIC:
            continue
        if canonical == "/inbox":  # the bare prefix: a redirect to /inbox/, which is checked itself
            resp = await anonymous.client.request(method, path, allow_redirects=False)
            assert resp.status == 308 and resp.headers["Location"] == "/inbox/"
            continue
        resp = await anonymous.client.request(
            method, path, data={"csrf_token": "x"} if method == "POST" else None, allow_redirects=False
        )
        if method in ("GET", "HEAD"):
            assert resp.status == 303, (method, path, resp.status)
            assert resp.headers["Location"].startswith("/inbox/login?next="), (method, path)
        else:
            assert resp.status == 401, (method, path, resp.status)

        if "{" in canonical:
            other = sam if access_of(handler) == "admin" else bob
            resp = await other.client.request(
                method, path, data={"csrf_token": other.csrf} if method == "POST" else None, allow_redirects=False
            )
            assert resp.status == 404, (method, path, resp.status)
        elif method == "GET":
            resp = await bob.client.get(path, allow_redirects=False)
            assert f"/inbox/cases/{world.cases['emergency']}" not in await resp.text(), path

        if access_of(handler) == "admin" or canonical.startswith("/inbox/admin"):
            resp = await alice.client.request(
                method, path, data={"csrf_token": alice.csrf} if method == "POST" else None, allow_redirects=False
            )
            assert resp.status == 403, (method, path, resp.status)
            assert access_of(handler) == "admin", f"{path} is under /inbox/admin but not marked @admin_only"


@sqlite_only
async def test_the_inbox_is_mounted_in_the_web_process_next_to_the_webhook(web_process: WebProcess) -> None:
    alice = await web_process.user("alice")
    status, page = await alice.get("/inbox/")
    assert status == 200 and "Queue" in page
    resp = await alice.client.get("/healthz")
    assert resp.status == 200
