"""Conflicts as a closed loop, end to end: two real clients, the real reference server.

Client A edits an entity while its push is held back; client B changes the same entity
and gets acknowledged first. A then meets the conflict (at push time, or at pull time when
it pulls before pushing) and its strategy, code or a person decides. Every test ends with
A, B and the server holding the same value and version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

import atoma
from atoma import KeepLocal, Merged, TakeServer

from .helpers import FAST, SCHEMA, async_test, eventually
from .live import LiveServer

# A never pulls on its own (no stream, no polling): each test decides when it learns.
QUIET = msgspec.structs.replace(FAST, subscribe=False, poll_interval=3600.0)


def make(tmp_path: Path, server: LiveServer, name: str, **kw: Any) -> atoma.Client:
    opts = kw.pop("sync_options", FAST)
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=opts, **kw)


@asynccontextmanager
async def pair(tmp_path: Path, server: LiveServer, **a_kw: Any) -> AsyncIterator[tuple[atoma.Client, atoma.Client, str]]:
    a = make(tmp_path, server, "a.db", sync_options=QUIET, **a_kw)
    b = make(tmp_path, server, "b.db")
    await a.start()
    await b.start()
    try:
        t = await a.sync.confirmed(a.store("tasks").add, {"title": "base", "done": False}, timeout=10)
        await b.sync.pull()
        assert b.store("tasks").get(t.id) is not None
        yield a, b, t.id
    finally:
        await a.close()
        await b.close()


async def clash(a: atoma.Client, b: atoma.Client, eid: str, mine: Callable[[atoma.Store], Any], theirs: Callable[[atoma.Store], Any], *, at: str = "push") -> None:
    """A makes ``mine`` unsent while B's ``theirs`` reaches the server; then A syncs."""
    async with a.sync._push_lock:  # A's edit stays local until the block ends
        mine(a.store("tasks"))
        theirs(b.store("tasks"))
        await b.sync.wait_idle(10)
        if at == "pull":
            await a.sync.pull()
    await a.sync.push()
    await a.sync.wait_idle(10)


async def converged(a: atoma.Client, b: atoma.Client, server: LiveServer, eid: str) -> tuple[dict | None, int]:
    """Let everyone catch up; assert A, B and the server agree; return (value, version)."""
    await a.sync.wait_idle(10)
    await b.sync.wait_idle(10)
    await a.sync.pull()
    await b.sync.pull()
    version, deleted, data = server.entities("tasks")[eid]
    on_server = None if deleted else {k: v for k, v in msgspec.json.decode(data).items() if k not in ("id", "version")}
    for c in (a, b):
        got = c.store("tasks").get(eid)
        local = None if got is None else {k: v for k, v in msgspec.to_builtins(got).items() if k not in ("id", "version")}
        assert local == on_server, f"{c.path}: {local} != server {on_server}"
        if got is not None:
            assert got.version == version
    return on_server, version



@async_test
async def test_server_wins(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server) as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs"}))
        value, version = await converged(a, b, live_server, eid)
        assert value["title"] == "theirs" and version == 2
        [c] = a.sync.conflicts.list()
        assert (c.state, c.resolution, c.resolved_by, c.strategy) == ("resolved", "take_server", "strategy", "server-wins")
        assert (c.base["title"], c.local["title"], c.server["title"], c.base_version, c.server_version) == ("base", "mine", "theirs", 1, 2)


@async_test
async def test_client_wins_resends_with_a_new_key(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server, conflict_strategy="client-wins") as (a, b, eid):
        events: list[atoma.Event] = []
        a.events.subscribe(events.append, ["sync.conflict", "conflict.resolved"])
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs", "done": True}))
        value, version = await converged(a, b, live_server, eid)
        assert value == {"title": "mine", "done": True, "project_id": None} and version == 3
        [c] = a.sync.conflicts.list()
        sent = a.outbox.get(c.seq)
        assert sent is not None and sent.state == "acked" and sent.idempotency_key != c.idempotency_key
        keys = {k: msgspec.json.decode(o) for k, o in live_server.query("SELECT key, outcome FROM atoma_idempotency")}
        assert keys[c.idempotency_key]["ok"] is False  # the old key's stored outcome is the conflict...
        assert keys[sent.idempotency_key]["ok"] is True  # ...and the resend is a new, applied write
        assert [e.__struct_config__.tag for e in events] == ["sync.conflict", "conflict.resolved"]
        assert events[1].resolution == "keep_local" and events[1].by == "strategy"  # type: ignore[attr-defined]


@pytest.mark.parametrize("at", ["push", "pull"])
def test_merge_of_disjoint_edits(tmp_path: Path, live_server: LiveServer, at: str) -> None:
    @async_test
    async def run() -> None:
        async with pair(tmp_path, live_server, conflict_strategy="merge") as (a, b, eid):
            await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"done": True}), at=at)
            value, version = await converged(a, b, live_server, eid)
            assert value == {"title": "mine", "done": True, "project_id": None} and version == 3
            if at == "pull":
                assert a.sync.conflicts.list() == []  # rebased without a round trip: no conflict at all
            else:
                [c] = a.sync.conflicts.list()
                assert (c.resolution, c.resolved_by) == ("merged", "strategy")

    run()


