"""LiveQuery over real SQLite files and real views (offscreen): fine-grained updates from
local writes, undo and sync, checked by QAbstractItemModelTester after every kind of change."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QItemSelectionModel, QThread, Qt
from PySide6.QtWidgets import QListView, QTableView

import atoma
from atoma.qt import LiveQuery



class Signals:
    """Counts a model's structural signals."""

    def __init__(self, model: Any) -> None:
        self.count: Counter[str] = Counter()
        self.roles: list[list[int]] = []
        for name in ("modelReset", "rowsInserted", "rowsRemoved", "rowsMoved", "layoutChanged"):
            getattr(model, name).connect(lambda *a, n=name: self.count.update([n]))
        model.dataChanged.connect(lambda tl, br, roles: (self.count.update(["dataChanged"]), self.roles.append(list(roles))))


def expected(client: atoma.Client, model: LiveQuery) -> list[str]:
    return [t.id for t in client.store("tasks").find(model.where, model.order_by, model.window)]


def test_roles_and_display(client: atoma.Client, qapp: Any) -> None:
    tasks = client.store("tasks")
    t = tasks.add({"title": "Buy milk", "priority": 2})
    model = LiveQuery(client, "tasks", order_by=[("title", "asc")])
    names = {bytes(v.data()).decode(): k for k, v in model.roleNames().items()}
    assert {"entity", "id", "version", "title", "done", "priority", "project_id"} <= set(names)
    assert names["entity"] == LiveQuery.EntityRole and names["id"] == LiveQuery.IdRole
    ix = model.index(0, 0)
    assert ix.data() == "Buy milk"  # DisplayRole: the first plain text field
    assert ix.data(model.role("priority")) == 2 and ix.data(LiveQuery.IdRole) == t.id
    assert ix.data(LiveQuery.EntityRole) == t
    assert model.count == 1 and model.row_of(t.id) == 0 and model.row_of("nope") == -1
    assert not model.loading and not model.fetching and not model.stale and model.error == ""


def test_local_writes_give_fine_grained_signals(client: atoma.Client, qtmodeltester: Any) -> None:
    tasks = client.store("tasks")
    rng = random.Random(7)
    for i in range(40):
        tasks.add({"title": f"task {i:02d}", "priority": rng.randrange(10), "done": i % 5 == 0})
    model = LiveQuery(client, "tasks", where={"done": False}, order_by=[("priority", "desc"), ("title", "asc")])
    qtmodeltester.check(model)  # the tester stays attached and checks every later signal
    sig = Signals(model)
    assert model.ids() == expected(client, model) and model.count == 32

    first = model.entity(0)
    tasks.update(first.id, {"title": "renamed"})  # same sort position: dataChanged with roles
    assert sig.count["dataChanged"] == 1 and model.role("title") in sig.roles[-1] and model.role("priority") not in sig.roles[-1]
    assert model.ids() == expected(client, model)

    tasks.update(first.id, {"priority": -1})  # moves to the end
    assert sig.count["rowsMoved"] == 1 and model.ids()[-1] == first.id

    new = tasks.add({"title": "aaa", "priority": 99})  # inserted at the top
    assert sig.count["rowsInserted"] == 1 and model.ids()[0] == new.id

    tasks.update(new.id, {"done": True})  # leaves the query
    tasks.delete(model.entity(3).id)
    assert sig.count["rowsRemoved"] == 2

    tasks.add_many([{"title": f"bulk {i}", "priority": i % 10} for i in range(100)])  # a large batch: diffed
    tasks.update_many(where={"done": False}, patch=lambda t: {"priority": 9 - t.priority})  # moves everything
    client.history.undo()  # origin "history"
    assert model.ids() == expected(client, model)
    assert sig.count["modelReset"] == 0 and sig.count["layoutChanged"] == 0
    assert model.count == len(expected(client, model))
    qtmodeltester.check(model)


