"""Fixtures of the server tests: every conformance test runs once per backend (SQLite and
PostgreSQL) against the real app under uvicorn on a free loopback port.

Reusable by other suites (the sync engine's e2e tests): ``make_live(...)`` starts a server with
any plugins/limits/sink and stops it at teardown; ``live`` / ``client`` are the plain ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server_reference import MemorySink, SQLiteAdapter, create_app
from server_reference.adapters.base import Adapter

from .live import LiveServer
from .schema import schema as SCHEMA

BACKENDS = ["sqlite", "postgres"]


def pg_channel(dsn: str) -> str:
    """A LISTEN/NOTIFY channel unique to the test schema in ``dsn`` (channels are database-wide)."""
    m = re.search(r"search_path=(\w+)", dsn)
    return f"atoma_{m.group(1) if m else 'test'}"


class Backend:
    """How a test reaches one backend: make adapters, and run SQL on its database directly."""

    def __init__(self, name: str, target: str) -> None:
        self.name = name
        self.target = target  # SQLite path or PostgreSQL DSN

    def adapter(self, **kw: Any) -> Adapter:
        if self.name == "sqlite":
            return SQLiteAdapter(self.target, kw.pop("schema", SCHEMA), **kw)
        from server_reference.adapters.postgres import PostgresAdapter

        kw.setdefault("channel", pg_channel(self.target))
        return PostgresAdapter(self.target, kw.pop("schema", SCHEMA), **kw)

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the backend's database (outside the server) and return its rows."""
        if self.name == "sqlite":
            import apsw

            conn = apsw.Connection(self.target)
            try:
                with conn:
                    return [tuple(r) for r in conn.execute(statement, params)]
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as conn:
            cur = conn.execute(statement.replace("?", "%s"), params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every server table's rows, for "the database is unchanged" checks."""
        tables = ["atoma_entities", "atoma_changes", "atoma_idempotency", "atoma_devices"]
        return {t: sorted(map(repr, self.sql(f"SELECT * FROM {t}"))) for t in tables}  # type: ignore[misc]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", str(tmp_path / "server.db"))
    return Backend("postgres", request.getfixturevalue("pg_schema_dsn"))


@pytest.fixture
def make_live(backend: Backend) -> Iterator[Callable[..., LiveServer]]:
    """``make_live(plugins=..., limits=..., sink=..., subscribe=..., adapter=...)`` -> started LiveServer."""
    servers: list[LiveServer] = []

    def make(*, adapter: Adapter | None = None, **kw: Any) -> LiveServer:
        kw.setdefault("sink", MemorySink())
        live = LiveServer(create_app(adapter or backend.adapter(), **kw)).start()
        servers.append(live)
        return live

    yield make
    for live in reversed(servers):
        live.stop()


@pytest.fixture
def live(make_live: Callable[..., LiveServer]) -> LiveServer:
    return make_live()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c
