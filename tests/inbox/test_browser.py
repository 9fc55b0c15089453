"""The inbox in a real browser (headless Chromium through Selenium): sign in, the queue, a case, reply, close.

Skipped with a reason when Chromium, its driver or Selenium is missing, except under CI=true, where that is a
failure (`.ci/run` installs them). Screenshots go to /tmp/inbox-queue.png, /tmp/inbox-case.png,
/tmp/inbox-dashboard.png and /tmp/inbox-queue-phone.png for a person to look at.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import inbox
from tests.conftest import IN_CI, migrate
from tests.inbox.conftest import HOSTILE, PASSWORD, World, inbox_settings
from triage.db import make_engine, make_sessionmaker
from triage.models import Case, Outbox

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _require_browser() -> Any:
    missing = []
    if CHROMIUM is None:
        missing.append("chromium")
    if DRIVER is None:
        missing.append("chromedriver (Debian: chromium-driver)")
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (pip install selenium)")
    if missing:
        message = f"browser tests need {', '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires them")
        pytest.skip(f"{message}; apt-get install chromium chromium-driver to run them")
    return webdriver


@pytest.fixture
def sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    """One backend is enough here: the views' database work is tested on both in test_views.py."""
    migrate(sqlite_url)
    engine = make_engine(sqlite_url, pool_size=4)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def driver() -> Iterator[Any]:
    webdriver = _require_browser()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    browser.implicitly_wait(5)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def base_url(world: World, tmp_path: Path) -> Iterator[str]:
    """The inbox served from a thread of its own, so that the browser test itself can block."""
    app = web.Application()
    inbox.setup(
        app, inbox_settings(tmp_path), services=lambda: world.services, config=inbox.InboxConfig(cookie_secure=False)
    )
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="inbox-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _screenshot(driver: Any, path: str, height: int) -> None:
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, height)
    driver.save_screenshot(path)


def test_a_clinician_signs_in_opens_a_case_replies_and_closes_it(driver: Any, base_url: str, world: World) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def find(css: str) -> Any:
        return driver.find_element(By.CSS_SELECTOR, css)

    def expect(css: str, text: str) -> None:
        """Wait until the new page shows `text` in `css` (a click returns before the next page is in)."""
        WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: text in d.find_element(By.CSS_SELECTOR, css).text
        )

    case_id = world.cases["emergency"]
    # Anonymous: the queue sends the browser to sign in, and back to the queue afterwards.
    driver.get(f"{base_url}/inbox/")
    assert "/inbox/login" in driver.current_url
    find("input[name=email]").send_keys(world.people["alice"].email)
    find("input[name=password]").send_keys(PASSWORD)
    find("form.stack button[type=submit]").click()
    expect("h1", "Queue")
    assert driver.current_url.endswith("/inbox/")

    rows = driver.find_elements(By.CSS_SELECTOR, "table.queue tr.row")
    tiers = [row.find_element(By.CSS_SELECTOR, ".tier").text.lower() for row in rows]
    assert tiers == ["emergency", "urgent", "routine"]
    assert "Dr Alice" in find(".who").text
    _screenshot(driver, "/tmp/inbox-queue.png", 900)

    find(f"a[href='/inbox/cases/{case_id}']").click()
    expect("h1", f"Case #{case_id}")
    assert driver.current_url.endswith(f"/inbox/cases/{case_id}")
    assert HOSTILE in find(".quote").text  # shown as text, never run
    photo = find(".photo img")
    assert int(photo.get_property("naturalWidth")) == 320  # decrypted and served through the inbox
    find("#actions button[type=submit]").click()  # Claim
    expect(".notice.ok", "You have claimed this case.")
    _screenshot(driver, "/tmp/inbox-case.png", 1700)

    find("textarea[name=reply]").send_keys("Please come to the clinic today. <b>Bring</b> your meds.")
    find("form[action$='/reply'] button").click()
    expect(".notice.ok", "on its way")
    assert "<b>Bring</b>" in find(".msg.clinician .text").text

    Select(find("select[name=diagnosis]")).select_by_value("eczema_herpeticum")
    Select(find("select[name=disposition]")).select_by_value("seen_in_clinic")
    find("form[action$='/outcome'] button").click()
    expect(".notice.ok", "recorded")
    find("form[action$='/close'] button").click()
    expect(".notice.ok", "The case is closed.")

    with world.services.sessions() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.final_diagnosis, case.disposition) == (
            "closed",
            "eczema_herpeticum",
            "seen_in_clinic",
        )
        kinds = list(session.scalars(select(Outbox.kind).where(Outbox.case_id == case_id)))
        assert kinds == ["clinician_reply"]

    driver.get(f"{base_url}/inbox/dashboard")
    assert find("svg.chart rect") is not None
    _screenshot(driver, "/tmp/inbox-dashboard.png", 1500)

    # The same queue on a phone: one column, nothing cut off sideways.
    driver.set_window_size(390, 844)
    driver.get(f"{base_url}/inbox/?status=all")
    scroll_width = int(find("body").get_property("scrollWidth"))
    assert scroll_width <= 400
    driver.save_screenshot("/tmp/inbox-queue-phone.png")


def test_the_lesion_timeline_shows_each_visits_photo_with_its_outline(driver: Any, base_url: str,
                                                                      world: World) -> None:
    from selenium.webdriver.common.by import By

    from tests.tracking_world import two_visits

    ids = two_visits(world.services.sessions, world.services.images, user=880002, organisation="north")
    driver.get(f"{base_url}/inbox/login")
    driver.find_element(By.CSS_SELECTOR, "input[name=email]").send_keys(world.people["alice"].email)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
    driver.find_element(By.CSS_SELECTOR, "h1")
    driver.get(f"{base_url}/inbox/cases/{ids['visit']}")
    visits = driver.find_elements(By.CSS_SELECTOR, "#lesion .visit")
    assert len(visits) == 2
    # Side by side: the two columns start at the same height, the photos drawn (not a broken image) and outlined.
    assert visits[0].location["y"] == visits[1].location["y"] and visits[0].location["x"] < visits[1].location["x"]
    photos = driver.find_elements(By.CSS_SELECTOR, "#lesion svg.lesion-photo")
    assert len(photos) == 2 and all(p.size["width"] > 200 and p.size["height"] > 150 for p in photos)
    loaded = driver.execute_script(
        "return Array.from(document.querySelectorAll('#lesion svg image')).map(i => i.getBBox().width)")
    assert all(width > 0 for width in loaded)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#lesion polygon")) == 2
    _screenshot(driver, "/tmp/inbox-lesion.png", 1300)
