"""A case's exports: its FHIR bundle, its letter as a PDF, and sending the patient's copy through the bot.

The same organisation check as the case page (`triage.case_snapshot.for_clinician` uses `triage.review`'s):
another organisation's case, or an erased one, is a 404. Every download is audited (`case.exported`, with the
format); building and rendering run off the event loop.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from inbox import case_views
from inbox.context import clinician_of, services_of
from triage import case_snapshot, review
from triage.fhir.bundle import CONTENT_TYPE, build_bundle
from triage.fhir.validate import InvalidBundle
from triage.letters import texts
from triage.letters.letter import AUDIENCES, LetterUnavailable, render_letter
from triage.letters.sending import queue_patient_copy

log = logging.getLogger(__name__)
NOT_FOUND = "There is no such case in your organisation's inbox."


async def fhir_bundle(request: web.Request) -> web.StreamResponse:
    """The case as a FHIR R4 transaction bundle (JSON, photos inline)."""
    me = clinician_of(request)
    services = services_of(request)
    case_id = int(request.match_info["case_id"])
    try:
        snap = await services.run(case_snapshot.for_clinician, services.sessions, me, case_id,
                                  action="case.exported", format="fhir", via="inbox")
    except review.CaseNotFound:
        raise web.HTTPNotFound(text=NOT_FOUND) from None
    snap = await services.run(case_snapshot.with_photo_data, snap, services.images)
    try:
        bundle = await services.run(build_bundle, snap)
    except InvalidBundle as exc:
        log.error("case %s: the FHIR bundle is not valid (%s)", case_id, exc)
        raise web.HTTPInternalServerError(text="This case could not be exported as valid FHIR; the error is in "
                                               "the server's log.") from None
    body = await services.run(lambda: json.dumps(bundle, ensure_ascii=False).encode())
    return web.Response(body=body, content_type=CONTENT_TYPE, charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="case-{case_id}.fhir.json"'})


async def letter_pdf(request: web.Request) -> web.StreamResponse:
    """The referral letter (`?copy=referral`, English unless `lang` says) or the patient's copy (`?copy=patient`,
    in the patient's language unless `lang` says), as a PDF."""
    me = clinician_of(request)
    services = services_of(request)
    case_id = int(request.match_info["case_id"])
    copy = request.query.get("copy", "referral")
    language = request.query.get("lang", "")
    if copy not in AUDIENCES:
        raise web.HTTPBadRequest(text=f"Choose copy={' or copy='.join(AUDIENCES)}.")
    if language and language not in texts.LANGUAGES:
        raise web.HTTPBadRequest(text=f"The letter is written in {', '.join(texts.LANGUAGES)}.")
    try:
        snap = await services.run(case_snapshot.for_clinician, services.sessions, me, case_id,
                                  action="case.exported", format="pdf", copy=copy)
    except review.CaseNotFound:
        raise web.HTTPNotFound(text=NOT_FOUND) from None
    snap = await services.run(case_snapshot.with_photo_data, snap, services.images)
    language = language or (snap.language if copy == "patient" else "en")
    try:
        letter = await services.run(render_letter, snap, language=language, audience=copy)
    except LetterUnavailable as exc:
        log.error("case %s: %s", case_id, exc)
        raise web.HTTPServiceUnavailable(text="Letters cannot be made on this server now (the PDF engine is "
                                              "missing); tell the administrator.") from None
    return web.Response(body=letter.data, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{letter.filename}"'})


async def send_letter(request: web.Request) -> web.StreamResponse:
    """Queue the patient's copy to be sent through the bot (the clinician holding the case only)."""
    return await case_views._act(request, "letter", queue_patient_copy)
