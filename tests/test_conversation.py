"""The patient's conversation, driven through the real web process and PTB handlers with a fake Bot API, on SQLite
and PostgreSQL: every language's happy path, the questionnaire's buttons, restarts, two patients at once, and
bad input at every step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.texts import LANGUAGES, t
from tests.bot_harness import PatientPhone, services, start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import gif_image, png_bomb, skin_photo
from triage import pipeline
from triage.model_client import ModelClient
from triage.models import Case, CaseImage, CaseStatus, Message, Patient

pytestmark = pytest.mark.slow


@pytest.fixture
def migrated(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
async def web(telegram: FakeBotAPI, migrated: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start_web(telegram, migrated, tmp_path)
    yield client
    await client.close()


def _count(web: TestClient[Any, Any], model: Any) -> int:
    with services(web).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def _until(condition: Any, timeout: float = 10) -> None:  # noqa: ASYNC109
    """Wait for something the web process does in the background (the task dispatcher, the outbox sender)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not done in time"
        await asyncio.sleep(0.05)


def _case(web: TestClient[Any, Any], case_id: int | None = None) -> Case:
    with services(web).sessions() as session:
        query = select(Case).order_by(Case.id.desc())
        case = session.get(Case, case_id) if case_id else session.scalars(query).first()
        assert case is not None
        session.expunge(case)
        return case


QUESTION_MARK = {"ar": "؟"}  # Arabic asks with its own question mark
BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u2066\u2067\u2068\u2069"))


def _visible(text: str) -> str:
    """`text` without the invisible direction marks the bot adds in right-to-left languages."""
    return text.translate(BIDI_MARKS)


def _question(phone: PatientPhone) -> str:
    return QUESTION_MARK.get(phone.language, "?")


async def _consent(phone: PatientPhone) -> None:
    await phone.send("/start")
    await phone.expect(_question(phone))
    await phone.tap(f"consent:yes:{phone.language}")
    await phone.expect(t(phone.language, "ask_photo").split("\n")[0])


async def _photo(phone: PatientPhone, needle: str = "✓") -> None:
    await phone.photo(skin_photo())
    await phone.expect(needle)


async def _questionnaire(phone: PatientPhone) -> None:
    """Answer every step: adult, face, 1-6 days, one spot, no emergency signs, itch, not a mole, no, no, no, and
    skin type IV."""
    mark = _question(phone)
    await phone.tap(":done")  # Continue after the photos
    await phone.expect(mark)
    await phone.tap(":age:adult")
    await phone.expect(mark)
    await phone.tap(":body_sites:face")
    await phone.tap(":_done")
    await phone.expect(mark)
    await phone.tap(":duration:week")
    await phone.expect(mark)
    await phone.tap(":extent:single_spot")
    await phone.expect(mark)
    await phone.tap(":_done")  # none of the emergency signs
    await phone.expect(mark)
    await phone.tap(":symptoms:itch")
    await phone.tap(":_done")
    await phone.expect(mark)
    await phone.tap(":_done")  # not a mole
    for step in ("pregnant", "immunosuppressed", "diabetes"):
        await phone.expect(mark)
        await phone.tap(f":{step}:no")
    await phone.expect(mark)
    await phone.tap(":skin_type:IV")  # how the skin reacts to sun: asked in plain words, never changes the tier


def _model(answer: str) -> ModelClient:
    body = {"differential": [{"condition": "atopic_dermatitis", "likelihood": 0.8},
                             {"condition": "other", "likelihood": 0.2}],
            "findings": ["dry patches"], "image_quality": ["good"], "answer": answer, "language": "en",
            "backend": "hf", "model_id": "m", "model_revision": "", "timings": {}}
    return ModelClient("http://model.test", timeout_s=5, max_attempts=1, backoff_s=0,
                       transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)))


