"""Every inbox form and every inbox path, fuzzed: never a 5xx, always the inbox's security headers.

The form routes are found by walking the router and the field names by reading the templates, so a new form or
field is fuzzed without editing this file. Each example is one request as a signed-in admin (every route is open
to one) with a valid CSRF token, or, for the sign-in form, as an anonymous browser with its sign-in cookie:
hostile field values (NUL and other control characters, lone surrogates, invalid UTF-8, broken percent escapes,
values over the size cap, Unicode digits), repeated and missing fields, and wrong content types. Paths and query
strings get Unicode digits, huge numbers and `%00` where ids go. On SQLite and PostgreSQL (PostgreSQL refuses a
NUL in text, which is how the first defect of this kind was found).

The examples are derandomised and bounded by INBOX_FUZZ_EXAMPLES (default 60 per test and database, a few
seconds); raise it for a longer hunt. Every defect it found is a named regression test in test_hostile_input.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.inbox.conftest import InboxClient, World
from triage import outreach
from triage.untrusted import has_control_characters

MakeClient = Callable[..., Awaitable[InboxClient]]
EXAMPLES = int(os.environ.get("INBOX_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
FORM = "application/x-www-form-urlencoded"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                    "Cache-Control")
TEMPLATES = Path(__file__).resolve().parents[2] / "inbox" / "templates"
QUERY_KEYS = ("next", "ref", "done", "tier", "status", "scope", "days")
MAX_FORM_BYTES = 64 * 1024  # the inbox's default cap (InboxConfig.max_form_bytes)


def forms_in_templates() -> dict[str, set[str]]:
    """The fields of every POST form of the templates, by the form's action as a route pattern (`{}` for ids)."""
    source = "".join(p.read_text() for p in sorted(TEMPLATES.glob("*.html")))
    forms: dict[str, set[str]] = {}
    for action, inner in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>(.*?)</form>', source, re.S):
        pattern = re.sub(r"{{[^}]*}}", "{}", action)
        forms.setdefault(pattern, set()).update(re.findall(r'name="([a-z_]+)"', inner))
    assert len(forms) >= 10, forms
    return forms


FORMS = forms_in_templates()
FIELDS = sorted(set().union(*FORMS.values()))
GOOD_VALUES = ("routine", "urgent", "psoriasis", "referred", "1", "0", "clinician", "admin", "new colleague",
               "Dr New", "nina@north.example.org", "alice@north.example.org", "correct horse battery",
               "a long enough password", "/inbox/", "7005", "thanks for the photo")


def assert_answered(resp: Any, what: object) -> None:
    """A status below 500 and the inbox's security headers."""
    assert resp.status < 500, (resp.status, what)
    missing = [h for h in SECURITY_HEADERS if h not in resp.headers]
    assert not missing, (missing, resp.status, what)
    assert resp.headers["Cache-Control"] == "no-store", what


# -- what goes into a field ---------------------------------------------------------------------------------------
CONTROLS = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"])
ODD_TEXT = st.sampled_from(["١٢", "𝟏𝟐", "²", "１２", "\u202e", "\ufeff", "\u2028", "\r\n", "\t", "<script>", "'",
                            '"', "%", "&", "=", "+", "9" * 30, "-1", "0", "routine", "psoriasis", "referred", "1"])


@st.composite
def plain_values(draw: st.DrawFn) -> str:
    """Text (any code point but a surrogate), sometimes with a control character or an odd piece inside."""
    pieces = draw(st.lists(st.text(max_size=12) | ODD_TEXT | CONTROLS | st.sampled_from(GOOD_VALUES), max_size=4))
    return "".join(pieces)


