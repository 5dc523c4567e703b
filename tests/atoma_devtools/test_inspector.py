"""The inspector over a real local client (real SQLite file): every panel renders real data,
filters work, actions act, settings are remembered and live refresh stays coalesced."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import msgspec
from PySide6.QtCore import QSettings, QTimer

import atoma
from atoma_devtools import Inspector, open_inspector
from atoma_devtools.panels import EventsPanel, HistoryPanel, IndexesPanel, OutboxPanel, StoresPanel

from .helpers import shot


def start_stream(client: atoma.Client, n: int) -> tuple[QTimer, Callable[[], int]]:
    """``n`` task writes, one every 10 ms from a QTimer on the GUI thread (a bounded stream);
    returns the timer (keep it alive) and how many were written so far."""
    tasks = client.store("tasks")
    done = [0]
    ticker = QTimer()

    def write() -> None:
        done[0] += 1
        tasks.add({"title": f"stream {done[0]}"})
        if done[0] == n:
            ticker.stop()

    ticker.timeout.connect(write)
    ticker.start(10)
    return ticker, lambda: done[0]


def test_every_panel_renders_real_data_and_screenshots(inspector: Inspector, client: atoma.Client, shots: Path, app) -> None:  # type: ignore[no-untyped-def]
    client.store("tasks").update(client.seeded["tasks"][5].id, {"title": "Renamed while inspecting"})  # type: ignore[attr-defined]
    app.processEvents()
    for p in inspector.panels:
        inspector.show_panel(p.title)
        p.do_refresh()
        if p.md is not None and p.md.model.rowCount():
            p.md.view.selectRow(0)
        if isinstance(p, IndexesPanel):
            p.lab.where.setText('{"done": false}')
            p.lab.order.setText("priority desc")
            assert p.lab.run() is not None
        app.processEvents()
        shot(inspector, str(shots / f"{p.title.replace(' ', '_').lower()}.png"))
    assert all((shots / f"{p.title.replace(' ', '_').lower()}.png").stat().st_size > 5000 for p in inspector.panels)


def test_stores_counts_filter_and_paging(inspector: Inspector, client: atoma.Client) -> None:
    p = inspector.show_panel("Stores")
    assert isinstance(p, StoresPanel)
    counts = {p.resources.topLevelItem(i).text(0): p.resources.topLevelItem(i).text(1) for i in range(2)}
    assert counts == {"tasks": "240", "projects": "3"}
    assert p.md.model.rowCount() == 200 and p.next_btn.isEnabled()
    p.next_page()
    assert p.md.model.rowCount() == 40 and not p.next_btn.isEnabled()
    assert "page 2" in p.page_label.text()
    p.prev_page()
    assert p.md.model.rowCount() == 200
    p.where.setText('{"done": false, "title": {"contains": "milk"}}')
    p.order.setText("priority desc")
    p.first_page()
    expected = client.store("tasks").count({"done": False, "title": {"contains": "milk"}})
    assert p.md.model.rowCount() == expected > 0
    prios = [r.data["priority"] for r in p.md.rows()]
    assert prios == sorted(prios, reverse=True)
    # unsynced edits: the diff tab shows server base -> local (no base: created locally)
    p.md.view.selectRow(0)
    assert p.md.current_row().status == "local"
    p.where.setText("{not json")
    p.first_page()
    assert p.error.isVisibleTo(p) and "JSON" in p.error.text()
    p.where.setText("")
    p.order.setText("")
    p.select_resource("projects")
    assert {r.data["name"] for r in p.md.rows()} == {"Home & garden", "Work", "Errands"}


def test_indexes_sizes_and_query_lab(inspector: Inspector) -> None:
    p = inspector.show_panel("Indexes")
    assert isinstance(p, IndexesPanel)
    names = {r.key: r.data for r in p.md.rows()}
    assert {"ix_tasks_done", "ix_tasks_project_id", "ix_tasks_priority", "fts_tasks_0", "r_tasks", "r_projects"} <= set(names)
    assert names["ix_tasks_done"]["entries"] == 240 and names["ix_tasks_done"]["bytes"] > 0
    assert names["fts_tasks_0"]["kind"] == "text" and names["fts_tasks_0"]["bytes"] > 0
    p.md.select_key("ix_tasks_priority")
    p._try(p.md.selected_rows())
    res = p.lab.last
    assert res is not None and res.indexes == ["ix_tasks_priority"] and res.rows == 50 and res.ms >= 0 and not res.full_scan
    p.lab.where.setText('{"notes": "call first"}')
    p.lab.order.setText("")
    res = p.lab.run()
    assert res is not None and res.full_scan and res.total == 35 and "full table scan" in p.lab.summary.text()
    p.md.select_key("fts_tasks_0")  # a full-text match is an index search, not a scan
    p._try(p.md.selected_rows())
    res = p.lab.last
    assert res is not None and res.indexes[0] == "fts_tasks_0" and not res.full_scan
    assert "fts_tasks_0" in p.lab.summary.text() and "full table scan" not in p.lab.summary.text()
    p.lab.where.setText('{"nope": 1}')
    assert p.lab.run() is None and "nope" in p.lab.summary.text()


def test_outbox_retry_and_discard_rejected(inspector: Inspector, client: atoma.Client) -> None:
    p = inspector.show_panel("Outbox")
    assert isinstance(p, OutboxPanel)
    seq = client.seeded["rejected_seq"]  # type: ignore[attr-defined]
    assert p.md.chips.button("rejected").text() == "✕ rejected 1"
    p.md.chips.button("rejected").setChecked(True)
    assert [r.key for r in p.md.visible_rows()] == [seq]
    row = p.md.visible_rows()[0]
    assert row.cells[7] == "VALIDATION: title: at most 16 characters"
    p.md.select_key(seq)
    assert p.retry_button.isEnabled() and p.discard_button.isEnabled()
    p.retry_button.click()
    assert client.outbox.get(seq).state == "pending"
    p.md.chips.button("rejected").setChecked(False)
    assert p.md.proxy.rowCount() == p.md.model.rowCount()
    # make it rejected again and discard it: the entity returns to its earlier value
    from atoma.sync.rows import set_state

    conn = client._connection()
    with conn:
        set_state(conn, [seq], "rejected", 1, error={"code": "VALIDATION", "message": "again", "kind": "validation"})
    p.do_refresh()
    eid = client.outbox.get(seq).entity_id
    p.md.select_key(seq)
    p.discard_button.click()
    assert client.outbox.get(seq) is None
    assert client.store("tasks").get(eid).title != "Buy milk and bread"
    assert "discard" in inspector.statusBar().currentMessage()
    # local-only engine: pausing is not available and says so
    assert not p.pause_button.isEnabled() or p.pause_button.toolTip()


def test_history_undo_redo(inspector: Inspector, client: atoma.Client) -> None:
    p = inspector.show_panel("History")
    assert isinstance(p, HistoryPanel)
    labels = [r.data["step"]["label"] for r in p.md.rows()]
    assert labels == ["Create projects", "Import tasks", "Edit task", "Rename project", "Edit task"]
    p.md.select_key(4)  # the projects-editor scope
    assert p.target_scope() == "projects-editor"
    p.undo_button.click()
    assert client.store("projects").get(client.seeded["projects"][0].id).name == "Home"  # type: ignore[attr-defined]
    p.do_refresh()
    assert {r.key: r.status for r in p.md.rows()}[4] == "undone"
    p.md.select_key(4)
    assert p.redo_button.isEnabled()
    p.redo_button.click()
    assert client.store("projects").get(client.seeded["projects"][0].id).name == "Home & garden"  # type: ignore[attr-defined]
    p.scope.setCurrentText("default")
    assert {r.data["step"]["scope"] for r in p.md.rows()} == {"default"}
    row = p.md.rows()[1]
    assert row.data["step"]["change_count"] == 240 and len(row.data["changes"]) == 50


def test_events_timeline_pause_filter_export(inspector: Inspector, client: atoma.Client, tmp_path: Path, app) -> None:  # type: ignore[no-untyped-def]
    p = inspector.show_panel("Events")
    assert isinstance(p, EventsPanel)
    tasks = client.store("tasks")
    t = tasks.add({"title": "watch me"})
    tasks.update(t.id, {"done": True})
    assert len(p.buffer) == 0  # nothing happens inside the write path but a queue append...
    p.do_refresh()  # ...the inspector hands the batch over on its timer (or when a panel is shown)
    inspector.drain()
    p.do_refresh()
    types = [r.data["type"] for r in p.md.rows()]
    assert "store.changed" in types and "outbox.enqueued" in types and "history.changed" in types
    p.md.chips.set_selected(["store.changed"])
    assert {r.data["type"] for r in p.md.visible_rows()} == {"store.changed"}
    out = tmp_path / "events.json"
    n = p.export(str(out))
    exported = msgspec.json.decode(out.read_bytes())
    assert n == len(exported) == 2 and all(e["type"] == "store.changed" for e in exported)
    # Paused: nothing recorded, and the inspector asks only for what the other panels need.
    from atoma_devtools.inspector import known_event_types

    assert inspector.subscribed_types == known_event_types()
    p.set_paused(True)
    others = frozenset().union(*(q.event_types for q in inspector.panels if q is not p))
    assert inspector.subscribed_types == others
    before = len(p.buffer)
    tasks.update(t.id, {"done": False})
    inspector.drain()
    assert len(p.buffer) == before
    p.set_paused(False)
    assert inspector.subscribed_types == known_event_types()
    p.clear()
    assert p.md.model.rowCount() == 0
    # bounded: never more than maxlen events kept
    tasks.add_many([{"title": f"bulk {i}"} for i in range(10)])
    for i in range(1100):
        tasks.update(t.id, {"priority": i})
    inspector.drain()
    assert len(p.buffer) == p.maxlen
    p.do_refresh()
    assert p.md.model.rowCount() == p.maxlen
    # rows format their text lazily: only what is painted or searched
    from atoma_devtools.panels.events import EventRow

    built = sum(1 for r in p.md.rows() if isinstance(r, EventRow) and r._built)
    assert built < 200, built


def test_live_refresh_is_coalesced_and_bounded(inspector: Inspector, client: atoma.Client, qtbot) -> None:  # type: ignore[no-untyped-def]
    p = inspector.show_panel("Stores")
    tasks = client.store("tasks")
    start_refreshes, start_events = inspector.refreshes, inspector.events_seen
    for i in range(50):
        tasks.add_many([{"title": f"burst {i}-{j}"} for j in range(20)])
    assert inspector.refreshes == start_refreshes  # nothing refreshes inside the write path
    qtbot.waitUntil(lambda: p.resources.topLevelItem(0).text(1) == "1,240", timeout=5000)
    assert inspector.events_seen - start_events >= 100
    assert inspector.refreshes - start_refreshes <= 3
    # hidden panels only become dirty; they refresh when shown
    outbox = inspector.panel("Outbox")
    assert outbox.dirty
    inspector.show_panel("Outbox")
    assert not outbox.dirty
    pending = client.outbox.count("pending")
    assert pending >= 1000
    assert outbox.md.chips.button("pending").text().endswith(f" {pending}")


def test_sidebar_badges_of_hidden_panels_follow_the_client(inspector: Inspector, client: atoma.Client, qtbot) -> None:  # type: ignore[no-untyped-def]
    inspector.show_panel("Events")  # Stores and Outbox are hidden from here on
    outbox = inspector.panel("Outbox")
    sidebar = inspector.sidebar

    def badge(title: str) -> str:
        return sidebar.item([p.title for p in inspector.panels].index(title)).text()

    before = outbox.refresh_count
    client.store("tasks").add_many([{"title": f"queued {i}"} for i in range(5)])
    waiting = client.outbox.count("pending") + client.outbox.count("in_flight")
    total = sum(client.store(name).count() for name in client.schema.resources)
    qtbot.waitUntil(lambda: f"{waiting:,} queued" in badge("Outbox"), timeout=5000)
    qtbot.waitUntil(lambda: badge("Stores").endswith(f"{total:,}"), timeout=5000)
    assert outbox.refresh_count == before and outbox.dirty  # counted, not refreshed


def test_a_sustained_stream_refreshes_at_the_steady_pace(client: atoma.Client, settings: QSettings, app, qtbot) -> None:  # type: ignore[no-untyped-def]
    # Leading edge: the first event after a quiet spell shows after refresh_ms; then, while
    # writes keep coming, refreshes are at least steady_ms apart (the throttle).
    win = Inspector(client, settings=settings, refresh_ms=20, steady_ms=600)
    win.resize(900, 600)
    win.show()
    win.refresh_now()
    p = win.show_panel("Stores")
    # refresh_now() counts against the throttle too: wait until the window is quiet
    qtbot.waitUntil(lambda: win._delay_ms() == win.refresh_ms, timeout=5000)
    at: list[float] = []
    real_refresh = win._refresh

    def timed(panel):  # type: ignore[no-untyped-def]
        real_refresh(panel)
        at.append(time.monotonic())

    win._refresh = timed  # type: ignore[method-assign]
    t0 = time.monotonic()
    _ticker, written = start_stream(client, 150)  # ~100 writes/s: a second and a half
    qtbot.waitUntil(lambda: bool(at), timeout=2000)
    first_shown = at[0] - t0
    qtbot.waitUntil(lambda: written() == 150, timeout=10_000)
    qtbot.waitUntil(lambda: p.resources.topLevelItem(0).text(1) == "390", timeout=5000)
    gaps = [b - a for a, b in zip(at, at[1:])]
    assert first_shown < 0.4, first_shown  # not held back to the steady pace (600 ms)
    assert len(gaps) >= 2, gaps
    assert min(gaps) >= 0.6 * 0.9, gaps  # QTimer may fire up to 5 % early
    win.shutdown()
    win.deleteLater()


def test_settings_are_remembered(client: atoma.Client, settings: QSettings, app) -> None:  # type: ignore[no-untyped-def]
    win = Inspector(client, settings=settings)
    win.show_panel("Outbox")
    outbox = win.panel("Outbox")
    outbox.md.search.setText("tasks")
    outbox.md.chips.set_selected(["rejected"])
    outbox.md.splitter.setSizes([700, 300])
    sizes = outbox.md.splitter.sizes()
    win.panel("Stores").where.setText('{"done": true}')
    win.close()
    again = Inspector(client, settings=settings)
    assert again.current_panel.title == "Outbox"
    o2 = again.panel("Outbox")
    assert o2.md.search.text() == "tasks" and o2.md.chips.selected() == {"rejected"}
    assert o2.md.splitter.sizes() == sizes or sum(o2.md.splitter.sizes()) == 0
    assert again.panel("Stores").where.text() == '{"done": true}'
    assert settings.fileName().startswith(str(Path(settings.fileName()).parent))
    again.shutdown()


def test_open_inspector_keeps_the_window_alive(client: atoma.Client, settings: QSettings, app) -> None:  # type: ignore[no-untyped-def]
    win = open_inspector(client, settings=settings)
    assert win.isVisible() and win in app._atoma_inspectors
    win.close()


def test_splitters_limits_and_column_widths_are_remembered(client: atoma.Client, settings: QSettings, app) -> None:  # type: ignore[no-untyped-def]
    def opened() -> Inspector:
        win = Inspector(client, settings=settings)
        win.resize(1100, 700)
        win.show()
        win.refresh_now()
        app.processEvents()
        return win

    win = opened()
    indexes = win.show_panel("Indexes")
    assert isinstance(indexes, IndexesPanel)
    app.processEvents()
    indexes.splitter.setSizes([200, 400])
    indexes.lab.splitter.setSizes([250, 600])
    indexes.lab.right.setSizes([90, 300])
    indexes.lab.limit.setValue(7)
    wanted = indexes.splitter.sizes(), indexes.lab.splitter.sizes(), indexes.lab.right.sizes()
    stores = win.show_panel("Stores")
    assert isinstance(stores, StoresPanel)
    stores.select_resource("tasks")
    app.processEvents()
    stores.md.view.setColumnWidth(1, 240)  # tasks: its "title" column
    stores.select_resource("projects")
    app.processEvents()
    stores.md.view.setColumnWidth(1, 333)  # projects: a column of its own
    win.close()
    win.shutdown()

    again = opened()
    i2 = again.panel("Indexes")
    assert isinstance(i2, IndexesPanel)
    again.show_panel("Indexes")
    app.processEvents()
    assert (i2.splitter.sizes(), i2.lab.splitter.sizes(), i2.lab.right.sizes()) == wanted
    assert i2.lab.limit.value() == 7
    # not the lab results' column widths: each run sets its resource's columns afresh
    assert "header" not in i2.save_state()["lab"]["results"]
    s2 = again.panel("Stores")
    assert isinstance(s2, StoresPanel)
    assert s2.resource == "projects" and s2.md.view.columnWidth(1) == 333
    s2.select_resource("tasks")
    assert s2.md.view.columnWidth(1) == 240
    again.shutdown()
    again.deleteLater()


def test_badges_are_counted_at_opening_and_recounts_follow_the_throttle(client: atoma.Client, settings: QSettings, app, qtbot) -> None:  # type: ignore[no-untyped-def]
    win = Inspector(client, settings=settings, refresh_ms=20, steady_ms=600)
    win.resize(900, 600)
    win.show()
    titles = [p.title for p in win.panels]
    outbox_item = win.sidebar.item(titles.index("Outbox"))
    assert win.current_panel.title != "Outbox"
    assert "✕ 1" in outbox_item.text()  # the seeded rejected intent, before any event
    win.show_panel("Conflicts")  # a panel the writes below do not touch
    stores = win.panel("Stores")
    calls: list[float] = []
    real = stores.update_badge

    def counted() -> None:
        calls.append(time.monotonic())
        real()

    stores.update_badge = counted  # type: ignore[method-assign]
    # ~100 writes/s for ~1.2 s: without the throttle, a recount every 20 ms
    _ticker, written = start_stream(client, 120)
    qtbot.waitUntil(lambda: written() == 120, timeout=10_000)
    qtbot.waitUntil(lambda: win.sidebar.item(titles.index("Stores")).text().endswith(f"{sum(client.store(n).count() for n in client.schema.resources):,}"), timeout=5000)
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert 1 <= len(calls) <= 5, calls
    assert all(g >= 0.6 * 0.9 for g in gaps), gaps
    # quiet since: nothing more is recounted
    n = len(calls)
    win.flush()
    assert len(calls) == n
    win.shutdown()
    win.deleteLater()


def test_an_empty_resource_keeps_no_column_widths(tmp_path: Path, settings: QSettings, app) -> None:  # type: ignore[no-untyped-def]
    """Widths are kept per resource only once fitted to rows: a resource first seen empty
    is fitted when rows come, not stuck with the previous resource's widths."""
    from .helpers import SCHEMA

    def widths(client: atoma.Client, own_settings: QSettings) -> list[int]:
        win = Inspector(client, settings=own_settings)
        win.resize(1100, 700)
        win.show()
        stores = win.show_panel("Stores")
        assert isinstance(stores, StoresPanel)
        stores.select_resource("projects")
        out = [stores.md.view.columnWidth(i) for i in range(stores.md.model.columnCount())]
        win.close()
        win.shutdown()
        return out

    with atoma.Client(str(tmp_path / "b.db"), SCHEMA) as client:
        client.store("tasks").add({"title": "a task with a title long enough to widen its column"})
        widths(client, settings)  # projects seen empty, then the window closes
        client.store("projects").add({"name": "a project whose name is long enough to need room", "color": "green"})
        fresh = QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat)
        # fitted, as on a first visit (the last column stretches to whatever room is left)
        assert widths(client, settings)[:-1] == widths(client, fresh)[:-1]