def test_sync_changes_give_fine_grained_signals(remote_clients: Any, arun: Any, qtbot: Any, qtmodeltester: Any) -> None:
    a, b = remote_clients("a.db"), remote_clients("b.db")
    ta, tb = a.store("tasks"), b.store("tasks")
    seeds = [tb.add({"title": f"seed {i}", "priority": i}) for i in range(10)]
    arun(b.sync.wait_idle(10))
    model = LiveQuery(a, "tasks", where={"done": False}, order_by=[("priority", "asc")], fetch_policy="cache-only")
    qtmodeltester.check(model)
    sig = Signals(model)

    def converged() -> bool:
        return model.ids() == [t.id for t in tb.find(where={"done": False}, order_by=[("priority", "asc")])]

    qtbot.waitUntil(lambda: model.count == 10 and converged(), timeout=10_000)  # inserts from sync
    tb.update(seeds[0].id, {"title": "renamed by b"})  # update
    tb.update(seeds[1].id, {"priority": 100})  # move
    tb.update(seeds[2].id, {"done": True})  # leaves
    tb.delete(seeds[3].id)  # delete
    tb.add({"title": "new from b", "priority": 5})  # insert
    arun(b.sync.wait_idle(10))
    qtbot.waitUntil(converged, timeout=10_000)
    assert model.entity(model.row_of(seeds[0].id)).title == "renamed by b"
    assert sig.count["rowsMoved"] >= 1 and sig.count["rowsRemoved"] >= 2 and sig.count["dataChanged"] >= 1
    assert sig.count["modelReset"] == 0
    assert ta.get(seeds[3].id) is None
    qtmodeltester.check(model)


