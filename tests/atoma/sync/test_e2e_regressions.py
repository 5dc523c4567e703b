"""Regressions found in review: interactions of conflicts, history, discards and seqs.

Each test failed before its fix (see the commit that added this file)."""

from __future__ import annotations

from pathlib import Path

import pytest

import atoma
from atoma import KeepLocal, Merged, TakeServer

from .helpers import FAST, SCHEMA, async_test
from .live import LiveServer
from .test_e2e_conflicts import clash, converged, pair


def make(tmp_path: Path, server: LiveServer, name: str = "a.db") -> atoma.Client:
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=FAST)


async def recreated_over_tombstone(a: atoma.Client) -> str:
    tasks = a.store("tasks")
    t = await a.sync.confirmed(tasks.add, {"title": "old", "done": True}, timeout=10)
    await a.sync.confirmed(tasks.delete, t.id, timeout=10)
    a.sync.pause_push()
    tasks.add({"id": t.id, "title": "new"})  # unsent
    return t.id


@pytest.mark.parametrize("how", ["undo", "discard"])
def test_taking_back_a_recreate_leaves_the_entity_deleted(tmp_path: Path, live_server: LiveServer, how: str) -> None:
    @async_test
    async def run() -> None:
        async with make(tmp_path, live_server) as a:
            eid = await recreated_over_tombstone(a)
            if how == "undo":
                a.history.undo()
            else:
                a.outbox.discard(a.outbox.list(state="pending")[0].seq)
            assert a.outbox.count("pending") == 0 and a.store("tasks").get(eid) is None

    run()


@async_test
async def test_partial_merged_value_keeps_the_servers_other_fields(tmp_path: Path, live_server: LiveServer) -> None:
    async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
        await clash(a, b, eid, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs", "done": True, "project_id": "p9"}))
        [c] = a.sync.conflicts.list(state="open")
        a.sync.pause_push()
        a.sync.conflicts.resolve(c.id, Merged(value={"title": "mine+theirs"}), by="user")
        got = a.store("tasks").get(eid)
        assert (got.title, got.done, got.project_id) == ("mine+theirs", True, "p9")
        a.sync.resume_push()
        value, _ = await converged(a, b, live_server, eid)
        assert value == {"title": "mine+theirs", "done": True, "project_id": "p9"}


@pytest.mark.parametrize("at", ["pull", "push"])
def test_merge_sees_an_overlap_in_a_later_intent(tmp_path: Path, live_server: LiveServer, at: str) -> None:
    @async_test
    async def run() -> None:
        async with pair(tmp_path, live_server, conflict_strategy="merge") as (a, b, eid):
            def mine(s: atoma.Store) -> None:
                s.update(eid, {"title": "mine"})
                s.update(eid, {"project_id": "pa"})

            await clash(a, b, eid, mine, lambda s: s.update(eid, {"project_id": "pb"}), at=at)
            [c] = a.sync.conflicts.list(state="open")  # both changed project_id: a person decides
            assert c.merge().conflicts == ("project_id",) and c.merge().value["title"] == "mine"
            a.sync.conflicts.resolve(c.id, KeepLocal(), by="user")
            value, _ = await converged(a, b, live_server, eid)
            assert value == {"title": "mine", "done": False, "project_id": "pa"}
            assert a.outbox.count("pending") == 0

    run()


@pytest.mark.parametrize("local_edit", ["update", "delete"])
def test_undo_waits_for_an_open_conflict(tmp_path: Path, live_server: LiveServer, local_edit: str) -> None:
    @async_test
    async def run() -> None:
        async with pair(tmp_path, live_server, conflict_strategy="manual") as (a, b, eid):
            mine = (lambda s: s.update(eid, {"title": "mine"})) if local_edit == "update" else (lambda s: s.delete(eid))
            await clash(a, b, eid, mine, lambda s: s.update(eid, {"title": "theirs"}))
            [c] = a.sync.conflicts.list(state="open")
            with pytest.raises(atoma.HistoryConflict, match="open conflict"):
                a.history.undo()
            a.sync.conflicts.resolve(c.id, TakeServer(), by="user")
            value, _ = await converged(a, b, live_server, eid)
            assert value["title"] == "theirs" and a.outbox.count("rejected") == 0

    run()


@async_test
async def test_seqs_are_never_reused_and_confirm_never_mistakes_a_dropped_write(tmp_path: Path, live_server: LiveServer) -> None:
    async with make(tmp_path, live_server) as a:
        a.sync.pause_push()
        seqs: list[int] = []
        a.events.subscribe(lambda ev: seqs.extend(ev.seqs), ["outbox.enqueued"])
        t = a.store("tasks").add({"title": "draft"})
        a.history.undo()  # cancels the unsent create
        a.store("tasks").add({"title": "other"})
        discarded = seqs[1]
        a.outbox.discard(discarded)
        a.store("tasks").add({"title": "third"})
        assert len(set(seqs)) == 3, seqs
        a.sync.resume_push()
        with pytest.raises(atoma.RejectedError, match="discarded"):
            await a.sync.confirm(seqs[0], timeout=5)  # never sent: not "acked then trimmed"
        with pytest.raises(atoma.RejectedError, match="discarded"):
            await a.sync.confirm(discarded, timeout=5)
        await a.sync.confirm(seqs[2], timeout=5)
        assert t.id not in live_server.entities("tasks")
