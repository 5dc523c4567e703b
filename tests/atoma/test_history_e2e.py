"""Undo/redo against the real reference server: compensating writes sync like any other."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import atoma

from .sync.helpers import FAST, SCHEMA, async_test
from .sync.live import LiveServer


@pytest.fixture
def live_server(tmp_path: Path):
    server = LiveServer(str(tmp_path / "server.db"), SCHEMA).start()
    yield server
    server.stop()


def make(tmp_path: Path, server: LiveServer, name: str) -> atoma.Client:
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=FAST)


async def settle(*clients: atoma.Client) -> None:
    for c in clients:
        await c.sync.wait_idle(10)
    for c in clients:
        await c.sync.pull()


def server_value(server: LiveServer, eid: str) -> tuple[int, dict | None]:
    version, deleted, data = server.entities("tasks")[eid]
    return version, None if deleted else msgspec.json.decode(data)


@async_test
async def test_undo_redo_round_trip_converges_on_server_and_second_client(tmp_path: Path, live_server: LiveServer) -> None:
    async with make(tmp_path, live_server, "a.db") as a, make(tmp_path, live_server, "b.db") as b:
        ta = a.store("tasks")
        t = ta.add({"title": "draft"})
        await settle(a, b)
        with a.history.action("Rename and finish"):
            ta.update(t.id, {"title": "final"})
            ta.update(t.id, {"done": True})
        await settle(a, b)
        assert b.store("tasks").get(t.id).title == "final"
        a.history.undo()
        await settle(a, b)
        for c in (a, b):
            got = c.store("tasks").get(t.id)
            assert (got.title, got.done) == ("draft", False)
        version, value = server_value(live_server, t.id)
        assert value["title"] == "draft" and value["done"] is False and b.store("tasks").get(t.id).version == version
        a.history.redo()
        await settle(a, b)
        assert (b.store("tasks").get(t.id).title, b.store("tasks").get(t.id).done) == ("final", True)
        assert server_value(live_server, t.id)[1]["title"] == "final"
        assert a.store("tasks").get(t.id).version == b.store("tasks").get(t.id).version == server_value(live_server, t.id)[0]


@async_test
async def test_undo_of_unpushed_create_sends_nothing(tmp_path: Path, live_server: LiveServer) -> None:
    async with make(tmp_path, live_server, "a.db") as a:
        async with a.sync._push_lock:  # not pushed yet
            t = a.store("tasks").add({"title": "oops"})
            a.history.undo()
        await a.sync.push()
        await a.sync.wait_idle(10)
        assert a.store("tasks").get(t.id) is None and a.outbox.count() == 0
        assert t.id not in live_server.entities("tasks")
        assert live_server.changes_per_entity("tasks") == {}


@async_test
async def test_remote_edit_of_another_field_survives_and_same_field_is_reported(tmp_path: Path, live_server: LiveServer) -> None:
    async with make(tmp_path, live_server, "a.db") as a, make(tmp_path, live_server, "b.db") as b:
        ta, tb = a.store("tasks"), b.store("tasks")
        t = ta.add({"title": "one"})
        await settle(a, b)
        ta.update(t.id, {"title": "two"})
        await settle(a, b)
        tb.update(t.id, {"done": True})  # someone else, another field
        await settle(b, a)
        result = a.history.undo()
        assert result is not None and result.skipped == ()
        await settle(a, b)
        for c in (a, b):
            got = c.store("tasks").get(t.id)
            assert (got.title, got.done) == ("one", True)
        # now the same field: the other device renames after our edit
        ta.update(t.id, {"title": "three"})
        await settle(a, b)
        tb.update(t.id, {"title": "theirs"})
        await settle(b, a)
        with pytest.raises(atoma.HistoryConflict) as exc:
            a.history.undo()
        assert exc.value.skipped[0].fields == ("title",)
        await settle(a, b)
        assert a.store("tasks").get(t.id).title == b.store("tasks").get(t.id).title == "theirs"
        assert server_value(live_server, t.id)[1]["title"] == "theirs"
