"""Remote reads (store.query / store.fetch) against the real reference server, and hydration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

import atoma
from atoma.remote import hydrate

from .sync.helpers import FAST, SCHEMA, async_test
from .sync.live import LiveServer

OPTS = msgspec.structs.replace(FAST, subscribe=False)  # polling: see tests/atoma/qt/conftest.py


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(str(tmp_path / "server.db"), SCHEMA).start()
    try:
        yield srv
    finally:
        srv.stop()


def client(tmp_path: Path, server: LiveServer, name: str) -> atoma.Client:
    # The pull lane would fetch everything anyway; a huge poll interval keeps it out of the way
    # after its first round, so what arrives comes from the remote reads under test.
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=msgspec.structs.replace(OPTS, poll_interval=3600))


async def seed(tmp_path: Path, server: LiveServer) -> list[atoma.Entity]:
    async with client(tmp_path, server, "seed.db") as b:
        made = [b.store("tasks").add({"title": f"task {i}", "done": i % 2 == 0}) for i in range(6)]
        await b.sync.wait_idle(10)
    return made


@async_test
async def test_query_hydrates_and_transient_does_not(tmp_path: Path, server: LiveServer) -> None:
    async with client(tmp_path, server, "a.db") as a:
        await a.sync.wait_idle(10)  # the first pull round ran (on an empty server)
        made = await seed(tmp_path, server)
        tasks = a.store("tasks")
        events: list[atoma.StoreChanged] = []
        a.events.subscribe(events.append, ["store.changed"])  # type: ignore[arg-type]
        page = await tasks.query(where={"done": False}, order_by=[("title", "desc")], limit=2, transient=True)
        assert [t.title for t in page] == ["task 5", "task 3"] and all(isinstance(t, SCHEMA["tasks"].entity) for t in page)
        assert tasks.count() == 0 and not events  # transient: nothing stored
        page = await tasks.query(where={"done": False}, order_by=[("title", "desc")], limit=2)
        assert [t.title for t in page] == ["task 5", "task 3"] and page.next_cursor is not None
        assert tasks.count() == 2 and events[-1].origin == "sync"
        assert all(t.version == 1 for t in page)
        assert a.outbox.list() == []  # hydration is not a local write
        more = await tasks.query(where={"done": False}, order_by=[("title", "desc")], limit=2, after=page.next_cursor)
        assert [t.title for t in more] == ["task 1"] and more.next_cursor is None
        one = await tasks.fetch(made[0].id)
        assert one is not None and one.title == "task 0" and tasks.get(made[0].id) == one
        assert await tasks.fetch("no-such-id") is None
        sparse = await tasks.query(fields=["title"], transient=True, limit=1)
        assert set(sparse[0]) == {"id", "version", "title"}


@async_test
async def test_same_reads_share_requests_and_use_the_cache(tmp_path: Path, server: LiveServer) -> None:
    import asyncio

    async with client(tmp_path, server, "a.db") as a:
        await seed(tmp_path, server)
        tasks = a.store("tasks")
        a.remote_cache.clear()
        r1, r2 = await asyncio.gather(tasks.query(where={"done": True}), tasks.query(where={"done": True}))
        assert [t.id for t in r1] == [t.id for t in r2]
        st = a.remote_cache.stats()
        assert (st.misses, st.joined, st.hits, st.entries) == (1, 1, 0, 1)
        await tasks.query(where={"done": True}, cache=True)
        assert a.remote_cache.stats().hits == 1
        await tasks.query(where={"done": True})  # cache=False: a fresh request
        assert a.remote_cache.stats().misses == 2


@async_test
async def test_errors(tmp_path: Path, server: LiveServer) -> None:
    local = atoma.Client(str(tmp_path / "local.db"), SCHEMA).open()
    with pytest.raises(atoma.SyncError) as exc:
        await local.store("tasks").query()
    assert exc.value.code == "NO_SERVER"
    with pytest.raises(atoma.SyncError) as exc:
        await local.store("tasks").fetch("x")
    assert exc.value.code == "NO_SERVER"
    local.close_sync()
    not_started = client(tmp_path, server, "b.db").open()
    with pytest.raises(atoma.ClientClosed):
        await not_started.store("tasks").query()
    with pytest.raises(atoma.ValidationError) as vexc:
        await not_started.store("tasks").query(where={"nope": 1})
    assert vexc.value.path == "where.nope"
    with pytest.raises(atoma.ValidationError):
        await not_started.store("tasks").query(fields=["title"])  # sparse rows cannot be stored
    not_started.close_sync()


def test_hydration_keeps_pending_local_edits(tmp_path: Path) -> None:
    with atoma.Client(str(tmp_path / "a.db"), SCHEMA) as c:
        tasks = c.store("tasks")
        mine = tasks.add({"title": "my edit"})  # pending: never pushed
        changed = hydrate(tasks, [
            {"id": mine.id, "version": 4, "title": "server title", "done": True},
            {"id": "srv-1", "version": 2, "title": "from the server", "done": False},
        ])
        assert changed == ["srv-1"]
        assert tasks.get(mine.id).title == "my edit"  # type: ignore[union-attr]
        got = tasks.get("srv-1")
        assert got is not None and got.version == 2 and got.title == "from the server"
        assert [i.entity_id for i in c.outbox.list()] == [mine.id]  # no intent for hydration
        base = c._connection().execute("SELECT base, server_version FROM r_tasks WHERE id = ?", (mine.id,)).fetchone()
        assert '"server title"' in base[0] and base[1] == 4
        assert hydrate(tasks, [{"id": "srv-1", "version": 1, "title": "older"}]) == []  # never backwards
        assert tasks.get("srv-1").title == "from the server"  # type: ignore[union-attr]