def test_selection_and_scroll_survive_1000_unrelated_updates(client: atoma.Client, qtbot: Any) -> None:
    tasks = client.store("tasks")
    made = tasks.add_many([{"title": f"task {i:04d}", "priority": i} for i in range(500)])
    model = LiveQuery(client, "tasks", order_by=[("priority", "asc")])
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(300, 400)
    view.show()
    qtbot.waitExposed(view)
    chosen = made[250]
    ix = model.index(model.row_of(chosen.id), 0)
    view.selectionModel().setCurrentIndex(ix, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    view.scrollTo(ix, QListView.ScrollHint.PositionAtCenter)
    scroll = view.verticalScrollBar().value()
    assert scroll > 0
    sig = Signals(model)
    rng = random.Random(1)
    others = [t for t in made if t.id != chosen.id]
    for n in range(1000):
        t = rng.choice(others)
        if n % 10 == 0 and t.priority > 260:  # now and then a move, below the selection
            tasks.update(t.id, {"priority": rng.randrange(261, 600)})
        else:
            tasks.update(t.id, {"title": f"edit {n}", "done": bool(n % 2)})
    qapp_events(qtbot)
    assert sig.count["modelReset"] == 0 and sig.count["layoutChanged"] == 0 and sig.count["dataChanged"] >= 900
    selected = view.selectionModel().selectedIndexes()
    assert [i.data(LiveQuery.IdRole) for i in selected] == [chosen.id]
    assert view.currentIndex().data(LiveQuery.IdRole) == chosen.id
    assert view.verticalScrollBar().value() == scroll
    # A row inserted above: the selection follows the entity (a persistent index).
    tasks.add({"title": "first", "priority": -1})
    assert view.currentIndex().data(LiveQuery.IdRole) == chosen.id and view.currentIndex().row() == 251


def qapp_events(qtbot: Any) -> None:
    qtbot.wait(1)  # let the view process its queued updates (not a synchronisation)


def test_window_keeps_its_size_and_fetch_more_reads_on(client: atoma.Client, qtmodeltester: Any) -> None:
    tasks = client.store("tasks")
    made = tasks.add_many([{"title": f"t{i:02d}", "priority": i} for i in range(30)])
    model = LiveQuery(client, "tasks", order_by=[("priority", "asc")], limit=10)
    assert model.ids() == [t.id for t in made[:10]] and model.can_fetch_more and model.window == 10
    top = tasks.add({"title": "top", "priority": -5})  # in at the top, the last row drops out
    assert model.count == 10 and model.ids()[0] == top.id and made[9].id not in model.ids()
    tasks.delete(made[0].id)  # out; the window refills from below by keyset
    assert model.ids() == expected(client, model) and model.count == 10
    tasks.update(made[1].id, {"priority": 1000})  # moves past the end of the window: out
    assert made[1].id not in model.ids() and model.ids() == expected(client, model)
    tasks.update(made[25].id, {"priority": 3})  # moves into the window from outside
    assert model.ids() == expected(client, model)
    model.fetch_more()
    assert model.count == 20 and model.ids() == [t.id for t in tasks.find(order_by=[("priority", "asc")], limit=20)]
    qtmodeltester.check(model)  # the tester calls fetchMore() once: 30 rows
    assert model.count == 30 and not model.can_fetch_more and model.ids() == expected(client, model)


def test_relations_follow_related_changes(client: atoma.Client) -> None:
    projects, tasks = client.store("projects"), client.store("tasks")
    home = projects.add({"name": "Home"})
    t = tasks.add({"title": "paint", "project_id": home.id})
    tasks.add({"title": "loose"})
    model = LiveQuery(client, "tasks", order_by=["title"], include={"project": True})
    sig = Signals(model)
    row = model.row_of(t.id)
    assert model.index(row, 0).data(model.role("project")).name == "Home"
    projects.update(home.id, {"name": "House"})
    assert model.index(row, 0).data(model.role("project")).name == "House"
    assert sig.count["dataChanged"] == 1 and model.role("project") in sig.roles[-1]


def test_set_query_is_the_only_reset(client: atoma.Client, qtmodeltester: Any) -> None:
    tasks = client.store("tasks")
    tasks.add_many([{"title": f"t{i}", "done": i % 2 == 0} for i in range(6)])
    model = LiveQuery(client, "tasks", where={"done": False})
    qtmodeltester.check(model)
    sig = Signals(model)
    model.set_query(where={"done": True}, order_by=[("title", "desc")])
    assert sig.count["modelReset"] == 1 and model.ids() == expected(client, model) and model.count == 3


def test_bad_queries_fail_at_construction(client: atoma.Client) -> None:
    with pytest.raises(atoma.ValidationError) as exc:
        LiveQuery(client, "tasks", where={"nope": 1})
    assert exc.value.path == "where.nope"
    with pytest.raises(atoma.ValidationError):
        LiveQuery(client, "tasks", fetch_policy="sometimes")  # type: ignore[arg-type]
    with pytest.raises(atoma.ValidationError):
        LiveQuery(client, "tasks", include={"owner": True})


def test_writes_from_another_thread_arrive_on_the_gui_thread(client: atoma.Client, qtbot: Any) -> None:
    model = LiveQuery(client, "tasks")
    threads: list[QThread] = []
    model.rowsInserted.connect(lambda *a: threads.append(QThread.currentThread()))
    worker = threading.Thread(target=lambda: client.store("tasks").add({"title": "from a worker"}))
    worker.start()
    worker.join(10)
    qtbot.waitUntil(lambda: model.count == 1, timeout=5000)
    assert threads == [model.thread()]


def test_table_columns_and_screenshots(client: atoma.Client, qtbot: Any, qtmodeltester: Any, shots: Path) -> None:
    projects, tasks = client.store("projects"), client.store("tasks")
    home = projects.add({"name": "Home"})
    work = projects.add({"name": "Work"})
    for i, title in enumerate(["Buy milk", "Paint the fence", "Write report", "Call the plumber", "Book flights", "Pay rent"]):
        tasks.add({"title": title, "priority": (i * 3) % 5, "done": i % 3 == 0, "project_id": (home, work)[i % 2].id})
    model = LiveQuery(client, "tasks", order_by=[("priority", "desc"), ("title", "asc")], include={"project": True})
    table = model.table()
    qtmodeltester.check(table)
    assert table.columns == ["title", "done", "priority", "project_id", "project"]
    assert [table.headerData(c, Qt.Orientation.Horizontal) for c in range(table.columnCount())] == ["Title", "Done", "Priority", "Project", "Project"]
    table = model.table(["title", "priority", "done", "project"], ["Task", "Priority", "Done", "Project"])
    qtmodeltester.check(table)
    assert table.index(0, 0).data() == model.index(0, 0).data()
    assert table.index(0, 3).data() in ("Home", "Work")
    done_col = table.index(0, 2)
    assert done_col.data() is None and done_col.data(Qt.ItemDataRole.CheckStateRole) in (Qt.CheckState.Checked, Qt.CheckState.Unchecked)
    # Changes go through the table too.
    t = model.entity(0)
    tasks.update(t.id, {"priority": -1})
    assert table.index(table.rowCount() - 1, 0).data() == t.title
    tasks.update(t.id, {"priority": 4, "title": "Aardvark food"})

    lv = QListView()
    lv.setModel(model)
    lv.resize(260, 200)
    tv = QTableView()
    tv.setModel(table)
    tv.resize(520, 260)
    tv.resizeColumnsToContents()
    for w, name in ((lv, "live_query_list.png"), (tv, "live_query_table.png")):
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        assert w.grab().save(str(shots / name))
    assert tv.horizontalHeader().count() == 4


def test_models_are_counted_as_observers_of_their_remote_query(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    from atoma.remote import key_for

    a = remote_clients("a.db")
    key = key_for(a.store("tasks"), where={"done": False}, order_by=None, limit=None)
    model = LiveQuery(a, "tasks", where={"done": False})
    qtbot.waitUntil(lambda: a.remote_cache.observers(key) == 1, timeout=5000)
    second = LiveQuery(a, "tasks", where={"done": False})
    qtbot.waitUntil(lambda: a.remote_cache.observers(key) == 2, timeout=5000)
    second.deleteLater()
    qtbot.waitUntil(lambda: a.remote_cache.observers(key) == 1, timeout=5000)
    model.set_query(where={"done": True})
    qtbot.waitUntil(lambda: a.remote_cache.observers(key) == 0, timeout=5000)
