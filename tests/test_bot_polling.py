"""Polling mode: the same web process, with PTB's updater fetching updates from (the fake) getUpdates."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from tests.bot_harness import connected
from tests.conftest import migrate
from tests.fake_telegram import FakeBotAPI
from triage.config import load_settings


async def test_polling_mode_answers_a_patient_and_has_no_webhook_route(tmp_path: Path, sqlite_url: str) -> None:
    migrate(sqlite_url)
    api = FakeBotAPI()
    await api.start()
    settings = load_settings({
        "DATA_DIR": str(tmp_path), "DATABASE_URL": sqlite_url, "TELEGRAM_BOT_TOKEN": "1:TEST",
        "TELEGRAM_MODE": "polling", "TELEGRAM_API_BASE_URL": api.base_url, "TELEGRAM_API_FILE_URL": api.file_url,
    })
    from bot.app import init_app

    client = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    await connected(client)
    try:
        await api.updates.put(api.text_update(7, "/start", language="fr"))
        await api.wait_for(lambda calls: api.sent("sendMessage", 7), timeout=15)
        assert "pas un diagnostic" in api.sent("sendMessage", 7)[0].params["text"]
        assert api.sent("deleteWebhook")  # polling and a webhook cannot coexist
        assert (await client.post("/telegram/webhook", json={})).status == 404
    finally:
        await client.close()
        await api.stop()