EXPECTED = {
    "en": ("Face", "Send for assessment", "being analysed", "Routine", "question has been sent"),
    "es": ("Cara", "Enviar para evaluación", "analizando", "Rutina", "Hemos enviado su pregunta"),
    "fr": ("Visage", "Envoyer pour évaluation", "en cours d'analyse", "Consultation normale",
           "Votre question a été envoyée"),
    "pt": ("Rosto", "Enviar para avaliação", "enviado para análise", "Consulta normal", "A sua pergunta foi enviada"),
    "ar": ("الوجه", "إرسال للتقييم", "قيد الفحص", "موعد عادي", "تم إرسال سؤالك"),
    "sw": ("Uso", "Tuma ili lichunguzwe", "linachunguzwa", "Miadi ya kawaida", "Swali lako limetumwa"),
    "hi": ("चेहरा", "जांच के लिए भेजें", "जांच हो रही है", "सामान्य अपॉइंटमेंट", "आपका सवाल भेज दिया गया"),
}


@pytest.mark.parametrize("language", list(EXPECTED))
async def test_the_whole_happy_path_in_each_language(web: TestClient[Any, Any], telegram: FakeBotAPI,
                                                     language: str) -> None:
    assert set(EXPECTED) == set(LANGUAGES)
    site, submit_label, analysing, tier_word, followup = EXPECTED[language]
    phone = PatientPhone(web, telegram, 100, language=language)
    await _consent(phone)
    await _photo(phone)
    await _questionnaire(phone)
    await phone.expect(t(language, "ask_text")[:25])
    await phone.send("It itches at night")
    summary = await phone.expect(site)
    assert "It itches at night" in summary
    assert any(_visible(b["text"]) == f"✅ {submit_label}" for b in phone.keyboard())
    await phone.tap(":submit")
    await phone.expect(analysing)

    case = _case(web)
    assert case.status == CaseStatus.QUEUED and case.language == language
    assert case.answers == {"patient": {"age_years": 35, "age_answer": {"group": "adult"}, "pregnant": False,
                                        "immunosuppressed": False, "diabetes": False, "skin_type": "IV"},
                            "answers": {"symptoms": ["itch"], "body_sites": ["face"], "duration_days": 3,
                                        "extent": "single_spot"}}
    assert case.patient_text == "It itches at night"

    # The worker's part, in-process: the web process's outbox sender delivers the result.
    svc = services(web)
    config = pipeline.PipelineConfig(clinician_chat_id=None, stuck_after_s=600)
    answer = "The photo shows dry, slightly red skin. Keep it moisturised and see a doctor if it spreads."
    outcome = await asyncio.to_thread(pipeline.analyze_case, svc.sessions, svc.images, _model(answer), config,
                                      case.id)
    assert outcome == "triaged"
    result = await phone.expect(tier_word)
    # The model answered in English: the patient reads its words only when they are in the patient's language.
    assert (answer in result) == (language == "en")
    # Follow-up question about the result goes to the queue with the case.
    await phone.send("Can I use a moisturiser?")
    await phone.expect(followup)
    await _until(lambda: any(b"triage.answer_question" in f.read_bytes()
                             for f in (Path(svc.settings.data_dir) / "broker" / "queue").glob("*.msg")))
    with svc.sessions() as session:
        assert session.scalar(select(Message.text).where(Message.role == "patient").order_by(Message.id.desc())) \
            == "Can I use a moisturiser?"


async def test_a_red_flag_answer_shows_emergency_advice_at_once(web: TestClient[Any, Any],
                                                                telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 101)
    await _consent(phone)
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.tap(":age:adult")
    for _ in range(3):
        await phone.expect("?")
        await phone.tap(":_skip" if "_skip" in str(phone.keyboard()) else ":_done")
    await phone.expect("Right now")
    await phone.tap(":emergency:difficulty_breathing")
    await phone.tap(":_done")
    advice = await phone.expect("suggest an emergency")
    assert "emergency department" in advice
    assert _case(web).status == CaseStatus.COLLECTING  # advice came before any model call
    # The emergency comes first, alone: no routine question follows until the patient chooses to go on.
    await phone.settle()
    assert phone.messages()[-1] == advice
    assert {b["text"] for b in phone.keyboard()} == {"Send the case now", "Finish the questions"}
    await phone.tap(":go")
    await phone.expect("Which of these")  # the next question, only now
    await phone.tap(":_done")
    await phone.expect("?")
    assert "suggest an emergency" not in phone.messages()[-1]  # said once, not after every answer


