"""The inbox shows each patient's words in their own direction: `dir="auto"` on every element that holds them, so an
Arabic message reads right to left in an English page (and an English one stays left to right)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from sqlalchemy import update

from tests.inbox.conftest import InboxClient, World
from triage.db import transaction
from triage.models import Case, Message

MakeClient = Callable[..., Awaitable[InboxClient]]
ARABIC = "شفايفي منفوخة ومش قادر اتنفس، حرارتي 39"
REPLY = "يرجى الذهاب إلى الطوارئ الآن"


def _auto(page: str, tag: str, css: str, text: str) -> bool:
    """Whether `text` sits in a `tag` of class `css` that carries dir="auto"."""
    pattern = rf'<{tag}[^>]*class="{css}"[^>]*dir="auto"[^>]*>\s*{re.escape(text)}'
    return re.search(pattern, page) is not None


async def test_the_patient_s_words_take_their_own_direction(make_client: MakeClient, world: World) -> None:
    case_id = world.cases["routine"]
    with transaction(world.services.sessions) as session:
        session.execute(update(Case).where(Case.id == case_id).values(patient_text=ARABIC, language="ar"))
        session.add(Message(case_id=case_id, role="patient", text=ARABIC))
    alice = await make_client("alice")
    status, page = await alice.get(f"/inbox/cases/{case_id}")
    assert status == 200
    assert _auto(page, "div", "quote", ARABIC)  # what the patient said
    assert _auto(page, "div", "text", ARABIC)  # the conversation
    status, queue = await alice.get("/inbox/")
    assert status == 200 and _auto(queue, "td", "words", ARABIC[:40])
    await alice.post(f"/inbox/cases/{case_id}/claim")
    status, page = await alice.get(f"/inbox/cases/{case_id}")
    assert re.search(r'<textarea name="reply"[^>]*dir="auto"', page)  # a reply typed in Arabic reads right to left
    # English words get the same treatment, and nothing else in the page changes direction
    assert page.count('dir="auto"') >= 3 and 'dir="rtl"' not in page
