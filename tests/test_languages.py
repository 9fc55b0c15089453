"""The bot's languages: choosing one, switching, numbers and dates per language, and right-to-left Arabic laid out
so that numbers, names, case numbers and commands stay where they belong (bot/texts.py)."""

from __future__ import annotations

import datetime
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot import questionnaire as qn
from bot.texts import (
    FIRST_STRONG_ISOLATE,
    LANGUAGE_NAMES,
    LANGUAGES,
    LEFT_TO_RIGHT_ISOLATE,
    POP_DIRECTIONAL_ISOLATE,
    RIGHT_TO_LEFT,
    RIGHT_TO_LEFT_MARK,
    catalog,
    date,
    direction,
    isolate,
    joined,
    language_rows,
    number,
    pick_language,
    t,
)
from tests.bot_harness import PatientPhone, services, start_web
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from tests.images import skin_photo
from triage.models import Case

FSI, PDI, LRI, RLM = FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, LEFT_TO_RIGHT_ISOLATE, RIGHT_TO_LEFT_MARK
BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -- choosing a language ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [("pt-BR", "pt"), ("pt-br", "pt"), ("pt_MZ", "pt"), ("ar", "ar"), ("ar-EG", "ar"), ("sw-KE", "sw"),
     ("hi", "hi"), ("HI-in", "hi"), ("es-MX", "es"), ("zz", "en"), ("", "en"), (None, "en"), ("x" * 10_000, "en"),
     ("../../etc/passwd", "en"), ("ar\u202e", "en")],
)
def test_the_telegram_language_code_chooses_the_language(code: str | None, expected: str) -> None:
    assert pick_language(code) == expected


def test_each_language_is_named_in_its_own_script() -> None:
    scripts = {"ar": "ARABIC", "hi": "DEVANAGARI"}
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)
    for code, name in LANGUAGE_NAMES.items():
        letters = [unicodedata.name(char) for char in name if char.isalpha()]
        assert letters and all(scripts.get(code, "LATIN") in letter for letter in letters), (code, name)


def test_the_language_buttons_fit_a_phone_in_even_rows() -> None:
    rows = language_rows()
    assert [code for row in rows for code in row] == list(LANGUAGES)
    assert all(1 <= len(row) <= 3 for row in rows)
    assert max(map(len, rows)) - min(map(len, rows)) <= 1
    assert language_rows(per_row=2) == [["en", "es"], ["fr", "pt"], ["ar", "sw"], ["hi"]]


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_translation_carries_the_whole_english_text_for_the_translator(language: str) -> None:
    from babel.messages.pofile import read_po

    from bot.texts import LOCALES

    english = catalog("en")
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        for message in read_po(fh):
            if message.id:
                shown = " ".join(" ".join(message.auto_comments).split())
                assert shown == " ".join(("en: " + " / ".join(english[str(message.id)].splitlines())).split()), (
                    message.id)


@pytest.mark.parametrize("language", ["pt", "ar", "sw", "hi"])
def test_the_new_languages_keep_a_glossary_of_their_clinical_words(language: str) -> None:
    from bot.texts import LOCALES

    glossary = (LOCALES / "glossary" / f"{language}.md").read_text(encoding="utf-8")
    for key in ("non_blanching_rash", "mucosal_involvement", "immunosuppressed", "blisters", "skin_peeling",
                "difficulty_breathing", "fever", "non_healing"):
        row = next((line for line in glossary.splitlines() if line.startswith(f"| `{key}`")), None)
        assert row is not None, (language, key)
        chosen = row.split("|")[2].strip()
        messages = catalog(language)
        label = messages.get(f"symptom.{key}") or messages[f"sum.{key}"]
        assert chosen.split(" (")[0].casefold() in label.casefold(), (language, key, chosen)


# -- numbers and dates -------------------------------------------------------------------------------------------
def test_numbers_and_dates_are_written_the_language_s_way() -> None:
    assert [number(lang, 1.5) for lang in ("en", "pt", "fr", "ar", "hi")] == ["1.5", "1,5", "1,5", "1.5", "1.5"]
    assert number("pt", 12345) == "12345"  # a case number is never grouped
    assert number("hi", 0.67) == "0.67"
    day = datetime.date(2026, 11, 28)
    assert date("en", day) == "Nov 28, 2026"
    assert date("pt", day) == "28 de nov. de 2026"
    assert "नव" in date("hi", day) and "2026" in date("hi", day)
    assert date("zz", day) == date("en", day)
    assert t("pt", "age_value.months", n=1.5) == "1,5 meses"
    assert t("es", "age_value.months", n=1.5) == "1,5 meses"


# -- right to left ------------------------------------------------------------------------------------------------
def test_only_arabic_is_right_to_left() -> None:
    assert RIGHT_TO_LEFT == {"ar"}
    assert [direction(lang) for lang in LANGUAGES] == ["ltr", "ltr", "ltr", "ltr", "rtl", "ltr", "ltr"]


