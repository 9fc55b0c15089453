"""The bot's key messages at a phone's width, in headless Chromium with the Noto fonts (tests/phone_screens.py):
every button label fits its button in every language, nothing is wider than the phone, and Arabic reads right to
left with its numbers, case numbers and /commands in one piece. Screenshots of Arabic and Hindi are committed under
docs/screenshots/ (`python -m tests.phone_screens docs/screenshots`), for a person to look at.

Skipped with a reason when Chromium, its driver or Selenium is missing, except under CI=true, where that is a
failure (`.ci/run` installs them and the fonts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import InlineKeyboardMarkup

from bot import lesion_render
from bot import questionnaire as qn
from bot.conversation.consent import consent_keyboard
from bot.conversation.questions import question_keyboard
from bot.texts import t
from tests import phone_screens
from tests.conftest import IN_CI
from triage.tracking import LesionView

MEASURE = """
const out = [];
for (const el of document.querySelectorAll('.line')) {
  const node = el.firstChild;
  if (!node || node.nodeType !== 3) continue;
  for (const word of arguments[0]) {
    let at = node.textContent.indexOf(word);
    while (at >= 0) {
      const range = document.createRange();
      range.setStart(node, at); range.setEnd(node, at + word.length);
      const box = range.getBoundingClientRect();
      out.push({word, left: box.left, right: box.right, top: box.top, line: el.getBoundingClientRect().right,
                rtl: el.matches(':dir(rtl)')});
      at = node.textContent.indexOf(word, at + 1);
    }
  }
}
return out;
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    try:
        context = phone_screens.browser()
        browser = context.__enter__()
    except (RuntimeError, ImportError) as error:
        if IN_CI:
            pytest.fail(f"phone screens need Chromium and Selenium, and CI=true requires them: {error}")
        pytest.skip(f"phone screens: {error}")
    try:
        yield browser
    finally:
        context.__exit__(None, None, None)


def _keyboards(language: str) -> list[InlineKeyboardMarkup]:
    answers = qn.empty_answers()
    keyboards = [consent_keyboard(language)]
    keyboards += [question_keyboard(step, language, answers, 1) for step in qn.STEPS]
    for screen in phone_screens.screens(language).values():
        keyboards += [markup for _, markup in screen[0] if markup is not None]
    return keyboards + _lesion_keyboards(language)


def _lesion_keyboards(language: str) -> list[InlineKeyboardMarkup]:
    """Follow this spot, the reminder's and /lesions' buttons (the spot's name in half a row), with a name that
    just fits in English and with the longest a button shows (the same names in every language, so that only the
    words differ)."""
    follow = lesion_render.result_markup({"trackable": 5, "language": language})
    assert follow is not None
    keyboards = [follow]
    for name in ("mole on arm", "mole on left shoulder 12"[:lesion_render.BUTTON_NAME]):
        spots = [LesionView(number, 1, "", name, "arms", status, 28, "tier", dt.datetime(2026, 12, 1),
                            dt.datetime(2026, 11, 1), 2, language) for number, status in ((1, "active"), (2, "paused"))]
        keyboards += [lesion_render.reminder({"language": language, "lesion_id": 1, "name": name})[1],
                      lesion_render.list_markup(language, spots)]
    return keyboards


def _cut_buttons(driver: Any, folder: Path, language: str) -> set[tuple[int, int, int]]:
    """The places (keyboard, row, button) of the labels a phone would cut short, in `language`."""
    bubbles: list[phone_screens.Bubble] = [(t(language, "choose_language"), markup) for markup in _keyboards(language)]
    (folder / f"keyboards-{language}.html").write_text(phone_screens.page(bubbles, language), encoding="utf-8")
    driver.get((folder / f"keyboards-{language}.html").as_uri())
    cut = driver.execute_script("""
        const out = [];
        document.querySelectorAll('.keyboard').forEach((keyboard, k) =>
          keyboard.querySelectorAll('.row').forEach((row, r) =>
            row.querySelectorAll('.button').forEach((button, b) => {
              if (button.scrollWidth > button.clientWidth) out.push([k, r, b]);
            })));
        return out;""")
    return {(k, r, b) for k, r, b in cut}


@pytest.mark.parametrize("language", ["pt", "ar", "sw", "hi"])
def test_no_translated_button_label_is_cut_where_the_english_one_fits(driver: Any, tmp_path: Path,
                                                                       language: str) -> None:
    """Telegram shows a button's label on one line and cuts what does not fit. Some English labels of the
    two-column symptom grid are already cut on a 390 px phone (the layout's doing, reported in bot/README.md);
    a translation must never be cut where the English fits."""
    english = _cut_buttons(driver, tmp_path, "en")
    translated = _cut_buttons(driver, tmp_path, language)
    assert english, "the check measures something: some English labels of the symptom grid are cut"
    labels = [[button.text for row in markup.inline_keyboard for button in row] for markup in _keyboards(language)]
    worse = sorted(translated - english)
    assert worse == [], [labels[k][sum(len(row) for row in _keyboards(language)[k].inline_keyboard[:r]) + b]
                         for k, r, b in worse]


@pytest.mark.parametrize("language", ["ar", "hi"])
@pytest.mark.parametrize("name", ["start", "questions", "summary", "commands"])
def test_the_key_screens_fit_the_phone(driver: Any, tmp_path: Path, language: str, name: str) -> None:
    phone_screens.show(driver, tmp_path, language, name)
    # (the window itself is never narrower than Chromium's minimum: the chat column is the phone)
    width = driver.execute_script("return document.querySelector('.chat').scrollWidth")
    assert width <= phone_screens.PHONE_WIDTH
    overflowing = driver.execute_script(
        "return [...document.querySelectorAll('.bubble')].filter(b => b.scrollWidth > b.clientWidth).length")
    assert overflowing == 0


def test_arabic_lines_read_right_to_left_with_commands_and_case_numbers_whole(driver: Any, tmp_path: Path) -> None:
    phone_screens.show(driver, tmp_path, "ar", "commands")
    boxes = driver.execute_script(MEASURE, ["/", "new", "delete", "#", "1234"])
    arabic_lines = [box for box in boxes if box["rtl"]]
    assert arabic_lines, "the bot's Arabic lines resolve right to left"
    by_word: dict[str, list[dict[str, float]]] = {}
    for box in arabic_lines:
        by_word.setdefault(box["word"], []).append(box)
    for word in ("new", "delete"):  # "/new", not "new/": the slash stays on the command's left
        box = by_word[word][0]
        slash = next(s for s in by_word["/"] if s["top"] == box["top"] and s["right"] <= box["left"] + 1)
        assert box["left"] - slash["right"] < 2
        assert abs(box["right"] - box["line"]) < 12  # and the command starts the line, on its right
    digits = next(b for b in by_word["1234"] if any(h["top"] == b["top"] for h in by_word["#"]))
    mark = next(h for h in by_word["#"] if h["top"] == digits["top"])
    assert mark["right"] <= digits["left"] + 1  # "#1234", not "1234#"
