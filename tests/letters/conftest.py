"""The inbox's world (two organisations, their clinicians and cases) for the export tests."""

from tests.inbox.conftest import cheap_argon2, make_client, store, web_process, world

__all__ = ["cheap_argon2", "make_client", "store", "web_process", "world"]
