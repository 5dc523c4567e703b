"""The inspector and the conflict dialog end to end: real clients, the real reference server
(uvicorn on 127.0.0.1, SQLite), real widgets on the offscreen platform.

Client A is the inspected app (``manual`` conflicts, no stream and no polling unless a test
wants them, so each test decides when A learns); client B is another device writing to the
same server. A small server plugin (:class:`Gate`) can refuse writes of titles starting
with ``blocked`` (FORBIDDEN, a rejection for good) and hold queries in flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QSettings

import atoma
from atoma_devtools import ConflictDialog, Inspector
from atoma_devtools.panels import CachePanel, ConflictsPanel, OutboxPanel, SyncPanel
from server_reference.plugins import Plugin, forbidden

from ..atoma.sync.helpers import FAST, eventually
from ..atoma.sync.live import LiveServer
from .helpers import SCHEMA, shot

QUIET = msgspec.structs.replace(FAST, subscribe=False, poll_interval=3600.0)


class Gate(Plugin):
    """Refuses writes of titles starting with ``blocked`` while ``refuse`` is set; holds
    queries while ``hold`` is set. Runs on the server's thread; flags are plain attributes."""

    def __init__(self) -> None:
        self.refuse = True
        self.hold = threading.Event()

    async def op(self, ctx: Any, call_next: Any) -> Any:
        op = ctx.op
        if ctx.kind == "query":
            while self.hold.is_set():
                await asyncio.sleep(0.01)
        elif ctx.kind == "write" and self.refuse:
            for item in getattr(op, "items", ()) or ():
                title = (item.value or {}).get("title")
                if isinstance(title, str) and title.startswith("blocked"):
                    raise forbidden("titles starting with 'blocked' are not allowed here", field="title")
        return await call_next(ctx)


class GatedServer(LiveServer):
    def __init__(self, db_path: str, schema: atoma.Schema) -> None:
        super().__init__(db_path, schema)
        self.gate = Gate()

    def start(self, timeout: float = 15.0) -> "GatedServer":
        import time

        from server_reference import SQLiteAdapter, SubscribeSettings, create_app, make_server

        app = create_app(
            SQLiteAdapter(self.db_path, self.schema),
            plugins=[self.gate],
            subscribe=SubscribeSettings(heartbeat_s=self.heartbeat_s, retry_ms=self.retry_ms, min_notify_interval_ms=20),
        )
        self._server = make_server(app, port=self.port, log_level="warning", timeout_graceful_shutdown=1)
        self._thread = threading.Thread(target=self._server.run, name=f"atoma-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GatedServer]:
    """The gated reference server on a free port. While it runs, the cycle collector only
    runs on this (the GUI) thread: started by an allocation on the server's thread, it could
    destroy the test's widgets there (a crash in Qt)."""
    import gc

    gc.disable()
    s = GatedServer(str(tmp_path / "server.db"), SCHEMA).start()
    try:
        yield s
    finally:
        s.stop()
        gc.enable()
        gc.collect()


def make(tmp_path: Path, server: LiveServer, name: str, **kw: Any) -> atoma.Client:
    opts = kw.pop("sync_options", FAST)
    return atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=opts, **kw)


@asynccontextmanager
async def pair(tmp_path: Path, server: LiveServer, **a_kw: Any) -> AsyncIterator[tuple[atoma.Client, atoma.Client, str]]:
    """A (the inspected app) and B, both started, sharing one task ``eid``."""
    a_kw.setdefault("sync_options", QUIET)
    a = make(tmp_path, server, "a.db", **a_kw)
    b = make(tmp_path, server, "b.db")
    await a.start()
    await b.start()
    try:
        t = await a.sync.confirmed(a.store("tasks").add, {"title": "Buy milk", "priority": 1, "notes": ""}, timeout=10)
        await b.sync.pull()
        assert b.store("tasks").get(t.id) is not None
        yield a, b, t.id
    finally:
        await a.close()
        await b.close()


async def clash(a: atoma.Client, b: atoma.Client, mine: Callable[[atoma.Store], Any], theirs: Callable[[atoma.Store], Any]) -> None:
    """A's edit stays unsent while B's reaches the server; then A pushes and meets the conflict."""
    async with a.sync._push_lock:
        mine(a.store("tasks"))
        theirs(b.store("tasks"))
        await b.sync.wait_idle(10)
    await a.sync.push()
    await a.sync.wait_idle(10)