@async_test
async def test_merge_overlap_waits_for_a_person_and_survives_restart(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server, conflict_strategy="merge") as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine", "done": True}), lambda s: s.update(eid, {"title": "theirs"}), at="pull")
        [c] = a.sync.conflicts.list(state="open")
        assert c.merge().conflicts == ("title",) and c.merge().sides["done"] == "local"
        assert a.store("tasks").get(eid).title == "mine"  # the user's edit stays visible while open
        assert a.sync.status.conflicted == 1
        # later edits on that entity wait behind the open conflict
        a.store("tasks").update(eid, {"project_id": "p1"})
        await a.sync.push()
        assert live_server.entities("tasks")[eid][0] == 2
    # restart A: the conflict is still there and can be resolved
    a = make(tmp_path, live_server, "a.db", sync_options=QUIET, conflict_strategy="merge")
    b = make(tmp_path, live_server, "b.db")
    async with a, b:
        [c] = a.sync.conflicts.list(state="open")
        c = await a.sync.conflicts.check(c.id)
        assert c.server_version == 2
        resolved = a.sync.conflicts.resolve(c.id, Merged(value={**c.merge().value, "title": "mine+theirs"}), by="user")
        assert (resolved.state, resolved.resolution, resolved.resolved_by) == ("resolved", "merged", "user")
        value, version = await converged(a, b, live_server, eid)
        assert value == {"title": "mine+theirs", "done": True, "project_id": "p1"} and version == 4


@async_test
async def test_callable_strategy(tmp_path: Path, live_server: LiveServer) -> None:
    def both(c: atoma.Conflict) -> atoma.Resolution:
        return Merged(value={"title": f"{c.local['title']} & {c.server['title']}"})

    async with pair(tmp_path, live_server, conflict_strategy=both) as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs"}))
        value, _ = await converged(a, b, live_server, eid)
        assert value["title"] == "mine & theirs"
        assert a.sync.conflicts.list()[0].resolved_by == "code"


@pytest.mark.parametrize("choice", ["keep", "take"])
def test_local_edit_against_server_delete(tmp_path: Path, live_server: LiveServer, choice: str) -> None:
    @async_test
    async def run() -> None:
        async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
            await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.delete(eid))
            [c] = a.sync.conflicts.list(state="open")
            assert c.server_deleted and not c.local_deleted
            a.sync.conflicts.resolve(c.id, KeepLocal() if choice == "keep" else TakeServer(), by="user")
            value, version = await converged(a, b, live_server, eid)
            if choice == "keep":
                assert value["title"] == "mine" and version == 3  # recreated, continuing from the tombstone
            else:
                assert value is None and a.store("tasks").get(eid) is None

    run()


@pytest.mark.parametrize("choice", ["keep", "take"])
def test_local_delete_against_server_edit(tmp_path: Path, live_server: LiveServer, choice: str) -> None:
    @async_test
    async def run() -> None:
        async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
            await clash(a, b, eid, lambda s: s.delete(eid), lambda s: s.update(eid, {"title": "theirs"}))
            [c] = a.sync.conflicts.list(state="open")
            assert c.local_deleted and not c.server_deleted
            assert a.store("tasks").get(eid) is None  # the local delete stays visible while open
            a.sync.conflicts.resolve(c.id, KeepLocal() if choice == "keep" else TakeServer(), by="user")
            value, _ = await converged(a, b, live_server, eid)
            assert value is None if choice == "keep" else value["title"] == "theirs"

    run()


@async_test
async def test_a_resolution_over_a_moved_server_becomes_a_new_conflict(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs"}))
        [first] = a.sync.conflicts.list(state="open")
        b.store("tasks").update(eid, {"title": "theirs again"})  # the server moves on meanwhile
        await b.sync.wait_idle(10)
        async with a.sync._push_lock:
            a.sync.conflicts.resolve(first.id, KeepLocal(), by="user")  # decided on version 2
        await a.sync.push()
        await eventually(lambda: a.sync.conflicts.count("open") == 1, what="a second conflict")
        second = a.sync.conflicts.list(state="open")[0]
        assert second.id != first.id and second.server_version == 3 and second.server["title"] == "theirs again"
        assert live_server.entities("tasks")[eid][0] == 3  # nothing was overwritten blindly
        a.sync.conflicts.resolve(second.id, KeepLocal(), by="user")
        value, version = await converged(a, b, live_server, eid)
        assert value["title"] == "mine" and version == 4


@async_test
async def test_bad_resolutions_are_refused(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs"}))
        [c] = a.sync.conflicts.list(state="open")
        with pytest.raises(atoma.ValidationError, match="title"):
            a.sync.conflicts.resolve(c.id, Merged(value={"title": 5}))
        with pytest.raises(atoma.ValidationError, match="resolution must be"):
            a.sync.conflicts.resolve(c.id, "mine")  # type: ignore[arg-type]
        with pytest.raises(atoma.NotFound):
            a.sync.conflicts.resolve(999, TakeServer())
        a.sync.conflicts.resolve(c.id, TakeServer())
        with pytest.raises(atoma.ValidationError, match="already resolved"):
            a.sync.conflicts.resolve(c.id, KeepLocal())
        await converged(a, b, live_server, eid)
