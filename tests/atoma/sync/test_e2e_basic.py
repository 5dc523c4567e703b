"""End to end against the real reference server on 127.0.0.1 with real SQLite files."""

from __future__ import annotations

from pathlib import Path

import msgspec

import atoma
from atoma.events import Event

from .helpers import FAST, SCHEMA, async_test, eventually
from .live import LiveServer


def client(tmp_path: Path, server: LiveServer, name: str, **opts: object) -> atoma.Client:
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=msgspec.structs.replace(FAST, **opts))


def view(c: atoma.Client) -> dict[str, tuple[str, bool, int]]:
    return {t.id: (t.title, t.done, t.version) for t in c.store("tasks").find()}


@async_test
async def test_confirmed_write_and_status(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a:
        t = await a.sync.confirmed(a.store("tasks").add, {"title": "pay rent"}, timeout=10)
        got = a.store("tasks").get(t.id)
        assert got is not None and got.version == 1
        assert live_server.entities("tasks")[t.id][0] == 1
        await eventually(lambda: a.sync.status.stream and a.sync.status.cursor >= 1, what="stream connected, own write pulled")
        st = a.sync.status
        assert st.state == "live" and st.pending == 0 and st.in_flight == 0 and st.cursor >= 1 and st.last_sync_ms


@async_test
async def test_two_clients_converge_after_concurrent_offline_edits(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a, client(tmp_path, live_server, "b.db") as b:
        ta, tb = a.store("tasks"), b.store("tasks")
        shared = [ta.add({"title": f"s{i}"}) for i in range(4)]
        await a.sync.wait_idle(10)
        await eventually(lambda: set(view(b)) == {s.id for s in shared}, what="b sees a's tasks")
        live_server.stop()  # both go offline
        ta.update(shared[0].id, {"done": True})
        ta.delete(shared[1].id)
        a_new = ta.add({"title": "from a"})
        tb.update(shared[2].id, {"title": "b renamed"})
        tb.delete(shared[3].id)
        b_new = tb.add({"title": "from b"})
        await eventually(lambda: a.sync.status.state in ("backoff", "connecting"), what="a notices the outage")
        assert a.sync.status.pending == 3 and b.sync.status.pending == 3  # durable while down
        live_server.start()
        await eventually(lambda: view(a) == view(b) and len(view(a)) == 4, timeout=20, what="convergence")
        final = view(a)
        assert set(final) == {shared[0].id, shared[2].id, a_new.id, b_new.id}
        assert final[shared[0].id][1] is True and final[shared[2].id][0] == "b renamed"
        server = live_server.entities("tasks")
        assert {k for k, (v, deleted, _) in server.items() if not deleted} == set(final)
        assert all(final[k][2] == server[k][0] for k in final)


@async_test
async def test_reconnect_sends_last_event_id_and_catches_up(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a, client(tmp_path, live_server, "b.db") as b:
        events: list[Event] = []
        b.events.subscribe(events.append)
        await eventually(lambda: b.sync.status.stream, what="b connected")
        t = a.store("tasks").add({"title": "one"})
        await eventually(lambda: b.store("tasks").get(t.id) is not None, what="notify + pull")
        assert any(e.__struct_config__.tag == "subscribe.notified" for e in events)
        live_server.stop()
        await eventually(lambda: not b.sync.status.stream, what="b sees the stream drop")
        u = a.store("tasks").add({"title": "written while down"})
        live_server.start()
        await eventually(lambda: b.store("tasks").get(u.id) is not None, timeout=20, what="catch up after restart")
        def connects() -> list[Event]:
            return [e for e in events if e.__struct_config__.tag == "subscribe.connected"]

        await eventually(lambda: len(connects()) >= 2, timeout=20, what="stream reconnected")
        assert connects()[-1].last_event_id  # type: ignore[attr-defined]
        assert any(e.__struct_config__.tag == "subscribe.lost" for e in events)


@async_test
async def test_periodic_pull_converges_without_the_stream(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a, client(tmp_path, live_server, "b.db", subscribe=False, poll_interval=0.2) as b:
        t = a.store("tasks").add({"title": "polled"})
        await eventually(lambda: b.store("tasks").get(t.id) is not None, what="periodic pull")
        assert not b.sync.status.stream


@async_test
async def test_cursor_expired_resync_keeps_pending_intents(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a:
        ids = [a.store("tasks").add({"title": f"t{i}"}).id for i in range(3)]
        await a.sync.wait_idle(10)
        await a.sync.pull()
    async with client(tmp_path, live_server, "b.db") as b:
        await b.sync.pull()  # b needs a's rows first
        b.store("tasks").delete(ids[0])
        await b.sync.wait_idle(10)
    # The server trims its history past a's cursor while a is away.
    import apsw

    conn = apsw.Connection(live_server.db_path)
    conn.set_busy_timeout(5000)
    head = conn.execute("SELECT max(cursor) FROM atoma_changes").fetchone()[0]
    with conn:
        conn.execute("DELETE FROM atoma_changes WHERE cursor <= ?", (head,))
        conn.execute("INSERT OR REPLACE INTO atoma_meta(key, value) VALUES ('trimmed_through', ?)", (str(head),))
    conn.close()
    async with client(tmp_path, live_server, "a.db", subscribe=False) as a:
        events: list[Event] = []
        a.events.subscribe(events.append)
        a.store("tasks").update(ids[1], {"done": True})  # pending across the resync
        await eventually(lambda: any(e.__struct_config__.tag == "sync.resync" for e in events), what="resync")
        await a.sync.wait_idle(10)
        assert set(view(a)) == set(ids[1:])
        assert view(a)[ids[1]][1] is True
        assert live_server.entities("tasks")[ids[1]][0] == 2


@async_test
async def test_work_offline_and_pause_push(tmp_path: Path, live_server: LiveServer) -> None:
    async with client(tmp_path, live_server, "a.db") as a, client(tmp_path, live_server, "b.db") as b:
        ta = a.store("tasks")
        await a.sync.set_offline(True)
        assert a.sync.offline and a.sync.status.state == "offline"
        t = ta.add({"title": "written offline"})
        assert a.sync.status.pending == 1 and live_server.entities("tasks") == {}
        await a.sync.set_offline(False)
        await a.sync.wait_idle(10)
        assert live_server.entities("tasks")[t.id][0] == 1
        a.sync.pause_push()
        ta.update(t.id, {"done": True})
        b.store("tasks").add({"title": "from b"})
        await b.sync.wait_idle(10)
        await eventually(lambda: len(view(a)) == 2, what="a still pulls while its push is paused")
        assert a.outbox.count("pending") == 1 and live_server.entities("tasks")[t.id][0] == 1
        a.sync.resume_push()
        await a.sync.wait_idle(10)
        await eventually(lambda: view(b).get(t.id, ("", False, 0))[1] is True, what="b sees the resumed push")