def test_in_arabic_every_value_is_isolated_and_every_line_marked_right_to_left() -> None:
    text = t("ar", "status_line", id=1234, status=t("ar", "status.closed"), tier="urgent")
    assert f"{FSI}1234{PDI}" in text  # the case number keeps its digits in order
    assert f"{FSI}urgent{PDI}" in text  # an English word does not drag the sentence's direction with it
    assert text.startswith(RLM)
    header = t("ar", "clinician_reply_header", clinician="Dr Amelia Jones")
    assert f"{FSI}Dr Amelia Jones{PDI}" in header
    summary = t("ar", "sum.text", value="j'ai mal\nsince 2 days")
    assert f"{FSI}j'ai mal{PDI}\n{RLM}{FSI}since 2 days{PDI}" in summary  # each line of the patient's words
    assert all(line.startswith(RLM) for line in t("ar", "help").split("\n"))


def test_in_arabic_commands_stay_in_one_piece() -> None:
    text = t("ar", "help")
    for command in ("/new", "/status", "/history", "/language", "/cancel", "/delete"):
        assert f"{LRI}{command}{PDI}" in text
    assert f"{LRI}/start{PDI}" in t("ar", "cancelled")


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang not in RIGHT_TO_LEFT])
def test_left_to_right_languages_are_unchanged(language: str) -> None:
    messages = catalog(language)
    assert t(language, "help") == messages["help"]
    assert t(language, "status_line", id=7, status="x", tier="y") == messages["status_line"].format(
        id="7", status="x", tier="y")
    assert not BIDI_CONTROLS & set(t(language, "sum.text", value="قالت: ١٢"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_keeps_its_markup_whole_after_formatting(language: str) -> None:
    """Telegram refuses a whole message whose HTML does not parse: the direction marks must never split a tag
    (the "/b" of "</b>" is no /command)."""
    import re

    for key, text in catalog(language).items():
        values = {name: "Dr X 12" for name in re.findall(r"{(\w+)}", text)}
        shown = t(language, key, **values)
        assert re.findall(r"</?[a-z]+>", shown) == re.findall(r"</?[a-z]+>", text), (language, key)
        assert not re.search(r"<[^a-z/]|</[^a-z]", shown), (language, key)


def test_an_isolate_cannot_be_broken_open_by_the_value() -> None:
    hostile = "\u2069\u202eevil\u202c\u2066x"
    assert isolate(hostile) == f"{FSI}evilx{PDI}"
    text = t("ar", "sum.text", value=hostile)
    assert text.count(FSI) == 1 and text.count(PDI) == 1 and "\u202e" not in text
    assert isolate("") == f"{FSI}{PDI}"
    assert len(t("ar", "sum.text", value="ا" * 100_000)) < 100_100


def test_lists_use_the_language_s_comma() -> None:
    from bot.texts import listing

    assert listing("ar", ["الوجه", "قرب العين"]) == "الوجه، قرب العين"
    assert listing("pt", ["Rosto", "Pés"]) == listing("en", ["Rosto", "Pés"]) == "Rosto, Pés"
    assert listing("hi", []) == ""


def test_a_history_line_keeps_its_parts_apart_in_arabic() -> None:
    line = joined("ar", ["#12", "28\u200f/11\u200f/2026", "مغلقة"])
    assert line == f"{RLM}{FSI}#12{PDI} · {FSI}28\u200f/11\u200f/2026{PDI} · {FSI}مغلقة{PDI}"
    assert joined("en", ["#12", "Nov 28, 2026", "closed"]) == "#12 · Nov 28, 2026 · closed"


def test_the_clinician_alert_isolates_the_patient_s_words() -> None:
    from bot import render

    payload = {"tier": "urgent", "reasons": [], "language": "ar"}
    alert = render.clinician_alert(5, payload, {"answers": {}, "text": "شفايفي منفوخة 39"}, limit=4096)
    assert f"“{FSI}شفايفي منفوخة 39{PDI}”" in alert


# -- typed ages in every language ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "years", "shown"),
    [("٨ أشهر", 0.67, (8, "months")), ("٣٤", 34.0, (34, "years")), ("miezi 8", 0.67, (8, "months")),
     ("wiki 5", 0.1, (5, "weeks")), ("८ महीने", 0.67, (8, "months")), ("5 हफ़्ते", 0.1, (5, "weeks")),
     ("34 anos", 34.0, (34, "years")), ("1,5 meses", 0.12, (1.5, "months")), ("miaka 70", 70.0, (70, "years")),
     ("30 साल", 30.0, (30, "years")), ("8 months", 0.67, (8, "months"))],
)
def test_ages_typed_in_each_language(typed: str, years: float, shown: tuple[float, str]) -> None:
    age = qn.parse_age(typed)
    assert age is not None and age.years == years and (age.number, age.unit) == shown


@pytest.mark.parametrize("typed", ["miezi 8 miezi", "hello", "٨٨٨٨", "8 أشهر أشهر", "", "miezi", "8" * 10_000,
                                   "3 ⁦months⁩", "200 anos"])
def test_what_is_not_an_age_is_refused(typed: str) -> None:
    assert qn.parse_age(typed) is None


def test_the_age_prompt_suggests_what_the_parser_reads() -> None:
    """Each language's age question shows a typed example; that example must be understood."""
    for language in LANGUAGES:
        example = catalog(language)["q.age"].split("<i>")[-1].split("</i>")[0]
        assert qn.parse_age(example) is not None, (language, example)


# -- through the bot ---------------------------------------------------------------------------------------------
@pytest.fixture
async def web(telegram: FakeBotAPI, database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    migrate(database_url)
    client = await start_web(telegram, database_url, tmp_path)
    yield client
    await client.close()


def _rows(phone: PatientPhone) -> list[list[str]]:
    """The latest keyboard of the chat, as rows of callback data."""
    import json

    for call in reversed(phone._chat_calls()):
        markup = call.params.get("reply_markup")
        markup = json.loads(markup) if isinstance(markup, str) else markup
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            return [[button["callback_data"] for button in row] for row in markup["inline_keyboard"]]
    raise AssertionError("no keyboard")


@pytest.mark.slow
async def test_the_phone_s_language_is_the_default_and_the_notice_switches_language(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 301, language="pt-BR")
    await phone.send("/start")
    await phone.expect("Exame da pele")
    rows = _rows(phone)
    assert rows[0] == ["consent:yes:pt", "consent:no:pt"]
    assert rows[1:] == [[f"lang:{code}" for code in row] for row in language_rows()]
    assert "• Português" in [b["text"] for b in phone.keyboard()]
    await phone.tap("lang:ar")
    await telegram.wait_for(lambda calls: any(c.method == "editMessageText" and "فحص الجلد" in c.params["text"]
                                              for c in calls), timeout=10)
    assert "• العربية" in [b["text"] for b in phone.keyboard()]
    await phone.tap("consent:yes:ar")
    await phone.expect("يرجى إرسال")
    assert _case_language(web) == "ar"


@pytest.mark.slow
async def test_a_patient_switches_language_at_any_time(web: TestClient[Any, Any], telegram: FakeBotAPI) -> None:
    phone = PatientPhone(web, telegram, 302, language="en")
    await phone.send("/start")
    await phone.expect("Skin check")
    await phone.tap("consent:yes:en")
    await phone.expect("10 cm")
    current = "en"
    for code, confirmation, help_word in (("sw", "Kiswahili", "futa taarifa zako zote"),
                                          ("hi", "हिन्दी", "अपना सारा डेटा मिटाएं"),
                                          ("ar", "العربية", "مسح كل بياناتك"),
                                          ("pt", "português", "apagar todos os seus dados")):
        await phone.send("/language")
        await phone.expect(t(current, "choose_language"))
        current = code
        assert _rows(phone) == [[f"lang:{c}" for c in row] for row in language_rows()]
        await phone.tap(f"lang:{code}")
        await phone.expect(confirmation)
        await phone.send("/help")
        await phone.expect(help_word)


@pytest.mark.slow
async def test_arabic_ages_summary_status_and_history_read_right_to_left(
    web: TestClient[Any, Any], telegram: FakeBotAPI
) -> None:
    phone = PatientPhone(web, telegram, 303, language="ar")
    await phone.send("/start")
    await phone.expect("؟")
    await phone.tap("consent:yes:ar")
    await phone.expect("يرجى إرسال")
    await phone.photo(skin_photo())
    received = await phone.expect("وصلت الصورة")
    assert f"{FSI}1{PDI}" in received and received.startswith(RLM)
    await phone.tap(":done")
    await phone.expect("كم عمر")
    await phone.send("٨ أشهر")  # Arabic-Indic digits, as an Arabic keyboard types them
    await phone.expect("أين توجد")
    case = _latest_case(web)
    assert case.answers["patient"]["age_years"] == 0.67
    for _ in range(12):
        keyboard = str(phone.keyboard())
        if ":_skip" not in keyboard and ":_done" not in keyboard:
            break
        await phone.tap(":_skip" if ":_skip" in keyboard else ":_done")
        await phone.settle()
    await phone.expect("يمكنك كتابته")
    await phone.send("عندي حكة من 3 أيام")
    summary = await phone.expect("كلماتك")
    assert f"العمر: {FSI}{RLM}8 أشهر{PDI}" in summary  # what was typed, as a number and a unit, kept together
    assert f"«{FSI}عندي حكة من 3 أيام{PDI}»" in summary
    assert all(line.startswith(RLM) for line in summary.split("\n"))
    await phone.tap(":submit")
    await phone.expect("قيد الفحص")
    await phone.send("/status")
    status = await phone.expect("الحالة رقم")
    assert f"{FSI}{case.id}{PDI}" in status
    await phone.send("/history")
    history = await phone.expect("حالاتك")
    line = history.split("\n")[1]
    assert line.startswith(f"{RLM}{FSI}#{case.id}{PDI} · {FSI}") and f"{case.created_at:%Y}" in line


def _latest_case(web: TestClient[Any, Any]) -> Case:
    from sqlalchemy import select

    with services(web).sessions() as session:
        case = session.scalars(select(Case).order_by(Case.id.desc())).first()
        assert case is not None
        session.expunge(case)
        return case


def _case_language(web: TestClient[Any, Any]) -> str:
    return _latest_case(web).language
