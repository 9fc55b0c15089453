"""Settings come from MODEL_* variables and fail at start with one line naming the variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_server.settings import SettingsError, load_settings


def model_folder(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gemma3"}))
    return tmp_path


def test_the_defaults_match_the_documentation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_PATH", str(model_folder(tmp_path)))
    settings = load_settings()
    assert (settings.backend, settings.host, settings.port) == ("hf", "127.0.0.1", 8090)
    assert (settings.max_batch_size, settings.max_wait_ms, settings.max_queue) == (8, 10.0, 64)
    assert (settings.request_timeout_s, settings.max_new_tokens, settings.threads) == (120.0, 64, None)
    assert (settings.device, settings.dtype, settings.quantization) == ("auto", "auto", "none")
    assert (settings.max_concurrency, settings.concepts_max_new_tokens, settings.instant_concepts) == (32, 160, None)
    assert settings.instant_delay_s == 0.0


def test_it_reads_every_variable_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "MODEL_PATH": str(model_folder(tmp_path)),
        "MODEL_DEVICE": "cuda:1",
        "MODEL_DTYPE": "bfloat16",
        "MODEL_QUANTIZATION": "4bit",
        "MODEL_HOST": "0.0.0.0",
        "MODEL_PORT": "9000",
        "MODEL_MAX_BATCH_SIZE": "16",
        "MODEL_MAX_WAIT_MS": "25",
        "MODEL_MAX_QUEUE": "10",
        "MODEL_REQUEST_TIMEOUT_S": "30",
        "MODEL_MAX_NEW_TOKENS": "128",
        "MODEL_THREADS": "2",
        "MODEL_MAX_CONCURRENCY": "100",
        "MODEL_CONCEPTS_MAX_NEW_TOKENS": "64",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert (s.device, s.dtype, s.quantization, s.host, s.port) == ("cuda:1", "bfloat16", "4bit", "0.0.0.0", 9000)
    assert (s.max_batch_size, s.max_wait_ms, s.max_queue, s.request_timeout_s) == (16, 25.0, 10, 30.0)
    assert (s.max_new_tokens, s.threads, s.max_concurrency, s.concepts_max_new_tokens) == (128, 2, 100, 64)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "MODEL_PATH: missing"),
        ({"MODEL_PATH": "/nonexistent/model"}, "MODEL_PATH: /nonexistent/model is not a folder"),
        ({"MODEL_PATH": "{empty}"}, "is not a model folder (no config.json)"),
        ({"MODEL_PATH": "{model}", "MODEL_PORT": "http"}, "MODEL_PORT: "),
        ({"MODEL_PATH": "{model}", "MODEL_PORT": "70000"}, "MODEL_PORT: "),
        ({"MODEL_PATH": "{model}", "MODEL_BACKEND": "magic"}, "MODEL_BACKEND: "),
        ({"MODEL_PATH": "{model}", "MODEL_DEVICE": "tpu"}, "MODEL_DEVICE: "),
        ({"MODEL_PATH": "{model}", "MODEL_QUANTIZATION": "3bit"}, "MODEL_QUANTIZATION: "),
        ({"MODEL_PATH": "{model}", "MODEL_MAX_BATCH_SIZE": "0"}, "MODEL_MAX_BATCH_SIZE: "),
        ({"MODEL_BACKEND": "openai"}, "MODEL_OPENAI_URL: "),
        ({"MODEL_BACKEND": "instant", "MODEL_MAX_CONCURRENCY": "0"}, "MODEL_MAX_CONCURRENCY: "),
        ({"MODEL_BACKEND": "instant", "MODEL_INSTANT_CONCEPTS": "/nonexistent.json"}, "is not a file"),
        ({"MODEL_PATH": "{model}", "MODEL_INSTANT_CONCEPTS": "{model}/config.json"}, "only the instant backend"),
        ({"MODEL_PATH": "{model}", "MODEL_INSTANT_DELAY_S": "1"}, "MODEL_INSTANT_DELAY_S: only the instant backend"),
        ({"MODEL_BACKEND": "instant", "MODEL_INSTANT_DELAY_S": "-1"}, "MODEL_INSTANT_DELAY_S: "),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "model").mkdir()
    model = model_folder(tmp_path / "model")
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(empty=empty, model=model))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_secret_may_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "key"
    secret.write_text("sk-test\n")
    monkeypatch.setenv("MODEL_BACKEND", "openai")
    monkeypatch.setenv("MODEL_OPENAI_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("MODEL_OPENAI_MODEL", "m")
    monkeypatch.setenv("MODEL_OPENAI_API_KEY_FILE", str(secret))
    assert load_settings().openai_api_key.get_secret_value() == "sk-test"


def test_the_server_exits_2_with_one_line_when_misconfigured(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODEL_")}
    env["MODEL_PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "model_server"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"model_server: configuration error: MODEL_PATH: {tmp_path} is not a model folder (no config.json)"
    ]