def on_server(server: LiveServer, eid: str) -> tuple[dict[str, Any] | None, int]:
    version, deleted, data = server.entities("tasks")[eid]
    return (None if deleted else {k: v for k, v in msgspec.json.decode(data).items() if k not in ("id", "version")}), version


async def converged(a: atoma.Client, b: atoma.Client, server: LiveServer, eid: str) -> tuple[dict[str, Any] | None, int]:
    """Let everyone catch up; assert A, B and the server hold the same value and version."""
    await a.sync.wait_idle(10)
    await b.sync.wait_idle(10)
    await a.sync.pull()
    await b.sync.pull()
    value, version = on_server(server, eid)
    for c in (a, b):
        got = c.store("tasks").get(eid)
        local = None if got is None else {k: v for k, v in msgspec.to_builtins(got).items() if k not in ("id", "version")}
        assert local == value, f"{c.path}: {local} != server {value}"
        if got is not None:
            assert got.version == version, (c.path, got.version, version)
    return value, version


def signal_future(signal: Any) -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    signal.connect(lambda *args: fut.done() or fut.set_result(args))
    return fut


def inspector(client: atoma.Client, settings: QSettings, panel: str) -> tuple[Inspector, Any]:
    win = Inspector(client, settings=settings)
    win.resize(1100, 700)
    win.show()
    p = win.show_panel(panel)
    win.refresh_now()
    return win, p


def test_dialog_resolves_a_real_conflict_end_to_end(tmp_path: Path, server: GatedServer, settings: QSettings, shots: Path, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server, conflict_strategy="manual") as (a, b, eid):
            await clash(
                a, b,
                lambda s: s.update(eid, {"title": "Buy oat milk", "priority": 2}),
                lambda s: s.update(eid, {"title": "Buy milk and eggs", "done": True}),
            )
            [c] = a.sync.conflicts.list(state="open")
            win, p = inspector(a, settings, "Conflicts")
            assert isinstance(p, ConflictsPanel)
            assert [r.key for r in p.md.rows()] == [c.id] and p.md.rows()[0].cells[4] == "title" and p.badge() == "1 open"
            p.md.select_key(c.id)
            shot(win, str(shots / "e2e_conflicts_panel.png"))
            p.open_button.click()
            dlg = p.dialogs[-1]
            assert isinstance(dlg, ConflictDialog) and dlg.isVisible() and not dlg.isModal()
            assert dlg.merge.sides == {"title": "conflict", "priority": "local", "done": "server"}
            assert not dlg.merge_button.isEnabled()  # "title" is undecided
            dlg.choose("title", "edit", "Buy oat milk and eggs")
            assert dlg.merge_button.isEnabled()
            dlg.resize(1000, 520)
            shot(dlg, str(shots / "e2e_conflict_dialog.png"))
            dlg.merge_button.click()
            out = await dlg.wait()
            assert out is not None and (out.state, out.resolution, out.resolved_by) == ("resolved", "merged", "user")
            value, version = await converged(a, b, server, eid)
            assert value == {"title": "Buy oat milk and eggs", "done": True, "priority": 2, "project_id": None, "notes": ""}
            assert version == 3
            await asyncio.sleep(0)
            p.do_refresh()
            assert p.md.rows()[0].status == "resolved" and p.badge() == ""
            win.shutdown()

    arun(scenario(), timeout=40)


