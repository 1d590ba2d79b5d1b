"""The scripted HTTP server of the unit tests (see `tests.unit.test_http_client`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.unit.test_http_client import Script


@pytest.fixture
def server() -> Iterator[Script]:
    """A server on loopback that answers with the answers a test gives it, in order."""
    script = Script()
    thread = threading.Thread(target=script.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield script
    script.shutdown()
    script.server_close()
