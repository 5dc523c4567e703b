from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import SCHEMA
from .live import LiveServer


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The reference server on a free 127.0.0.1 port over a fresh SQLite file."""
    server = LiveServer(str(tmp_path / "server.db"), SCHEMA).start()
    try:
        yield server
    finally:
        server.stop()