def test_dialog_refuses_to_apply_when_the_server_moved_again(tmp_path: Path, server: GatedServer, settings: QSettings, shots: Path, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server, conflict_strategy="manual") as (a, b, eid):
            await clash(a, b, lambda s: s.update(eid, {"title": "mine"}), lambda s: s.update(eid, {"title": "theirs"}))
            [c] = a.sync.conflicts.list(state="open")
            win, p = inspector(a, settings, "Conflicts")
            dlg = p.open_dialog(c)
            dlg.choose("title", "mine")
            assert dlg.conflict.server_version == 2
            # The server moves while the person reads the dialog.
            b.store("tasks").update(eid, {"title": "theirs, again", "notes": "changed twice"})
            await b.sync.wait_idle(10)
            assert on_server(server, eid)[1] == 3
            moved = signal_future(dlg.moved)
            dlg.merge_button.click()
            await asyncio.wait_for(moved, 10)
            await asyncio.sleep(0)
            # Nothing was applied: the conflict is open, the server untouched, the dialog says so.
            assert a.sync.conflicts.get(c.id).state == "open"  # type: ignore[union-attr]
            assert on_server(server, eid) == ({"title": "theirs, again", "done": False, "priority": 1, "project_id": None, "notes": "changed twice"}, 3)
            assert dlg.isVisible() and dlg.result_conflict is None
            assert "changed this item again" in dlg.notice.text() and "2 → 3" in dlg.notice.text()
            assert dlg.conflict.server_version == 3 and dlg.conflict.server["notes"] == "changed twice"  # type: ignore[index]
            assert dlg.choices["title"].choice == "mine"  # the person's pick survives the reload
            dlg.resize(1000, 560)
            shot(dlg, str(shots / "e2e_conflict_dialog_moved.png"))
            # Applying again, over the version the person has now seen, goes through.
            dlg.merge_button.click()
            out = await dlg.wait()
            assert out is not None and out.resolution == "merged"
            value, version = await converged(a, b, server, eid)
            assert value == {"title": "mine", "done": False, "priority": 1, "project_id": None, "notes": "changed twice"} and version == 4
            win.shutdown()

    arun(scenario(), timeout=40)


def test_outbox_pause_resume_holds_and_sends(tmp_path: Path, server: GatedServer, settings: QSettings, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server, sync_options=FAST) as (a, _b, _eid):
            win, p = inspector(a, settings, "Outbox")
            assert isinstance(p, OutboxPanel) and p.pause_button.isEnabled()
            p.pause_button.click()
            assert a.sync.push_paused and p.pause_button.isChecked() and "Resume" in p.pause_button.text()
            ids = [a.store("tasks").add({"title": f"held {i}"}).id for i in range(3)]
            await asyncio.sleep(0.5)  # the push lane would have sent them well within this
            assert not set(ids) & set(server.entities("tasks"))
            p.do_refresh()
            assert p.banner.isVisible() and "paused" in p.banner.text() and "3 intents" in p.banner.text()
            assert p.md.chips.button("pending").text().endswith("3") and "paused" in p.badge()
            p.pause_button.click()
            assert not a.sync.push_paused and not p.banner.isVisible()
            await a.sync.wait_idle(10)
            assert set(ids) <= set(server.entities("tasks"))
            p.do_refresh()
            assert {r.status for r in p.md.rows()} <= {"acked"}
            win.shutdown()

    arun(scenario(), timeout=40)


def test_sync_panel_work_offline_and_sync_now(tmp_path: Path, server: GatedServer, settings: QSettings, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server, sync_options=FAST) as (a, b, _eid):
            win, p = inspector(a, settings, "Sync")
            assert isinstance(p, SyncPanel) and p.offline_button.isEnabled()
            p.offline_button.click()
            await eventually(lambda: a.sync.offline and not a.sync.running, 10, "offline")
            await asyncio.sleep(0.05)
            assert p.offline_button.isChecked() and "go online" in p.offline_button.text()
            assert not p.sync_now_button.isEnabled() and "offline" in p.fields["State"].text()
            t = a.store("tasks").add({"title": "written offline"})
            await asyncio.sleep(0.3)
            assert t.id not in server.entities("tasks") and a.outbox.counts().get("pending") == 1
            p.offline_button.click()
            await eventually(lambda: not a.sync.offline and a.sync.running, 10, "online")
            await a.sync.wait_idle(10)
            assert t.id in server.entities("tasks")
            await eventually(lambda: not p.offline_button.isChecked(), 5, "button follows")
            assert p.sync_now_button.isEnabled()
            # Sync now: pushes (even while pushing is paused) and pulls what B wrote.
            a.sync.pause_push()
            mine = a.store("tasks").add({"title": "sent by Sync now"})
            theirs = b.store("tasks").add({"title": "from B"})
            await b.sync.wait_idle(10)
            await a.sync.set_offline(True)  # no stream, no polling: only Sync now can bring B's task
            await a.sync.set_offline(False)
            fut = p.sync_now()
            await fut
            assert mine.id in server.entities("tasks") and a.store("tasks").get(theirs.id) is not None
            assert "pushed" in win.statusBar().currentMessage()
            win.drain()
            p.do_refresh()
            kinds = {r.data["type"] for r in p.md.rows()}
            assert {"push.started", "push.acked", "pull.applied"} <= kinds
            assert "paused" in p.fields["Pushing"].text()
            a.sync.resume_push()
            win.shutdown()

    arun(scenario(), timeout=40)


