"""The bot's key messages as a phone shows them: an HTML page of Telegram-like bubbles and inline buttons, built
from the real texts and keyboards (bot/texts.py, bot/conversation/, bot/render.py), laid out the way Telegram
lays out a message (each line takes its own direction from its first strong letter: `dir="auto"` per line), at a
phone's width, in the Noto fonts (Debian: fonts-noto-core).

    python -m tests.phone_screens docs/screenshots      # writes phone-<lang>-<screen>.png (needs Chromium)

tests/test_phone_screens.py drives the same pages in headless Chromium and checks what can be measured.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardMarkup

from bot import questionnaire as qn
from bot.conversation.consent import consent_keyboard
from bot.conversation.photos import photos_keyboard
from bot.conversation.questions import question_keyboard, summary
from bot.render import patient_result
from bot.texts import date, joined, t
from triage.cases import CaseView

PHONE_WIDTH = 390  # CSS pixels: a common phone (iPhone 12-15) in portrait
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
Bubble = tuple[str, InlineKeyboardMarkup | None]

STYLE = """
body { margin: 0; background: #cfe0c3; font: 15px/1.35 "Noto Sans", "Noto Sans Arabic", "Noto Sans Devanagari",
  "Noto Naskh Arabic", sans-serif; }
.chat { width: %(width)dpx; box-sizing: border-box; padding: 10px 8px 14px; }
.msg { max-width: 88%%; margin: 0 0 10px; }
.msg.out { margin-left: auto; }
.bubble { background: #fff; border-radius: 12px; padding: 7px 10px; box-shadow: 0 1px 1px rgba(0,0,0,.15);
  overflow-wrap: break-word; }