async def test_after_emergency_advice_the_case_can_be_sent_at_once(web: TestClient[Any, Any],
                                                                   telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 111)
    await _consent(phone)
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.send("5 weeks")
    await phone.expect("Where on the body")
    for _ in range(3):
        await phone.tap(":_skip" if "_skip" in str(phone.keyboard()) else ":_done")
        await phone.expect("?")
    await phone.tap(":emergency:fever")
    await phone.tap(":emergency:non_blanching_rash")
    await phone.tap(":_done")
    await phone.expect("suggest an emergency")
    await phone.tap(":send")
    summary = await phone.expect("Age: 5 weeks")  # what the patient typed, not "0.1 years"
    assert "Send" in str(phone.keyboard())
    await phone.tap(":submit")
    await phone.expect("being analysed")
    assert _case(web).status == CaseStatus.QUEUED
    del summary


async def test_typed_age_back_and_skip(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 102)
    await _consent(phone)
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.send("hello")
    await phone.expect("buttons")
    await phone.send("8 months")
    await phone.expect("Where on the body")
    assert _case(web).answers["patient"]["age_years"] == 0.67
    await phone.tap(":_back")
    await phone.expect("How old")
    await phone.tap(":_skip")
    await phone.expect("Where on the body")
    assert "age_years" not in _case(web).answers["patient"]


async def test_a_restart_mid_questionnaire_resumes_and_refuses_old_buttons(
    telegram: FakeBotAPI, migrated: str, tmp_path: Path
) -> None:
    first = await start_web(telegram, migrated, tmp_path)
    phone = PatientPhone(first, telegram, 103)
    await _consent(phone)
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.tap(":age:older")
    await phone.expect("Where on the body")
    await phone.tap(":body_sites:legs")
    old_button = next(b["callback_data"] for b in phone.keyboard() if b["callback_data"].endswith(":_done"))
    await first.close()  # the web process restarts

    second = await start_web(telegram, migrated, tmp_path)
    try:
        phone.web = second
        await phone.send("/start")
        await phone.expect("continue where you left off")
        await phone.expect("Where on the body")
        assert "✓ Legs" in [b["text"] for b in phone.keyboard()]
        await phone.tap_data(old_button)  # a button of the message shown before the restart
        await telegram.wait_for(lambda calls: phone.alerts(), timeout=10)
        assert "earlier message" in phone.alerts()[-1]
        await phone.tap(":_done")
        await phone.expect("How long")
        assert _case(second).answers["answers"]["body_sites"] == ["legs"]
        assert _case(second).answers["patient"]["age_years"] == 70
    finally:
        await second.close()


async def test_two_patients_at_once_never_see_each_others_data(web: TestClient[Any, Any],
                                                                telegram: FakeBotAPI) -> None:
    alice, bob = PatientPhone(web, telegram, 201), PatientPhone(web, telegram, 202, language="fr")

    async def run(phone: PatientPhone, secret: str) -> None:
        await _consent(phone)
        await phone.photo(skin_photo(), caption=secret)
        await phone.expect("✓")
        await _questionnaire(phone)
        await phone.expect(t(phone.language, "ask_text")[:25])
        await phone.tap(":skip")
        await phone.expect(secret)
        await phone.tap(":submit")
        await phone.expect(t(phone.language, "analysing")[:25])

    await asyncio.gather(run(alice, "ALICE-SECRET"), run(bob, "BOB-SECRET"))
    assert not any("BOB-SECRET" in m for m in alice.messages())
    assert not any("ALICE-SECRET" in m for m in bob.messages())
    with services(web).sessions() as session:
        rows = {p.telegram_user_id: [c.patient_text for c in p.cases] for p in session.scalars(select(Patient))}
    assert rows == {201: ["ALICE-SECRET"], 202: ["BOB-SECRET"]}
    await alice.send("/history")
    history = await alice.expect("Your cases")
    assert history.count("#") == 1