def test_cache_panel_statuses_invalidate_and_clear(tmp_path: Path, server: GatedServer, settings: QSettings, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server) as (a, b, _eid):
            b.store("tasks").add_many([{"title": f"remote {i}", "done": i % 2 == 0} for i in range(6)])
            b.store("projects").add({"name": "Home"})
            await b.sync.wait_idle(10)
            tasks, projects = a.store("tasks"), a.store("projects")
            await tasks.query(where={"done": False}, cache=True)
            await tasks.query(where={"done": True}, order_by=[("title", "asc")], cache=True)
            await projects.query(cache=True)
            await tasks.query(where={"done": False}, cache=True)  # a hit
            win, p = inspector(a, settings, "Remote cache")
            assert isinstance(p, CachePanel)
            rows = {(r.cells[0], r.cells[1]): r for r in p.md.rows()}
            assert len(rows) == 3 and {r.status for r in rows.values()} == {"fresh"}
            done_false = rows[("tasks", 'where={"done":false} · order by id asc')]
            assert done_false.cells[5] == 4 and done_false.cells[4] == 0  # 4 rows, nobody observing
            assert "Hit rate:</b> 25%" in p.summary.text()
            # fetching: a query held in flight by the server
            server.gate.hold.set()
            task = asyncio.ensure_future(projects.query(where={"name": "Home"}, cache=True))
            await eventually(lambda: a.remote_cache.stats().in_flight == 1, 5, "in flight")
            win.drain()
            p.do_refresh()
            assert {r.status for r in p.md.rows()} == {"fresh", "fetching"}
            server.gate.hold.clear()
            await task
            win.drain()
            p.do_refresh()
            assert [r.status for r in p.md.rows()].count("fresh") == 4
            # invalidate: the selected row's resource
            p.md.select_key(next(r.key for r in p.md.rows() if r.cells[0] == "tasks"))
            p.invalidate_button.click()
            assert {r.cells[0] for r in p.md.rows()} == {"projects"} and len(a.remote_cache) == 2
            assert "invalidated 2 cached answers of tasks" in win.statusBar().currentMessage()
            # stale: an answer that outlived stale_time
            real = a.remote_cache.clock
            a.remote_cache.clock = lambda: real() + 3600
            a.remote_cache.entries()  # the cache sweeps expired answers (cache.evicted "expired")
            win.drain()
            p.do_refresh()
            assert {r.status for r in p.md.rows()} == {"stale"} and len(p.md.rows()) == 2
            a.remote_cache.clock = real
            await tasks.query(where={"done": False}, cache=True)
            win.drain()
            p.do_refresh()
            assert {r.status for r in p.md.rows()} == {"fresh", "stale"}
            # remove: just the selected answer
            p.md.select_key(next(r.key for r in p.md.rows() if r.status == "fresh"))
            p.remove_button.click()
            assert "removed 1 cached answer" in win.statusBar().currentMessage() and len(a.remote_cache) == 0
            p.clear_button.click()
            assert p.md.rows() == [] and len(a.remote_cache) == 0 and "Hit rate:</b> —" in p.summary.text()
            win.shutdown()

    arun(scenario(), timeout=40)