@st.composite
def raw_values(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A field value as it goes on the wire, and whether it carries a control character a browser could send."""
    kind = draw(st.sampled_from(["text", "text", "text", "surrogate", "bytes", "escape", "huge"]))
    if kind == "text":
        value = draw(plain_values())
        return quote(value, safe="").encode(), has_control_characters(value)
    if kind == "surrogate":  # a lone surrogate, UTF-8-encoded as browsers never would
        value = draw(plain_values()) + chr(draw(st.integers(0xD800, 0xDFFF)))
        return quote(value.encode("utf-8", "surrogatepass"), safe="").encode(), False
    if kind == "bytes":  # raw bytes, unescaped: invalid UTF-8, separators, anything
        return draw(st.binary(max_size=24)), False
    if kind == "escape":  # broken or odd percent escapes
        escape = draw(st.sampled_from([b"%", b"%G0", b"%FF", b"%C3", b"%C3%28", b"%E2%82", b"%00", b"%F4%90%80%80",
                                       b"%2526", b"+%2B+", b"%C0%80", b"%C2%85", b"%7F"]))
        return escape, escape in (b"%00", b"%C2%85", b"%7F")
    size = draw(st.sampled_from([3000, 3001, 10_000, MAX_FORM_BYTES - 200, MAX_FORM_BYTES + 1]))
    return b"x" * size, False


@st.composite
def form_bodies(draw: st.DrawFn, fields: set[str]) -> tuple[list[tuple[bytes, bytes]], bool]:
    """The route's own fields (each missing, once or repeated) and a few others, with hostile values; and
    whether a control character is among them."""
    names = [name for name in sorted(fields - {"csrf_token"}) for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2])))]
    names += draw(st.lists(st.sampled_from(FIELDS) | plain_values(), max_size=2))
    pairs: list[tuple[bytes, bytes]] = []
    control = False
    for name in draw(st.permutations(names)):
        value, bad = draw(raw_values())
        pairs.append((quote(name, safe="").encode(), value))
        control = control or bad or has_control_characters(name)
    return pairs, control


CONTENT_TYPES = st.sampled_from([FORM] * 6 + [
    f"{FORM}; charset=utf-8", f"{FORM}; charset=latin-1", "multipart/form-data; boundary=x", "text/plain",
    "application/json", "", "application/x-www-form-urlencoded;;;", "*/*",
])


def _encode(csrf: str, fields: list[tuple[bytes, bytes]], csrf_first: bool) -> bytes:
    pairs = [b"=".join(pair) for pair in fields]
    token = b"csrf_token=" + quote(csrf, safe="").encode()
    return b"&".join([token, *pairs] if csrf_first else [*pairs, token])


# -- the routes ---------------------------------------------------------------------------------------------------
def form_routes(app: web.Application) -> list[str]:
    """The canonical path of every POST route under /inbox."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        if route.method == "POST" and resource is not None and resource.canonical.startswith("/inbox"):
            found.append(resource.canonical)
    return found


@pytest.fixture
async def signed_in(make_client: MakeClient, world: World) -> tuple[InboxClient, InboxClient, dict[str, str]]:
    """Root (an admin of `north`, who may use every route) holding the emergency case; an anonymous browser on
    the sign-in page; the form routes with their ids filled in."""
    root = await make_client("root")
    resp = await root.post(f"/inbox/cases/{world.cases['emergency']}/claim")
    assert resp.status == 303
    anonymous = await make_client()
    await anonymous.get("/inbox/login")
    invite_id, _ = outreach.create_invite(world.services.sessions, organisation_code="north", label="fuzz",
                                          created_by=world.people["root"].id, actor="test")
    ids = {"case_id": str(world.cases["emergency"]), "user_id": str(world.people["carol"].id),
           "invite_id": str(invite_id)}
    routes = {}
    app = root.client.server.app
    assert app is not None
    for canonical in form_routes(app):
        path = re.sub(r"{(\w+)}", lambda m: ids[m.group(1)], canonical)
        if not path.endswith("/logout"):  # would end the session the other examples need
            routes[canonical] = path
    assert len(routes) >= 10, routes
    return root, anonymous, routes


def _route_pattern(canonical: str) -> str:
    return re.sub(r"{\w+}", "{}", canonical)


@FUZZ
@given(data=st.data(), content_type=CONTENT_TYPES, csrf_first=st.integers(0, 7))
async def test_no_form_gets_a_server_error(
    signed_in: tuple[InboxClient, InboxClient, dict[str, str]],
    data: st.DataObject,
    content_type: str,
    csrf_first: int,
) -> None:
    root, anonymous, routes = signed_in
    canonical = data.draw(st.sampled_from(sorted(routes)), label="route")
    fields, control = data.draw(form_bodies(FORMS.get(_route_pattern(canonical), set())), label="fields")
    browser = anonymous if canonical == "/inbox/login" else root
    csrf = browser.csrf if canonical != "/inbox/login" else anonymous.client.session.cookie_jar.filter_cookies(
        URL("http://127.0.0.1/inbox/login"))["inbox_login_csrf"].value
    raw = _encode(csrf, fields, csrf_first > 0)
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await browser.client.post(routes[canonical], data=raw, headers=headers, allow_redirects=False)
    what = (canonical, content_type, raw[:300])
    assert_answered(resp, what)
    if control and csrf_first and content_type == FORM and len(raw) <= MAX_FORM_BYTES and raw.count(b"&") < 50:
        assert resp.status == 400, what  # refused at the door, whatever the route


def test_every_form_of_the_templates_has_a_route_and_every_form_route_a_template() -> None:
    # The fuzzer takes each route's fields from its template: a form the router does not know, or a POST route
    # without a form, would go unfuzzed or be fuzzed blind.
    from inbox.app import _routes

    app = web.Application()
    _routes(app)
    posted = {"/inbox" + _route_pattern(r.resource.canonical) for r in app.router.routes()
              if r.method == "POST" and r.resource is not None}
    assert posted == set(FORMS)


# -- paths and query strings --------------------------------------------------------------------------------------
ODD_IDS = st.sampled_from([
    "%D9%A1%D9%A2", "%F0%9D%9F%8F", "%C2%B2", "%EF%BC%91", "%E0%A5%A7", "0", "00", "-1", "1e3", "1.0", "%00",
    "1%00", "9999999999", "2147483648", "4294967296", "99999999999", "9" * 400, "%20", "%FF", "%ED%A0%80", "x",
])


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    pairs = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(QUERY_KEYS) | st.text(max_size=6).map(lambda s: quote(s, safe="")))
        value = draw(
            st.sampled_from(["%00", "%01", "%7F", "%C2%85", "%FF", "%ED%A0%80", "%D9%A3", "7", "14", "9" * 1500,
                             "/inbox/%00", "//evil", "open", "urgent", "mine", "claimed", "password"])
            | plain_values().map(lambda s: quote(s, safe=""))
        )
        pairs.append(f"{key}={value}")
    return "&".join(pairs)


