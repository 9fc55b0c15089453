"""The inbox's pages and actions through aiohttp's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from tests.inbox.conftest import HOSTILE, InboxClient, World, sqlite_only
from triage.db import transaction
from triage.models import AuditEvent, Case, Clinician, Message, Outbox, utcnow

MakeClient = Callable[..., Awaitable[InboxClient]]
CASE_LINK = re.compile(r'<a class="case" href="/inbox/cases/(\d+)">')


def _audit(world: World, action: str | None = None) -> list[AuditEvent]:
    with world.services.sessions() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.scalars(query))


def _case(world: World, key: str) -> Case:
    with world.services.sessions() as session:
        return session.get_one(Case, world.cases[key])


# -- signing in ---------------------------------------------------------------------------------------------
async def test_signing_in_sets_an_httponly_samesite_cookie_and_signing_out_ends_the_session(
    make_client: MakeClient, world: World
) -> None:
    client = await make_client()
    await client.get("/inbox/login")
    resp = await client.post(
        "/inbox/login", {"email": world.people["alice"].email, "password": "correct horse battery", "next": "/inbox/"}
    )
    assert resp.status == 303 and resp.headers["Location"] == "/inbox/"
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("inbox_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/inbox" in cookie
    assert "Secure" not in cookie  # the tests' config; the default is Secure (see test_the_cookie_is_secure...)
    token = cookie.split(";", 1)[0].split("=", 1)[1]
    assert len(token) >= 40
    status, page = await client.get("/inbox/")
    assert status == 200 and "Dr Alice" in page
    resp = await client.post("/inbox/logout")
    assert resp.status == 303 and resp.headers["Location"] == "/inbox/login"
    # The old token is dead server-side, even if a browser kept it.
    other = await make_client()
    other.client.session.cookie_jar.update_cookies({"inbox_session": token})
    resp = await other.client.get("/inbox/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/inbox/login")
    assert [e.action for e in _audit(world) if e.action.startswith(("login.", "logout"))] == [
        "login.succeeded", "logout"]


async def test_signing_out_and_failed_sign_ins_are_audited_without_what_was_typed(
    make_client: MakeClient, world: World
) -> None:
    alice = world.people["alice"]
    client = await make_client()
    assert (await client.login(alice.email, "not her password")).status == 401
    assert (await client.login("nobody@north.example.org", "guessing-password")).status == 401
    assert (await client.login(alice.email)).status == 303
    assert (await client.post("/inbox/logout")).status == 303
    assert (await client.post("/inbox/logout")).status == 401  # the session is gone: nothing more to audit
    events = [(e.actor, e.action, e.details) for e in _audit(world) if e.action.startswith(("login.", "logout"))]
    assert events == [
        ("anonymous", "login.failed", {"clinician_id": alice.id, "reason": "wrong_password"}),
        ("anonymous", "login.failed", {"reason": "unknown_email"}),
        (alice.actor, "login.succeeded", {"clinician_id": alice.id}),
        (alice.actor, "logout", {"clinician_id": alice.id}),
    ]
    typed = ("not her password", "nobody@", "guessing", "correct horse", alice.email)
    assert not [e for e in _audit(world) if any(t in str(e.details) + e.actor for t in typed)]


async def test_the_cookie_is_secure_by_default() -> None:
    from triage.config import load_settings

    assert load_settings({}).inbox_cookie_secure is True
    assert load_settings({"INBOX_COOKIE_SECURE": "false"}).inbox_cookie_secure is False


async def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    make_client: MakeClient, world: World
) -> None:
    client = await make_client()
    email = world.people["alice"].email
    for _ in range(5):
        resp = await client.login(email, "wrong password!")
        assert resp.status == 401
        assert "Wrong email or password, or the account is locked" in await resp.text()
    resp = await client.login(email)
    assert resp.status == 401  # locked: the right password does not help for 15 minutes
    with world.services.sessions() as session:
        locked_until = session.scalar(select(Clinician.locked_until).where(Clinician.email == email))
    assert locked_until is not None
    remaining = locked_until.replace(tzinfo=dt.UTC) - utcnow()
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)
    unknown = await client.login("nobody@north.example.org")
    assert unknown.status == 401 and "Wrong email or password" in await unknown.text()  # same answer: no oracle
    with transaction(world.services.sessions) as session:
        session.execute(update(Clinician).where(Clinician.email == email).values(locked_until=utcnow()))
    assert (await client.login(email)).status == 303


@sqlite_only
async def test_signing_in_needs_the_csrf_token_of_the_form(make_client: MakeClient, world: World) -> None:
    client = await make_client()
    form = {"email": world.people["alice"].email, "password": "correct horse battery"}
    resp = await client.post("/inbox/login", form, csrf="")
    assert resp.status == 403  # no login-form cookie at all
    await client.get("/inbox/login")
    resp = await client.post("/inbox/login", form, csrf="forged-token")
    assert resp.status == 403
    assert "did not come from the inbox" in await resp.text()


@sqlite_only
async def test_after_sign_in_only_inbox_pages_are_followed(make_client: MakeClient, world: World) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/elsewhere", "/inbox/login", "/inbox/\\evil"):
        client = await make_client()
        await client.get(f"/inbox/login?next={target}")
        form = {"email": world.people["alice"].email, "password": "correct horse battery", "next": target}
        resp = await client.post("/inbox/login", form)
        assert resp.status == 303 and resp.headers["Location"] == "/inbox/", target


@sqlite_only
async def test_an_anonymous_visit_goes_to_sign_in_and_back(make_client: MakeClient, world: World) -> None:
    client = await make_client()
    case_path = f"/inbox/cases/{world.cases['routine']}"
    resp = await client.client.get(case_path, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/inbox/login?next={case_path}"
    await client.get(resp.headers["Location"])
    resp = await client.post(
        "/inbox/login", {"email": world.people["alice"].email, "password": "correct horse battery", "next": case_path}
    )
    assert resp.headers["Location"] == case_path


# -- the queue ----------------------------------------------------------------------------------------------
async def test_the_queue_puts_emergencies_first_then_the_longest_waiting(make_client: MakeClient, world: World) -> None:
    with transaction(world.services.sessions) as session:
        # A second, older urgent case: it must come before the newer one of the same tier.
        newer = session.get_one(Case, world.cases["urgent"])
        older = Case(
            patient_id=newer.patient_id,
            status="forwarded",
            tier="urgent",
            organisation="north",
            answers={},
            submitted_at=utcnow() - dt.timedelta(hours=5),
        )
        session.add(older)
        session.flush()
        older_id = older.id
    alice = await make_client("alice")
    status, page = await alice.get("/inbox/")
    assert status == 200
    order = [int(i) for i in CASE_LINK.findall(page)]
    assert order == [world.cases["emergency"], older_id, world.cases["urgent"], world.cases["routine"]]
    counts = dict(re.findall(r'<span class="tier (\w+)">[^<]+</span><b>(\d+)</b>', page))
    assert counts == {"emergency": "1", "urgent": "2", "soon": "0", "routine": "1", "self_care": "0"}
    assert str(world.cases["south"]) not in order  # another organisation's case
    assert _audit(world, "queue.viewed")[-1].actor == world.people["alice"].actor


async def test_the_queue_filters_by_tier_status_and_claim(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    await alice.post(f"/inbox/cases/{world.cases['routine']}/claim")

    async def shown(query: str) -> list[int]:
        status, page = await alice.get(f"/inbox/?{query}")
        assert status == 200
        return [int(i) for i in CASE_LINK.findall(page)]

    c = world.cases
    assert await shown("tier=urgent") == [c["urgent"]]
    assert await shown("status=closed") == [c["closed"]]
    assert await shown("scope=mine") == [c["routine"]]
    assert await shown("scope=unclaimed") == [c["emergency"], c["urgent"]]
    assert await shown("status=all") == [c["emergency"], c["urgent"], c["closed"], c["routine"]]
    # Nonsense in the filters falls back to the defaults instead of failing.
    assert await shown("tier=<script>&status=%20&scope=everything") == [c["emergency"], c["urgent"], c["routine"]]
    # A control character is refused at the door (test_hostile_input.py).


# -- the case page ------------------------------------------------------------------------------------------
async def test_the_case_page_shows_photos_answers_model_rules_and_conversation(
    make_client: MakeClient, world: World
) -> None:
    alice = await make_client("alice")
    case_id = world.cases["emergency"]
    status, page = await alice.get(f"/inbox/cases/{case_id}")
    assert status == 200
    assert f'src="/inbox/cases/{case_id}/images/{world.images["emergency"]}"' in page
    for expected in (
        "immunosuppressed",
        "face, trunk",
        "fever, blisters",
        "eczema herpeticum",
        "60%",
        "grouped vesicles",
        "This may need a doctor today.",
        "fever with blisters",
        "RF_FEVER_BLISTERS",
        "rules 2026.11-test",
        "Claim this case",
    ):
        assert expected in page, expected
    # The patient's hostile text is shown escaped, never as markup.
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    viewed = _audit(world, "case.viewed")
    assert [(e.actor, e.case_id) for e in viewed] == [(world.people["alice"].actor, case_id)]


@sqlite_only
async def test_a_case_triaged_without_the_model_says_so(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    status, page = await alice.get(f"/inbox/cases/{world.cases['urgent']}")
    assert status == 200
    assert "without the model" in page and "No photo is stored" in page


@sqlite_only
async def test_pages_carry_security_headers_and_are_never_cached(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    for path in ("/inbox/login", "/inbox/", f"/inbox/cases/{world.cases['emergency']}", "/inbox/cases/999999"):
        resp = await alice.client.get(path, allow_redirects=False)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"


@sqlite_only
async def test_the_inline_stylesheet_matches_the_policys_hash(make_client: MakeClient) -> None:
    import base64
    import hashlib

    client = await make_client()
    resp = await client.client.get("/inbox/login")
    page = await resp.text()
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in resp.headers["Content-Security-Policy"]
    assert " style=" not in page  # inline style attributes would be blocked by the policy


async def test_photos_are_decrypted_for_signed_in_clinicians_only_and_never_cached(
    make_client: MakeClient, world: World
) -> None:
    alice = await make_client("alice")
    case_id, image_id = world.cases["emergency"], world.images["emergency"]
    resp = await alice.client.get(f"/inbox/cases/{case_id}/images/{image_id}")
    assert resp.status == 200
    assert resp.content_type == "image/jpeg" and resp.headers["Cache-Control"] == "no-store"
    body = await resp.read()
    assert body[:3] == b"\xff\xd8\xff"
    files = list((world.services.images.root).glob("*/*.bin"))
    assert all(body not in f.read_bytes() for f in files)  # encrypted at rest
    # The photo of another case, asked for under this case's id, does not exist here.
    resp = await alice.client.get(f"/inbox/cases/{case_id}/images/{world.images['routine']}")
    assert resp.status == 404
    assert [e.details["image_id"] for e in _audit(world, "image.viewed")] == [image_id]


# -- actions ------------------------------------------------------------------------------------------------
async def test_claim_reply_change_tier_record_outcome_and_close(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    case_id = world.cases["emergency"]
    base = f"/inbox/cases/{case_id}"
    audit_before = [(e.id, e.action, e.details) for e in _audit(world)]

    resp = await alice.post(f"{base}/claim")
    assert resp.status == 303 and resp.headers["Location"] == f"{base}?done=claimed"
    case = _case(world, "emergency")
    assert (case.status, case.assigned_clinician_id) == ("claimed", world.people["alice"].id)
    assert case.claimed_at is not None

    reply = "Please come to the clinic today.\n<b>Bring</b> your medicines & this message."
    resp = await alice.post(f"{base}/reply", {"reply": reply})
    assert resp.status == 303
    with world.services.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.kind == "clinician_reply")).one()
        assert (row.chat_id, row.case_id, row.priority) == (world.chat_id, case_id, 0)
        assert row.payload == {"text": reply, "language": "en", "clinician": "Dr Alice"}
        message = session.scalars(select(Message).where(Message.role == "clinician")).one()
        assert message.text == reply and row.dedupe_key == f"case:{case_id}:reply:{message.id}"
    _, page = await alice.get(base)
    assert "&lt;b&gt;Bring&lt;/b&gt; your medicines &amp; this message." in page

    resp = await alice.post(f"{base}/tier", {"tier": "urgent", "reason": "photo shows localised cellulitis only"})
    assert resp.status == 303
    resp = await alice.post(f"{base}/outcome", {"diagnosis": "cellulitis", "disposition": "seen_in_clinic"})
    assert resp.status == 303
    resp = await alice.post(f"{base}/close")
    assert resp.status == 303 and resp.headers["Location"] == f"{base}?done=closed"
    case = _case(world, "emergency")
    assert (case.status, case.tier, case.final_diagnosis, case.disposition) == (
        "closed",
        "urgent",
        "cellulitis",
        "seen_in_clinic",
    )
    assert case.tier_override_reason == "photo shows localised cellulitis only"
    changes = [e for e in _audit(world, None) if e.case_id == case_id and e.action != "case.viewed"]
    assert [e.action for e in changes] == [
        "case.claimed",
        "case.replied",
        "case.tier_changed",
        "case.outcome_recorded",
        "case.closed",
    ]
    assert all(e.actor == world.people["alice"].actor for e in changes)
    assert changes[2].details == {"previous": "emergency", "tier": "urgent", "reason": case.tier_override_reason}
    # Audit rows are only ever added: every earlier row is still there, unchanged.
    assert [(e.id, e.action, e.details) for e in _audit(world)][: len(audit_before)] == audit_before
    # A closed case takes no more changes.
    resp = await alice.post(f"{base}/reply", {"reply": "one more thing"})
    assert resp.status == 409 and "The case is closed" in await resp.text()


async def test_changes_need_the_claim_and_a_colleagues_claim_is_respected(
    make_client: MakeClient, world: World
) -> None:
    alice, carol, root = await make_client("alice"), await make_client("carol"), await make_client("root")
    base = f"/inbox/cases/{world.cases['routine']}"
    resp = await alice.post(f"{base}/reply", {"reply": "hello"})
    assert resp.status == 409 and "Claim the case first" in await resp.text()
    assert "hello" in await resp.text()  # what was typed is kept
    assert (await alice.post(f"{base}/claim")).status == 303
    resp = await carol.post(f"{base}/claim")
    assert resp.status == 409 and "claimed by Dr Alice" in await resp.text()
    resp = await carol.post(f"{base}/close")
    assert resp.status == 409
    # An admin of the organisation may take the case over.
    resp = await root.post(f"{base}/claim", {"take_over": "1"})
    assert resp.status == 303
    assert _case(world, "routine").assigned_clinician_id == world.people["root"].id
    assert _audit(world, "case.taken_over")[-1].details["previous_clinician_id"] == world.people["alice"].id
    # ... a clinician may not.
    resp = await alice.post(f"{base}/claim", {"take_over": "1"})
    assert resp.status == 409


@sqlite_only
async def test_closing_needs_the_outcome_first(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['urgent']}"
    await alice.post(f"{base}/claim")
    resp = await alice.post(f"{base}/close")
    assert resp.status == 409 and "record the diagnosis and disposition before closing" in (await resp.text()).lower()
    assert _case(world, "urgent").status == "claimed"


# -- hostile input ------------------------------------------------------------------------------------------
@sqlite_only
async def test_a_bad_or_missing_or_borrowed_csrf_token_changes_nothing(make_client: MakeClient, world: World) -> None:
    alice, carol = await make_client("alice"), await make_client("carol")
    base = f"/inbox/cases/{world.cases['emergency']}"
    for token in ("", "x" * 43, carol.csrf):
        resp = await alice.post(f"{base}/claim", csrf=token)
        assert resp.status == 403
    assert _case(world, "emergency").assigned_clinician_id is None
    assert _audit(world, "case.claimed") == []


async def test_forged_case_ids_are_not_found(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    image = world.images["emergency"]
    for path in ("999999", "2147483648", "9999999999", "0", "abc", "1e3", "-1", "1%2F..", "%20", "1.0"):
        for url in (f"/inbox/cases/{path}", f"/inbox/cases/{path}/images/{image}"):
            resp = await alice.client.get(url, allow_redirects=False)
            assert resp.status == 404, url
        resp = await alice.post(f"/inbox/cases/{path}/claim")
        assert resp.status == 404, path
    case_id = world.cases["emergency"]
    for image_path in ("99999", "9999999999", "x"):
        resp = await alice.client.get(f"/inbox/cases/{case_id}/images/{image_path}")
        assert resp.status == 404


async def test_another_organisations_case_is_not_found_not_forbidden(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    south, image = world.cases["south"], world.images["south"]
    for path in (f"/inbox/cases/{south}", f"/inbox/cases/{south}/images/{image}"):
        resp = await alice.client.get(path)
        assert resp.status == 404
    for action, form in (("claim", {}), ("reply", {"reply": "hi"}), ("close", {})):
        resp = await alice.post(f"/inbox/cases/{south}/{action}", form)
        assert resp.status == 404
    assert _case(world, "south").assigned_clinician_id is None
    assert _audit(world, "case.viewed") == []


@sqlite_only
async def test_an_oversized_or_odd_form_is_refused(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['emergency']}"
    await alice.post(f"{base}/claim")
    resp = await alice.post(f"{base}/reply", {"reply": "x" * 200_000})
    assert resp.status == 413
    resp = await alice.client.post(
        f"{base}/reply", json={"csrf_token": alice.csrf, "reply": "hi"}, allow_redirects=False
    )
    assert resp.status == 415

    async def chunked() -> Any:
        for _ in range(100):
            yield b"reply=" + b"y" * 1024

    resp = await alice.client.post(
        f"{base}/reply",
        data=chunked(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 413  # no Content-Length to trust: the cap holds while reading
    with world.services.sessions() as session:
        assert session.scalars(select(Outbox)).all() == []


INVALID = [
    ("reply", {"reply": "   "}, "The reply is empty"),
    ("reply", {"reply": "x" * 3001}, "longer than 3000"),
    ("tier", {"tier": "whenever", "reason": "x"}, "Unknown tier"),
    ("tier", {"tier": "routine", "reason": ""}, "The reason is empty"),
    ("tier", {"tier": "routine", "reason": "same"}, "The tier is already routine"),
    ("outcome", {"diagnosis": "<script>", "disposition": "referred"}, "Unknown condition key"),
    ("outcome", {"diagnosis": "dermatitis", "disposition": "referred"}, "Unknown condition key"),
    ("outcome", {"diagnosis": "psoriasis", "disposition": "cured"}, "Unknown disposition"),
]


@sqlite_only
async def test_invalid_values_are_refused_with_the_reason(make_client: MakeClient, world: World) -> None:
    alice = await make_client("alice")
    base = f"/inbox/cases/{world.cases['routine']}"
    await alice.post(f"{base}/claim")
    for action, form, message in INVALID:
        resp = await alice.post(f"{base}/{action}", form)
        assert resp.status == 400, (action, form)
        page = await resp.text()
        assert message in page and "<script>" not in page.split("<main", 1)[1]
    case = _case(world, "routine")
    assert (case.tier, case.final_diagnosis, case.disposition) == ("routine", None, None)


async def test_the_case_page_shows_what_the_patient_was_not_sure_of(make_client: MakeClient, world: World) -> None:
    case_id = world.cases["emergency"]
    with transaction(world.services.sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(answers={
            "patient": {"skin_type": "V"}, "answers": {"symptoms": ["itch"], "skipped": ["changing_size"]}}))
    alice = await make_client("alice")
    _, page = await alice.get(f"/inbox/cases/{case_id}")
    assert re.search(r"<dt>not sure \(unknown, not no\)</dt><dd>[^<]*changing[ _]size", page), page[:3000]