.out .bubble { background: #effdde; }
.line { min-height: 1.35em; white-space: pre-wrap; }
.keyboard { margin-top: 3px; }
.row { display: flex; gap: 3px; margin-top: 3px; }
.button { flex: 1 1 0; min-width: 0; background: rgba(76, 104, 80, .62); color: #fff; border-radius: 8px;
  padding: 8px 4px; text-align: center; font-size: 14px; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; }
.meta { font-size: 11px; color: #6b8f63; margin: 2px 4px 8px; }
"""


def _lines(text: str) -> str:
    """Telegram HTML (only <b> and <i>) as one block per line, each line taking its own direction."""
    return "".join(f'<div class="line" dir="auto">{line or "&#8203;"}</div>' for line in text.split("\n"))


def _keyboard(markup: InlineKeyboardMarkup | None) -> str:
    if markup is None:
        return ""
    rows = "".join(
        '<div class="row">'
        + "".join(f'<div class="button" dir="auto">{html.escape(button.text)}</div>' for button in row)
        + "</div>"
        for row in markup.inline_keyboard
    )
    return f'<div class="keyboard">{rows}</div>'


def page(bubbles: Sequence[Bubble], language: str, outgoing: Sequence[int] = ()) -> str:
    """A whole chat page: the bot's messages (and the patient's, at the indexes in `outgoing`)."""
    items = []
    for index, (text, markup) in enumerate(bubbles):
        side = "out" if index in outgoing else "in"
        items.append(f'<div class="msg {side}"><div class="bubble">{_lines(text)}</div>{_keyboard(markup)}</div>')
    return (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            f'<style>{STYLE % {"width": PHONE_WIDTH}}</style></head>'
            f'<body><div class="chat">{"".join(items)}</div></body></html>')


def _case(language: str) -> CaseView:
    answers = {"patient": {"age_years": 0.67, "age_answer": {"n": 8, "unit": "months"}, "pregnant": False},
               "answers": {"body_sites": ["face", "near_eye"], "duration_days": 3, "extent": "small_area",
                           "symptoms": ["itch", "blisters", "near_eye"]}}
    words = {"ar": "عنده حبوب من 3 أيام وحرارته 38.5", "hi": "3 दिन से दाने हैं, बुखार 101 है"}
    return CaseView(1234, "collecting", None, answers, words.get(language, "3 days, fever 38.5"), 2, ["good"],
                    dt.datetime(2026, 11, 28, 9, 30), False)


def screens(language: str) -> dict[str, tuple[list[Bubble], tuple[int, ...]]]:
    """The key screens of one language: name -> (bubbles, indexes of the patient's own messages)."""
    case = _case(language)
    answers = case.answers
    age, body_sites, emergency = qn.BY_KEY["age"], qn.BY_KEY["body_sites"], qn.BY_KEY["emergency"]
    result = patient_result({
        "language": language, "tier": "urgent", "forwarded": True, "model_used": True, "reasons": [],
        "findings": ["grouped blisters on red skin"],
        "differential": [{"condition": "herpes_zoster", "likelihood": 0.6}, {"condition": "impetigo",
                                                                           "likelihood": 0.2}],
    })
    history = "\n".join([t(language, "history_title")] + [
        joined(language, [f"#{case_id}", date(language, when), t(language, f"status.{status}"),
                          t(language, f"tier_name.{tier}")])
        for case_id, when, status, tier in ((1234, dt.date(2026, 11, 28), "forwarded", "urgent"),
                                            (987, dt.date(2026, 3, 2), "closed", "self_care"))])
    return {
        "start": ([(t(language, "consent", days=30), consent_keyboard(language)),
                   (t(language, "ask_photo"), None),
                   (t(language, "photo_received", n=1) + "\n" + t(language, "photo_more"),
                    photos_keyboard(language, 1))], ()),
        "questions": ([(t(language, age.prompt), question_keyboard(age, language, answers, 2)),
                       ("٨ أشهر" if language == "ar" else "8 महीने", None),
                       (t(language, body_sites.prompt), question_keyboard(body_sites, language, answers, 3)),
                       (t(language, emergency.prompt), question_keyboard(emergency, language, answers, 4))], (1,)),
        "summary": ([(summary(language, case), InlineKeyboardMarkup([[b] for b in _confirm_buttons(language)])),
                     (t(language, "analysing"), None), (result, None)], ()),
        "commands": ([("/status", None),
                      (t(language, "status_line", id=1234, status=t(language, "status.forwarded"),
                         tier=t(language, "tier_name.urgent")), None),
                      ("/history", None), (history, None), (t(language, "help"), None)], (0, 2)),
    }


def _confirm_buttons(language: str) -> list[Any]:
    from telegram import InlineKeyboardButton

    return [InlineKeyboardButton(t(language, key), callback_data=key) for key in ("btn_submit", "btn_change",
                                                                               "btn_cancel")]


FONTS = ("Noto Sans", "Noto Sans Arabic", "Noto Sans Devanagari")  # Debian: fonts-noto-core


def missing_fonts() -> list[str]:
    """The Noto families the pages use that fontconfig cannot find (all of them when fc-list is missing)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return list(FONTS)
    installed = subprocess.run([fc_list, ":", "family"], capture_output=True, text=True, timeout=60).stdout
    families = {name.strip() for line in installed.splitlines() for name in line.split(",")}
    return [family for family in FONTS if family not in families]


@contextmanager
def browser() -> Iterator[Any]:
    """Headless Chromium at a phone's width (Selenium); raises RuntimeError when Chromium, its driver or the Noto
    fonts are missing."""
    if CHROMIUM is None or DRIVER is None:
        raise RuntimeError("needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    if missing_fonts():
        raise RuntimeError(f"needs the fonts {missing_fonts()} (Debian: apt-get install fonts-noto-core)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--force-device-scale-factor=1", f"--window-size={PHONE_WIDTH},900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def show(driver: Any, folder: Path, language: str, name: str) -> Path:
    """Write the page of one screen to `folder` and open it; return the page's path."""
    bubbles, outgoing = screens(language)[name]
    path = folder / f"phone-{language}-{name}.html"
    path.write_text(page(bubbles, language, outgoing), encoding="utf-8")
    driver.get(path.as_uri())
    return path


def screenshot(driver: Any) -> bytes:
    """The chat as a small PNG (256 colours: the screenshots are committed)."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    height = driver.execute_script("return document.querySelector('.chat').getBoundingClientRect().height")
    driver.set_window_size(PHONE_WIDTH, int(height) + 140)  # the window's frame takes some of its height
    raw = driver.find_element(By.CSS_SELECTOR, ".chat").screenshot_as_png
    image = Image.open(io.BytesIO(raw)).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main(argv: Sequence[str]) -> int:
    """Write the screenshots of every screen in Arabic and Hindi to the folder named in `argv`."""
    folder = Path(argv[0] if argv else "docs/screenshots").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    pages = folder / "pages"
    pages.mkdir(exist_ok=True)
    with browser() as driver:
        for language in ("ar", "hi"):
            for name in screens(language):
                show(driver, pages, language, name)
                (folder / f"phone-{language}-{name}.png").write_bytes(screenshot(driver))
    shutil.rmtree(pages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