def test_outbox_retry_and_discard_a_real_rejection(tmp_path: Path, server: GatedServer, settings: QSettings, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        async with pair(tmp_path, server, sync_options=FAST) as (a, _b, eid):
            tasks = a.store("tasks")
            t = tasks.add({"title": "blocked: needs approval"})
            await eventually(lambda: a.outbox.counts().get("rejected") == 1, 10, "rejected")
            win, p = inspector(a, settings, "Outbox")
            [seq] = [r.key for r in p.md.rows() if r.status == "rejected"]
            row = next(r for r in p.md.rows() if r.key == seq)
            assert row.cells[7].startswith("FORBIDDEN: titles starting with 'blocked'")
            assert p.badge().startswith("✕ 1")
            # The server's rule changes; retry sends the same intent (same key) again.
            server.gate.refuse = False
            p.md.select_key(seq)
            assert p.retry_button.isEnabled()
            p.retry_button.click()
            await a.sync.wait_idle(10)
            assert a.outbox.get(seq).state == "acked"  # type: ignore[union-attr]
            assert t.id in server.entities("tasks")
            # A second rejection, discarded: the entity returns to the server's value.
            server.gate.refuse = True
            tasks.update(eid, {"title": "blocked: rename"})
            await eventually(lambda: a.outbox.counts().get("rejected") == 1, 10, "rejected again")
            p.do_refresh()
            [seq2] = [r.key for r in p.md.rows() if r.status == "rejected"]
            p.md.select_key(seq2)
            p.discard_button.click()
            assert a.outbox.get(seq2) is None and tasks.get(eid).title == "Buy milk"  # type: ignore[union-attr]
            assert on_server(server, eid)[0]["title"] == "Buy milk"  # type: ignore[index]
            assert a.sync.status.rejected == 0
            win.shutdown()

    arun(scenario(), timeout=40)


def test_every_panel_with_live_data_screenshots(tmp_path: Path, server: GatedServer, settings: QSettings, shots: Path, arun) -> None:  # type: ignore[no-untyped-def]
    """One realistic session -- an open conflict, a rejected intent, paused pushing, cached
    remote queries, undo history, a sync log -- and a screenshot of every panel and the dialog
    (``ATOMA_SHOTS_DIR=/tmp/atoma_shots`` keeps them to look at)."""

    async def scenario() -> None:
        async with pair(tmp_path, server, conflict_strategy="manual") as (a, b, eid):
            win = Inspector(a, settings=settings)  # open from the start: the logs fill up live
            win.resize(1200, 720)
            win.show()
            b.store("projects").add_many([{"name": "Home", "color": "green"}, {"name": "Work"}])
            b.store("tasks").add_many([{"title": f"Remote task {i}", "done": i % 3 == 0, "priority": i % 4} for i in range(12)])
            await b.sync.wait_idle(10)
            await a.sync.pull()
            await clash(
                a, b,
                lambda s: s.update(eid, {"title": "Buy oat milk", "priority": 2}),
                lambda s: s.update(eid, {"title": "Buy milk and eggs", "done": True, "notes": "from the farm shop"}),
            )
            tasks = a.store("tasks")
            with a.history.action("Plan the week"):
                tasks.add_many([{"title": f"Plan day {d}", "priority": d % 3} for d in range(5)])
            await a.sync.push()
            tasks.add({"title": "blocked: approve budget"})
            await a.sync.push()
            await a.sync.wait_idle(10)
            await tasks.query(where={"done": False}, order_by=[("priority", "desc")], limit=20, cache=True)
            await tasks.query(where={"title": {"contains": "remote"}}, cache=True)
            await a.store("projects").query(cache=True)
            await tasks.query(where={"done": False}, order_by=[("priority", "desc")], limit=20, cache=True)
            a.sync.pause_push()
            tasks.add({"title": "Written while paused"})
            tasks.update(tasks.find(where={"title": "Plan day 1"})[0].id, {"done": True})
            win.refresh_now()
            for p in win.panels:
                win.show_panel(p.title)
                win.drain()
                p.do_refresh()
                if p.md is not None and p.md.model.rowCount():
                    key = {"Outbox": next((r.key for r in p.md.rows() if r.status == "rejected"), None)}.get(p.title)
                    if key is None or not p.md.select_key(key):
                        p.md.view.selectRow(0)
                if p.title == "Indexes":
                    p.lab.where.setText('{"done": false}')
                    p.lab.order.setText("priority desc")
                    p.lab.run()
                await asyncio.sleep(0.05)
                shot(win, str(shots / f"live_{p.title.replace(' ', '_').lower()}.png"))
            conflicts = win.show_panel("Conflicts")
            [c] = a.sync.conflicts.list(state="open")
            dlg = conflicts.open_dialog(c)
            dlg.resize(1000, 540)
            await asyncio.sleep(0.05)
            shot(dlg, str(shots / "live_conflict_dialog.png"))
            dlg.choose("title", "mine")
            dlg.show_unchanged.setChecked(True)
            await asyncio.sleep(0.05)
            shot(dlg, str(shots / "live_conflict_dialog_decided.png"))
            dlg.later_button.click()
            a.sync.resume_push()
            win.shutdown()

    arun(scenario(), timeout=60)