def inbox_paths(app: web.Application) -> list[tuple[str, str]]:
    """(method, canonical path) of every route under /inbox, and a path no route has."""
    found = {(r.method, r.resource.canonical) for r in app.router.routes()
             if r.resource is not None and r.resource.canonical.startswith("/inbox")}
    return sorted(found | {("GET", "/inbox/nowhere/{case_id}")})


@FUZZ
@given(data=st.data(), query=query_strings())
async def test_no_path_or_query_string_gets_a_server_error(
    signed_in: tuple[InboxClient, InboxClient, dict[str, str]], world: World, data: st.DataObject, query: str,
) -> None:
    root = signed_in[0]
    app = root.client.server.app
    assert app is not None
    method, canonical = data.draw(st.sampled_from(inbox_paths(app)), label="route")
    if canonical.endswith("/logout"):
        method = "GET"  # a POST would end the session the other examples need
    valid = {"case_id": str(world.cases["emergency"]), "image_id": str(world.images["emergency"]),
             "user_id": str(world.people["carol"].id)}
    odd: dict[str, bool] = {}

    def fill(match: re.Match[str]) -> str:
        value = data.draw(ODD_IDS | st.just(valid[match.group(1)]), label=match.group(1))
        odd[match.group(1)] = not value.isdigit() or not value.isascii()
        return value

    path = re.sub(r"{(\w+)}", fill, canonical) + (f"?{query}" if query else "")
    body = f"csrf_token={root.csrf}".encode() if method == "POST" else None
    headers = {"Content-Type": FORM} if method == "POST" else {}
    resp = await root.client.request(method, URL(path, encoded=True), data=body, headers=headers,
                                     allow_redirects=False)
    assert_answered(resp, (method, path[:300]))
    if any(odd.values()):
        assert resp.status not in (200, 303), (method, path[:300])  # an id that is not one names nothing