async def test_photos_one_to_three_retake_replaces_a_poor_one(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    import io

    from PIL import Image

    phone = PatientPhone(web, telegram, 104)
    await _consent(phone)
    dark = io.BytesIO()
    Image.new("RGB", (640, 480), (5, 5, 5)).save(dark, format="JPEG")
    await phone.photo(dark.getvalue())
    await phone.expect("too dark")
    await phone.photo(skin_photo())  # the retake replaces the dark photo
    await phone.expect("Photo 1 received")
    await phone.photo(skin_photo(800, 600))
    await phone.expect("Photo 2 received")
    await phone.document(skin_photo(fmt="PNG", with_gps=False), "close.png", "image/png")
    await phone.expect("Photo 3 received")
    await phone.photo(skin_photo())
    await phone.expect("already sent 3 photos")
    assert _count(web, CaseImage) == 3
    assert len(list((Path(services(web).settings.data_dir) / "images").rglob("*.bin"))) == 3


async def test_an_album_arrives_as_separate_photos(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 105)
    await _consent(phone)
    for n in range(2):
        update = telegram.photo_update(105, skin_photo())
        update["message"]["media_group_id"] = "album-1"
        await phone.post(update)
        await phone.expect(f"Photo {n + 1} received")
    assert _count(web, CaseImage) == 2


BAD_FILES = [
    (lambda: (b"%PDF-1.4 not an image", "photo.jpg", "image/jpeg", None), "could not read"),
    (lambda: (gif_image(), "a.gif", "image/gif", None), "could not read"),
    (lambda: (png_bomb(), "bomb.png", "image/png", None), "too large to process"),
    (lambda: (skin_photo()[:3000], "cut.jpg", "image/jpeg", None), "could not read"),
    (lambda: (b"x", "huge.jpg", "image/jpeg", 25 * 1024 * 1024), "too large"),
    (lambda: (b"%PDF-1.7", "report.pdf", "application/pdf", None), "could not read"),
]


@pytest.mark.parametrize(("make", "expected"), BAD_FILES,
                         ids=["pdf-renamed-jpg", "gif", "decompression-bomb", "corrupted-jpeg", "25mb", "pdf"])
async def test_bad_files_get_a_clear_reply_and_nothing_is_stored(
    web: TestClient[Any, Any], telegram: FakeBotAPI, make: Any, expected: str
) -> None:
    phone = PatientPhone(web, telegram, 106)
    await _consent(phone)
    data, name, mime, declared = make()
    await phone.document(data, name, mime, declared)
    await phone.expect(expected)
    assert _count(web, CaseImage) == 0
    assert not list((Path(services(web).settings.data_dir) / "images").rglob("*.bin"))
    await _photo(phone, "Photo 1 received")  # the patient can go on


OTHER_MESSAGES = {
    "sticker": {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512,
                            "is_animated": False, "is_video": False, "type": "regular"}},
    "voice": {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
    "video": {"video": {"file_id": "v", "file_unique_id": "v", "width": 1, "height": 1, "duration": 1}},
    "location": {"location": {"latitude": 51.5, "longitude": -0.1}},
    "contact": {"contact": {"phone_number": "+100", "first_name": "X"}},
}


@pytest.mark.parametrize("kind", list(OTHER_MESSAGES))
async def test_other_kinds_of_message_get_guidance_at_every_step(web: TestClient[Any, Any], telegram: FakeBotAPI,
                                                                 kind: str) -> None:
    phone = PatientPhone(web, telegram, 107)
    await phone.other(**OTHER_MESSAGES[kind])
    await phone.expect("/start")  # before consent
    await _consent(phone)
    await phone.other(**OTHER_MESSAGES[kind])
    reply = await phone.expect("only read photos")
    assert "photo of the skin" in reply
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.other(**OTHER_MESSAGES[kind])
    assert "buttons" in await phone.expect("only read photos")
    await phone.photo(skin_photo())  # a photo where a button is expected: a late part of the album, kept
    await phone.expect("Photo 2 added to the case")


async def test_text_where_a_photo_is_expected(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 108)
    await _consent(phone)
    await phone.send("here it is")
    await phone.expect("Please send a photo")


async def test_many_messages_per_second_are_limited(telegram: FakeBotAPI, migrated: str, tmp_path: Path) -> None:
    web = await start_web(telegram, migrated, tmp_path, RATE_LIMIT_BURST="10", RATE_LIMIT_PER_S="0.01")
    phone = PatientPhone(web, telegram, 109)
    await asyncio.gather(*(phone.send("/help") for _ in range(30)))
    await phone.expect("very fast")
    await asyncio.sleep(0.5)
    replies = phone.messages()
    assert sum("very fast" in m for m in replies) == 1
    assert sum("/new" in m for m in replies) == 10  # the burst; no refill at 0.01/s within the test
    other = PatientPhone(web, telegram, 110)  # another patient is not slowed down
    await other.send("/help")
    await other.expect("/new")
    await web.close()


async def test_commands(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 111)
    await phone.send("/status")
    await phone.expect("/start")
    await _consent(phone)
    await phone.send("/cancel")
    await phone.expect("Cancelled")
    assert _case(web).status == CaseStatus.WITHDRAWN
    await phone.send("/cancel")
    await phone.expect("nothing to cancel")
    await phone.send("/status")
    await phone.expect("not sent any case")
    await phone.send("/language")
    await phone.expect("Choose your language")
    await phone.tap("lang:es")
    await phone.expect("español")
    await phone.send("/new")
    await phone.expect("10 cm")
    await phone.send("/help")
    await phone.expect("/delete")
    await phone.send("/nonsense")
    await phone.expect("/history")


async def test_old_and_forged_buttons_are_refused(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 112)
    for data in ("q:999:age:adult", "q:x:y", "cf:1:submit", "ph:5:done", "ft:3:skip", "garbage", "q:0:nope:1"):
        await phone.tap_data(data)
    await telegram.wait_for(lambda calls: len(phone.alerts()) >= 7, timeout=10)
    assert all("earlier message" in a for a in phone.alerts())
    assert _count(web, Case) == 0


async def test_a_forged_action_on_the_confirmation_screen_changes_nothing(web: TestClient[Any, Any],
                                                                           telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 113)
    await _consent(phone)
    await _photo(phone)
    await _questionnaire(phone)
    await phone.expect("Anything else")
    await phone.tap(":skip")
    await phone.expect("Please check")
    submit = next(b["callback_data"] for b in phone.keyboard() if b["callback_data"].endswith(":submit"))
    await phone.tap_data(submit.replace(":submit", ":bogus"))
    await telegram.wait_for(lambda calls: phone.alerts(), timeout=10)
    assert _case(web).status == CaseStatus.COLLECTING
    await phone.tap_data(submit)
    await phone.expect("being analysed")
    assert _case(web).status == CaseStatus.QUEUED


async def test_not_sure_is_recorded_as_unknown_not_no_and_shown_back(web: TestClient[Any, Any],
                                                                     telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 112)
    await _consent(phone)
    await _photo(phone)
    await phone.tap(":done")
    await phone.expect("How old")
    await phone.tap(":age:adult")
    for _ in range(4):  # where, how long, how much, emergency signs
        await phone.expect("?")
        await phone.tap(lambda data: data.endswith((":_skip", ":_done")))
    await phone.expect("Which of these do you have")
    await phone.tap(":symptoms:itch")
    await phone.tap(":_done")
    await phone.expect("mole or a spot")
    await phone.tap(":mole:changing_size")
    await phone.tap(":_unsure")  # the patient does not know about the rest
    await phone.expect("pregnant")
    answers = _case(web).answers["answers"]
    assert "changing_size" in answers["symptoms"]
    assert answers["skipped"] == ["changing_shape", "changing_colour", "diameter_7mm_or_more", "change_in_sensation"]
    await phone.tap(":_back")  # back to the mole question, answered this time: no longer unknown
    await phone.expect("mole or a spot")
    await phone.tap(":_done")
    await phone.expect("pregnant")
    assert "skipped" not in _case(web).answers["answers"]
    await phone.tap(":_back")
    await phone.expect("mole or a spot")
    await phone.tap(":_unsure")
    for _ in range(4):  # pregnant, immune system, diabetes, skin type: skipped
        await phone.expect("?")
        await phone.tap(":_skip")
    await phone.tap(":skip")  # no words
    summary = await phone.expect("Please check")
    assert f"Not sure about: {t('en', 'symptom.changing_shape')}, {t('en', 'symptom.changing_colour')}" in summary
