"""The embedded broker (`triage/broker.py`): a worker polling the folder never sees a message half-written.

kombu's own folder transport creates the file before writing it, so a worker looking in between read nothing and
stopped on the empty JSON; under `scripts/run` honcho then stopped the whole stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import filesystem

from triage import broker
from triage.celery_app import create_celery
from triage.config import load_settings

QUEUE = "cases"


def _channel(tmp_path: Path, transport: Any) -> Any:
    folder = tmp_path / "queue"
    folder.mkdir(exist_ok=True)
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    connection = Connection("filesystem://", transport=transport, transport_options=options)
    return connection.default_channel


@pytest.fixture
def looking_while_writing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Each message's serialisation (which comes after kombu has created its file) lets a worker look first."""
    seen: list[Any] = []
    state: dict[str, Any] = {}

    def dumps_after_a_look(payload: Any) -> str:
        try:
            seen.append(state["channel"]._get(QUEUE))
        except Empty:
            seen.append("nothing")
        except json.JSONDecodeError as exc:
            seen.append(exc)
        return json.dumps(payload)

    monkeypatch.setattr(broker, "dumps", dumps_after_a_look)
    monkeypatch.setattr(filesystem, "dumps", dumps_after_a_look)
    yield [seen, state]


def test_a_message_being_written_is_invisible_then_whole(tmp_path: Path, looking_while_writing: list[Any]) -> None:
    seen, state = looking_while_writing
    state["channel"] = channel = _channel(tmp_path, broker.Transport)
    channel._put(QUEUE, {"body": "a task"})
    assert seen == ["nothing"]
    assert channel._get(QUEUE) == {"body": "a task"}
    assert list((tmp_path / "queue").iterdir()) == []  # taken, and no partial file left behind


def test_kombus_own_transport_shows_the_empty_file_this_replaces(tmp_path: Path,
                                                                 looking_while_writing: list[Any]) -> None:
    seen, state = looking_while_writing
    state["channel"] = channel = _channel(tmp_path, filesystem.Transport)
    channel._put(QUEUE, {"body": "a task"})
    assert isinstance(seen[0], json.JSONDecodeError)  # why triage.broker exists; if kombu fixes it, drop ours


def test_the_embedded_default_uses_it(tmp_path: Path) -> None:
    app = create_celery(load_settings({"DATA_DIR": str(tmp_path)}))
    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, broker.Channel)
