"""The defects the inbox fuzzer (test_fuzz.py) and the security review found, one named test each, and the door's
promises: control characters and malformed bodies are a 400 that keeps what was typed, ids are ASCII digits,
and an unexpected error is the inbox's own error page with its headers, logged without content."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select
from yarl import URL

from tests.inbox.conftest import InboxClient, World, sqlite_only
from triage import review
from triage.models import Case, Clinician, InboxSession, Outbox

MakeClient = Callable[..., Awaitable[InboxClient]]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _headers_ok(resp: Any) -> None:
    assert resp.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"


async def _raw_post(client: InboxClient, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return await client.client.post(path, data=body, headers=headers or FORM, allow_redirects=False)


def _rows(world: World, model: Any) -> list[Any]:
    with world.services.sessions() as session:
        return list(session.scalars(select(model)))


# -- found by the fuzzer or the review ------------------------------------------------------------------------
async def test_a_nul_in_the_sign_in_form_is_a_400_that_keeps_the_email(make_client: MakeClient, world: World) -> None:
    # Was a 500 on PostgreSQL, which refuses a NUL in text: the email went into the query as it was.
    client = await make_client()
    await client.get("/inbox/login")
    email = "alice@north.example.org"
    resp = await client.post("/inbox/login", {"email": "al\x00ice@north.example.org", "password": "x\x00y"})
    assert resp.status == 400
    page = await resp.text()
    assert "control characters" in page and f'value="{email}"' in page  # the email as typed, without the NUL
    assert "x\x00y" not in page and 'value="xy"' not in page  # a password is never shown again
    _headers_ok(resp)
    assert _rows(world, InboxSession) == []
    resp = await client.post("/inbox/login", {"email": email, "password": "correct horse battery"})
    assert resp.status == 303  # the page it showed again works


# 𝟏 (mathematical bold), ١ (Arabic-Indic), １ (full-width), १ (Devanagari): int() reads each as 1; ¹ passes isdigit().
OTHER_ONES = ("%F0%9D%9F%8F", "%D9%A1", "%EF%BC%91", "%E0%A5%A7", "%C2%B9")


@sqlite_only
async def test_unicode_digits_never_name_a_case(make_client: MakeClient, world: World) -> None:
    # `\d` in the routes matched them and int() read them: /inbox/cases/𝟏 opened case 1.
    root = await make_client("root")
    assert world.cases["emergency"] == 1
    image = world.images["emergency"]
    for one in OTHER_ONES:
        for path in (f"/inbox/cases/{one}", f"/inbox/cases/1/images/{one}", f"/inbox/cases/{one}/images/{image}"):
            resp = await root.client.get(URL(path, encoded=True), allow_redirects=False)
            assert resp.status == 404, path
            _headers_ok(resp)
        resp = await _raw_post(root, URL(f"/inbox/cases/{one}/claim", encoded=True), f"csrf_token={root.csrf}".encode())
        assert resp.status == 404, one
        resp = await _raw_post(root, URL(f"/inbox/admin/users/{one}/active", encoded=True),
                               f"csrf_token={root.csrf}&active=0".encode())
        assert resp.status == 404, one
    assert all(c.assigned_clinician_id is None for c in _rows(world, Case))
    assert all(c.active for c in _rows(world, Clinician))


async def test_an_account_id_beyond_32_bits_is_not_found(make_client: MakeClient, world: World) -> None:
    # Was a 500 on PostgreSQL: the id went into an INTEGER comparison and overflowed.
    root = await make_client("root")
    for user_id in ("2147483648", "9999999999"):
        for action, form in (("active", {"active": "0"}), ("password", {"password": "a long new password"})):
            resp = await root.post(f"/inbox/admin/users/{user_id}/{action}", form)
            assert resp.status == 404, (user_id, action)
            _headers_ok(resp)
    for path in ("/inbox/cases/2147483648", "/inbox/cases/1/images/9999999999"):
        resp = await root.client.get(path)
        assert resp.status == 404, path


@sqlite_only
async def test_a_telegram_user_id_is_ascii_digits(make_client: MakeClient, world: World) -> None:
    # '²' passed isdigit() and then int() raised (a 500); '١٢' was stored as 12.
    root = await make_client("root")
    for telegram in ("²", "١٢", "１２", "12a", "9" * 30, "0"):
        form = {"email": "nina@north.example.org", "name": "Dr Nina", "role": "clinician",
                "password": "a long enough password", "telegram_user_id": telegram}
        resp = await root.post("/inbox/admin/users", form)
        assert resp.status == 400, telegram
        page = await resp.text()
        assert "must be a number" in page and 'value="nina@north.example.org"' in page
    assert not [c for c in _rows(world, Clinician) if c.email.startswith("nina")]


async def test_a_control_character_in_a_reply_is_refused_and_the_reply_shown_without_it(
    make_client: MakeClient, world: World
) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['routine']}"
    assert (await alice.post(f"{base}/claim")).status == 303
    resp = await alice.post(f"{base}/reply", {"reply": "Please come\x00 in\x1b[2J tomorrow\u0085."})
    assert resp.status == 400
    page = await resp.text()
    assert "control characters" in page and "Please come in[2J tomorrow.</textarea>" in page
    _headers_ok(resp)
    assert _rows(world, Outbox) == []
    resp = await alice.post(f"{base}/tier", {"tier": "urgent", "reason": "spreading\x7f fast"})
    assert resp.status == 400 and 'value="spreading fast"' in await resp.text()
    with world.services.sessions() as session:
        assert session.get_one(Case, world.cases["routine"]).tier == "routine"


@sqlite_only
async def test_control_characters_are_refused_on_every_form_even_without_a_page_to_show(
    make_client: MakeClient, world: World
) -> None:
    root = await make_client("root")
    carol = world.people["carol"]
    resp = await root.post(f"/inbox/admin/users/{carol.id}/active", {"active": "0\x00"})
    assert resp.status == 400 and "control characters" in await resp.text()
    resp = await root.post("/inbox/account/password", {"current": "x\x01", "new": "n" * 12, "repeat": "n" * 12})
    assert resp.status == 400 and "control characters" in await resp.text()
    resp = await _raw_post(root, "/inbox/logout", f"csrf_token={root.csrf}&x%00=1".encode())
    assert resp.status == 400 and "control characters" in await resp.text()
    _headers_ok(resp)
    assert {c.email: c.active for c in _rows(world, Clinician)}[carol.email] is True


@sqlite_only
async def test_malformed_bodies_are_a_400_and_other_charsets_a_415(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['routine']}"
    await alice.post(f"{base}/claim")
    token = f"csrf_token={alice.csrf}&".encode()
    for bad in (b"reply=%FF", b"reply=%ED%A0%80", b"reply=%C3", b"reply=\xff\xfe", b"reply=%C0%80",
                b"&".join([b"a=1"] * 60)):
        resp = await _raw_post(alice, f"{base}/reply", token + bad)
        assert resp.status == 400, bad
        _headers_ok(resp)
    for content_type in ("application/x-www-form-urlencoded; charset=latin-1", "text/plain", "multipart/form-data"):
        resp = await _raw_post(alice, f"{base}/reply", token + b"reply=hi", {"Content-Type": content_type})
        assert resp.status == 415, content_type
    resp = await _raw_post(alice, f"{base}/reply", token + b"reply=hi",
                           {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert resp.status == 303
    assert len(_rows(world, Outbox)) == 1


@sqlite_only
async def test_control_characters_in_a_query_string_are_a_400(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    for query in ("tier=%00", "ref=a%00b", "done=%1b", "next=%7f", "%00=1", "days=%C2%85"):
        for path in ("/inbox/", f"/inbox/cases/{world.cases['routine']}", "/inbox/dashboard", "/inbox/login"):
            resp = await alice.client.get(URL(f"{path}?{query}", encoded=True), allow_redirects=False)
            assert resp.status == 400, (path, query)
            _headers_ok(resp)
    resp = await alice.client.get(URL("/inbox/dashboard?days=%D9%A3%D9%A0", encoded=True))
    assert resp.status == 200 and "14 days" in await resp.text()  # '٣٠' is not read as 30


async def test_an_unexpected_error_is_the_inboxs_page_with_its_headers_logged_without_content(
    make_client: MakeClient, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "patient-words-7f3a"

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"could not store {secret}")

    alice = await make_client("alice")
    monkeypatch.setattr(review, "claim", broken)
    caplog.set_level(logging.INFO)
    resp = await alice.post(f"/inbox/cases/{world.cases['routine']}/claim", {"note": secret})
    assert resp.status == 500
    page = await resp.text()
    assert "Something went wrong" in page and secret not in page and "RuntimeError" not in page
    _headers_ok(resp)
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "RuntimeError" in logged and "/inbox/cases/{case_id}/claim" in logged
    assert secret not in logged and f"/inbox/cases/{world.cases['routine']}/" not in logged


@sqlite_only
async def test_the_bare_prefix_redirect_carries_the_headers(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.client.get("/inbox", allow_redirects=False)
    assert resp.status == 308 and resp.headers["Location"] == "/inbox/"
    _headers_ok(resp)
    resp = await client.client.get("/inbox/no/such/page", allow_redirects=False)
    assert resp.status in (303, 404)
    _headers_ok(resp)

