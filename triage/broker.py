"""The embedded broker (`filesystem://`): kombu's folder transport, with each message written whole before a worker
can see it.

kombu creates a message's file and then writes it. A worker polling the folder (every 0.1 s here) could take the file
in between, read nothing, and stop on the empty JSON ("Unrecoverable error: JSONDecodeError"); honcho then stopped
the whole stack a few seconds after `scripts/run`. Here a message is written under a name no reader looks for and
renamed into place, which is atomic within one folder.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL_PREFIX = ".partial-"  # a reader matches `.<queue>.msg`, which this never contains


class Channel(filesystem.Channel):  # type: ignore[misc]
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        folder = self.data_folder_out
        final = os.path.join(folder, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        partial = os.path.join(folder, f"{PARTIAL_PREFIX}{uuid.uuid4()}")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):  # type: ignore[misc]
    Channel = Channel
