from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from triage.config import ConfigError, load_settings


def test_defaults_are_the_embedded_stack() -> None:
    settings = load_settings({})
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_broker_url == "filesystem://"
    assert settings.telegram_mode == "polling"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WEB_PORT": "eighty"}, "WEB_PORT"),
        ({"WEB_PORT": "70000"}, "WEB_PORT"),
        ({"TELEGRAM_MODE": "carrier-pigeon"}, "TELEGRAM_MODE"),
        ({"TELEGRAM_MODE": "webhook"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces!"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"CLINICIAN_CHAT_ID": "the-doctors"}, "CLINICIAN_CHAT_ID"),
        ({"MODEL_SERVER_URL": "ftp://gpu"}, "MODEL_SERVER_URL"),
        ({"MODEL_TIMEOUT_S": "-1"}, "MODEL_TIMEOUT_S"),
        ({"TELEGRAM_BOT_TOKEN_FILE": "/nonexistent/token"}, "TELEGRAM_BOT_TOKEN_FILE"),
        ({"CELERY_QUEUE": "a queue; drop"}, "CELERY_QUEUE"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    message = str(info.value)
    assert names in message
    assert "\n" not in message


def test_secrets_come_from_files_and_never_appear_in_errors(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("123456:SECRET-TOKEN\n")
    settings = load_settings({"TELEGRAM_BOT_TOKEN_FILE": str(token_file)})
    assert settings.telegram_bot_token == "123456:SECRET-TOKEN"
    with pytest.raises(ConfigError, match="both set"):
        load_settings({"TELEGRAM_BOT_TOKEN_FILE": str(token_file), "TELEGRAM_BOT_TOKEN": "x"})
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_WEBHOOK_SECRET": "not valid because of spaces"})
    assert "spaces" not in str(info.value)


def test_the_web_process_exits_2_with_a_clear_message_on_bad_config(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "WEB_PORT": "not-a-port", "TELEGRAM_BOT_TOKEN": "1:x"}
    proc = subprocess.run([sys.executable, "-m", "bot"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("configuration error: WEB_PORT")


def test_the_web_process_asks_for_a_token(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot"],
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in proc.stderr
