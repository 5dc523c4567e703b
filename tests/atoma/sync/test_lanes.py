"""The push and pull lanes against an in-memory ops server through httpx.MockTransport."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest

import atoma
from atoma import protocol as p
from atoma.events import Event

from .fakes import FakeServer, FaultTransport
from .helpers import FAST, SCHEMA, async_test, eventually


def make(tmp_path: Path, fake: FakeServer, name: str = "c.db", transport: httpx.AsyncBaseTransport | None = None, **opts: object) -> atoma.Client:
    options = msgspec.structs.replace(FAST, subscribe=False, **opts)
    return atoma.Client(str(tmp_path / name), SCHEMA, server="http://fake", transport=transport or httpx.MockTransport(fake.handler), sync_options=options)


def record(client: atoma.Client) -> list[Event]:
    events: list[Event] = []
    client.events.subscribe(events.append)
    return events


@async_test
async def test_push_acks_and_rebases_later_intents(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake) as client:
        events = record(client)
        tasks = client.store("tasks")
        t = tasks.add({"title": "a"})
        tasks.update(t.id, {"done": True})
        tasks.update(t.id, {"title": "b"})
        await client.sync.wait_idle(10)
        assert fake.entities[("tasks", t.id)] == (3, {"id": t.id, "version": 3, "title": "b", "done": True, "project_id": None})
        got = tasks.get(t.id)
        assert got is not None and got.version == 3 and got.title == "b"
        assert [i.state for i in client.outbox.list()] == ["acked"] * 3
        row = client._connection().execute("SELECT pending, base, version, server_version FROM r_tasks").fetchone()
        assert row == (0, None, 3, 3)
        types = [e.__struct_config__.tag for e in events]
        assert "push.acked" in types and "sync.rebase" in types
        # only the changed fields travel in an update
        updates = [op for r in fake.requests for op in r.ops if isinstance(op, p.WriteOp) and op.action == "update"]
        assert [it.value for op in updates for it in op.items] == [{"done": True}, {"title": "b"}]
        assert [it.base_version for op in updates for it in op.items] == [1, 2]
        assert client.sync.status.state == "live" and client.sync.status.pending == 0


@async_test
async def test_batches_are_bounded_and_ordered(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake, batch_size=7) as client:
        tasks = client.store("tasks")
        tasks.add_many([{"title": f"t{i}"} for i in range(30)])
        await client.sync.wait_idle(10)
        sizes = [sum(len(op.items) for op in r.ops if isinstance(op, p.WriteOp)) for r in fake.requests]
        assert max(sizes) <= 7 and sum(sizes) == 30
        assert len(fake.applied) == 30


@async_test
async def test_conflict_server_wins_and_is_reported(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake) as client:
        tasks = client.store("tasks")
        t = tasks.add({"title": "mine"})
        await client.sync.wait_idle(10)
        fake.put("tasks", t.id, {"title": "theirs", "done": False, "project_id": None})
        events = record(client)
        with pytest.raises(atoma.ConflictError):
            await client.sync.confirmed(tasks.update, t.id, {"title": "mine again"}, timeout=10)
        got = tasks.get(t.id)
        assert got is not None and got.title == "theirs" and got.version == 2
        assert [i.state for i in client.outbox.list()] == ["acked", "conflicted"]
        conflicts = [e for e in events if e.__struct_config__.tag == "sync.conflict"]
        assert len(conflicts) == 1 and conflicts[0].strategy == "server-wins"  # type: ignore[attr-defined]
        assert client.sync.status.conflicted == 0  # decided by the strategy: nothing waits
        [record_] = client.sync.conflicts.list()
        assert (record_.state, record_.resolution, record_.resolved_by) == ("resolved", "take_server", "strategy")
        assert record_.local["title"] == "mine again" and record_.server["title"] == "theirs"


@async_test
async def test_rejected_intents_are_kept_block_their_entity_and_can_be_retried(tmp_path: Path) -> None:
    fake = FakeServer()
    fake.reject = lambda res, item: p.standard_error(p.VALIDATION, "title too long") if item.value and item.value.get("title") == "bad" else None
    async with make(tmp_path, fake) as client:
        tasks = client.store("tasks")
        with pytest.raises(atoma.RejectedError) as info:
            await client.sync.confirmed(tasks.add, {"id": "x", "title": "bad"}, timeout=10)
        assert info.value.code == "VALIDATION"
        tasks.update("x", {"done": True})  # waits behind the rejected create
        other = tasks.add({"title": "fine"})
        await client.sync.wait_idle(10)
        states = [(i.entity_id, i.state) for i in client.outbox.list()]
        assert states == [("x", "rejected"), ("x", "pending"), (other.id, "acked")]
        assert client.sync.status.rejected == 1
        rejected = client.outbox.list(state="rejected")[0]
        assert rejected.last_error is not None and rejected.last_error["code"] == "VALIDATION"
        # The app fixes the server side (or its data) and retries: same key, now applied.
        fake.reject = lambda res, item: None
        fake.keys.pop(rejected.idempotency_key)  # the fake stored the error outcome under the key
        client.outbox.retry(rejected.seq)
        await client.sync.wait_idle(10)
        assert [i.state for i in client.outbox.list()] == ["acked", "acked", "acked"]
        assert fake.entities[("tasks", "x")][1]["done"] is True  # type: ignore[index]


@async_test
async def test_discard_restores_the_server_value(tmp_path: Path) -> None:
    fake = FakeServer()
    fake.reject = lambda res, item: p.standard_error(p.FORBIDDEN, "read-only") if item.value and item.value.get("title") == "nope" else None
    async with make(tmp_path, fake) as client:
        tasks = client.store("tasks")
        t = tasks.add({"title": "ok"})
        await client.sync.wait_idle(10)
        tasks.update(t.id, {"title": "nope"})
        tasks.update(t.id, {"done": True})
        await client.sync.wait_idle(10)
        seq = client.outbox.list(state="rejected")[0].seq
        assert client.outbox.discard(seq) == [seq, seq + 1]
        got = tasks.get(t.id)
        assert got is not None and got.title == "ok" and got.done is False and got.version == 1
        assert client._connection().execute("SELECT pending FROM r_tasks").fetchone() == (0,)
        fresh = tasks.add({"title": "nope"})
        await client.sync.wait_idle(10)
        client.outbox.discard(client.outbox.list(state="rejected")[0].seq)
        assert tasks.get(fresh.id) is None


@async_test
async def test_pull_applies_pages_and_keeps_pending_edits(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake, pull_page_size=2) as client:
        tasks = client.store("tasks")
        mine = tasks.add({"title": "mine"})
        await client.sync.wait_idle(10)
        for i in range(5):
            fake.put("tasks", f"s{i}", {"title": f"s{i}", "done": False, "project_id": None, "future_field": i})
        fake.put("tasks", "s4", None)
        fake.put("tasks", mine.id, {"title": "server edit", "done": True, "project_id": None})
        # a local edit not yet pushed: hold the push lane back by making the server refuse requests
        fake.fail_requests = 0
        events = record(client)
        async with client.sync._push_lock:  # keep the edit unsent while pulling
            tasks.update(mine.id, {"title": "local edit"})
            await client.sync.pull()
            got = tasks.get(mine.id)
            assert got is not None and got.title == "local edit"
            base, sv = client._connection().execute("SELECT base, server_version FROM r_tasks WHERE id = ?", (mine.id,)).fetchone()
            assert sv == 2 and msgspec.json.decode(base)["title"] == "server edit"
        assert {t.id for t in tasks.find()} == {mine.id, "s0", "s1", "s2", "s3"}
        raw = client._connection().execute("SELECT data FROM r_tasks WHERE id = 's0'").fetchone()[0]
        assert msgspec.json.decode(raw)["future_field"] == 0  # unknown fields are kept
        changed = [e for e in events if e.__struct_config__.tag == "store.changed" and e.origin == "sync"]  # type: ignore[attr-defined]
        pulls = [e for e in events if e.__struct_config__.tag == "pull.applied"]
        assert len(pulls) >= 4 and len(changed) <= len(pulls)
        assert client.sync.status.cursor == len(fake.changes)
        # the pending edit then conflicts (the server moved): server-wins
        await client.sync.wait_idle(10)
        got = tasks.get(mine.id)
        assert got is not None and got.title == "server edit"


@async_test
async def test_cursor_expired_resyncs_and_keeps_pending_intents(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake) as client:
        tasks = client.store("tasks")
        keep = tasks.add({"title": "keep"})
        gone = tasks.add({"title": "gone"})
        await client.sync.wait_idle(10)
        await client.sync.pull()
    fake.put("tasks", gone.id, None)
    fake.put("tasks", "new", {"title": "new", "done": False, "project_id": None})
    fake.trim()
    async with make(tmp_path, fake) as client:
        tasks = client.store("tasks")
        events = record(client)
        tasks.update(keep.id, {"done": True})
        await client.sync.wait_idle(10)
        await client.sync.pull()
        assert any(e.__struct_config__.tag == "sync.resync" for e in events)
        assert {t.id for t in tasks.find()} == {keep.id, "new"}
        k = tasks.get(keep.id)
        assert k is not None and k.done is True
        assert fake.entities[("tasks", keep.id)][1]["done"] is True  # type: ignore[index]


@async_test
async def test_dropped_and_duplicated_responses_apply_once(tmp_path: Path) -> None:
    fake = FakeServer()
    faults = FaultTransport(httpx.MockTransport(fake.handler))
    async with make(tmp_path, fake, transport=faults) as client:
        tasks = client.store("tasks")
        faults.drop = 3
        faults.duplicate = 2
        ids = [tasks.add({"title": f"t{i}"}).id for i in range(10)]
        for eid in ids[:5]:
            tasks.update(eid, {"done": True})
        await client.sync.wait_idle(20)
        assert faults.dropped == 3
        assert len(fake.applied) == len(set(fake.applied)) == 15
        for eid in ids:
            got = tasks.get(eid)
            assert got is not None and got.version == fake.entities[("tasks", eid)][0]


@async_test
async def test_server_down_backs_off_and_recovers(tmp_path: Path) -> None:
    fake = FakeServer()
    fake.fail_requests = 4
    async with make(tmp_path, fake) as client:
        events = record(client)
        t = client.store("tasks").add({"title": "durable"})
        await eventually(lambda: fake.fail_requests == 0, what="retries")
        await client.sync.wait_idle(10)
        assert fake.entities[("tasks", t.id)][0] == 1
        backoffs = [e for e in events if e.__struct_config__.tag == "sync.backoff"]
        assert backoffs and all(e.delay_s <= 0.2 for e in backoffs)  # type: ignore[attr-defined]
        states = [e.status.state for e in events if e.__struct_config__.tag == "sync.status"]  # type: ignore[attr-defined]
        assert "backoff" in states and states[-1] == "live"
        assert client.sync.status.last_error is None


@async_test
async def test_second_syncing_client_is_locked_out(tmp_path: Path) -> None:
    fake = FakeServer()
    async with make(tmp_path, fake):
        with pytest.raises(atoma.ClientLocked):
            await make(tmp_path, fake).start()
        # reading without a server is allowed
        with atoma.Client(str(tmp_path / "c.db"), SCHEMA) as reader:
            assert reader.store("tasks").count() == 0
    async with make(tmp_path, fake):  # released on close
        pass


@async_test
async def test_without_server_sync_is_offline(tmp_path: Path) -> None:
    async with atoma.Client(str(tmp_path / "local.db"), SCHEMA) as client:
        assert client.sync.status.state == "offline"
        await client.sync.wait_idle()
        with pytest.raises(atoma.SyncError) as info:
            await client.sync.push()
        assert info.value.code == "NO_SERVER"


class _StalledStream(httpx.AsyncByteStream):
    """An SSE body that sends ``retry:`` and one notify, then never another byte."""

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield b"retry: 50\n\nevent: sync.notify\nid: 1\ndata: {\"resources\":[\"tasks\"],\"cursor\":1}\n\n"
        import asyncio

        await asyncio.sleep(3600)


@async_test
async def test_a_silent_stream_is_treated_as_lost_and_reconnected(tmp_path: Path) -> None:
    fake = FakeServer()
    seen_ids: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sync/subscribe":
            seen_ids.append(request.headers.get("last-event-id"))
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_StalledStream())
        return fake.handler(request)

    options = msgspec.structs.replace(FAST, heartbeat_interval=0.1)
    async with atoma.Client(str(tmp_path / "s.db"), SCHEMA, server="http://fake", transport=httpx.MockTransport(handler), sync_options=options) as client:
        events = record(client)
        await eventually(lambda: len(seen_ids) >= 2, what="reconnect after silence")
        lost = [e for e in events if e.__struct_config__.tag == "subscribe.lost"]
        assert lost and "silent" in lost[0].reason  # type: ignore[attr-defined]
        assert seen_ids[1] == "1"  # Last-Event-ID from the notify frame
        backoffs = [e for e in events if e.__struct_config__.tag == "sync.backoff" and e.lane == "subscribe"]  # type: ignore[attr-defined]
        assert backoffs and backoffs[0].delay_s >= 0.025  # type: ignore[attr-defined]  # the retry hint (50 ms), equal-jittered
