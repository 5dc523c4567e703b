"""LiveQuery update cost per change on a 10k-row model, against the floor of a plain
QAbstractListModel doing the same signal emissions, and memory per row.

For each kind of change (update in place, move, insert, delete) the script makes real local
writes and times LiveQuery's own handling of each ``store.changed`` event (reading the changed
rows, deciding membership and position, emitting the row signals). It records the signals the
model emitted and replays exactly those on a plain ``QAbstractListModel`` over a Python list
(the floor: the signal emissions and list edits any model must do). Prints the ratio
LiveQuery / floor per kind, both measured in this run, and tracemalloc's bytes per row.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/qt_models.py [--rows N] [--changes N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QAbstractListModel, QModelIndex  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402

import atoma  # noqa: E402
from atoma.qt import LiveQuery  # noqa: E402


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


SCHEMA = atoma.Schema([atoma.Resource("tasks", Task, indexes=[atoma.Index("priority"), atoma.Index("done")])])
ORDER = [("priority", "asc"), ("title", "asc")]


class Timed(LiveQuery):
    """A LiveQuery that times its store-event handler and records its row signals."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        self.spent = 0.0
        self.events = 0
        self.log: list[tuple[Any, ...]] = []
        super().__init__(*a, **kw)
        self.rowsAboutToBeInserted.connect(lambda p, a, b: self.log.append(("ins", a, b)))
        self.rowsAboutToBeRemoved.connect(lambda p, a, b: self.log.append(("rem", a, b)))
        self.rowsAboutToBeMoved.connect(lambda sp, a, b, dp, d: self.log.append(("mov", a, d)))
        self.dataChanged.connect(lambda tl, br, roles: self.log.append(("dat", tl.row(), list(roles))))

    def _on_store_changed(self, event: Any) -> None:
        t0 = time.perf_counter()
        super()._on_store_changed(event)
        self.spent += time.perf_counter() - t0
        self.events += 1


class Plain(QAbstractListModel):
    """The floor: a list of dicts and the row signals, nothing else."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex, role: int = 0) -> Any:
        return self.rows[index.row()].get("title") if index.isValid() else None

    def replay(self, log: list[tuple[Any, ...]], new_rows: dict[str, Any]) -> float:
        root = QModelIndex()
        t0 = time.perf_counter()
        for op in log:
            kind = op[0]
            if kind == "dat":
                ix = self.index(op[1], 0)
                self.rows[op[1]] = new_rows["row"]
                self.dataChanged.emit(ix, ix, op[2])
            elif kind == "mov":
                a, d = op[1], op[2]
                self.beginMoveRows(root, a, a, root, d)
                self.rows.insert(d if d < a else d - 1, self.rows.pop(a))
                self.endMoveRows()
            elif kind == "ins":
                self.beginInsertRows(root, op[1], op[2])
                self.rows[op[1] : op[1]] = [new_rows["row"]] * (op[2] - op[1] + 1)
                self.endInsertRows()
            else:
                self.beginRemoveRows(root, op[1], op[2])
                del self.rows[op[1] : op[2] + 1]
                self.endRemoveRows()
        return time.perf_counter() - t0


def measure(client: atoma.Client, kind: str, changes: int, rng: random.Random) -> tuple[float, float, int]:
    tasks = client.store("tasks")
    model = Timed(client, "tasks", order_by=ORDER, fetch_policy="cache-only")
    n = model.count
    ids = model.ids()
    for i in range(changes):
        if kind == "update":
            tasks.update(rng.choice(ids), {"done": rng.random() < 0.5, "project_id": f"p{i}"})  # same position
        elif kind == "move":
            tasks.update(rng.choice(ids), {"priority": rng.randrange(n)})
        elif kind == "insert":
            ids.append(tasks.add({"title": f"new {i}", "priority": rng.randrange(n)}).id)
        else:
            victim = ids.pop(rng.randrange(len(ids)))
            tasks.delete(victim)
    assert model.events == changes, (model.events, changes)
    assert model.ids() == [t.id for t in tasks.find(order_by=ORDER)]
    floor = min(Plain([{"title": str(i)} for i in range(n)]).replay(model.log, {"row": {"title": "x"}}) for _ in range(3))
    spent = model.spent
    signals = len(model.log)
    model.deleteLater()
    return spent, floor, signals


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--changes", type=int, default=300)
    args = ap.parse_args()
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as folder:
        client = atoma.Client(os.path.join(folder, "bench.db"), SCHEMA, history=False).open()
        tasks = client.store("tasks")
        tasks.add_many({"title": f"task {i:06d}", "priority": rng.randrange(args.rows), "done": i % 3 == 0} for i in range(args.rows))

        # Memory per row: the model over N rows (entities, sort keys, id index) vs the page alone.
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        page = list(tasks.find(order_by=ORDER))
        after_page = tracemalloc.take_snapshot()
        model = LiveQuery(client, "tasks", order_by=ORDER, fetch_policy="cache-only")
        after_model = tracemalloc.take_snapshot()
        tracemalloc.stop()
        entity_bytes = sum(s.size_diff for s in after_page.compare_to(base, "filename"))
        model_bytes = sum(s.size_diff for s in after_model.compare_to(after_page, "filename"))
        rows = len(page)
        del page
        model.deleteLater()
        app.processEvents()

        print(f"LiveQuery, {args.rows} rows, ordered by priority, title; {args.changes} changes per kind (Python {sys.version.split()[0]})")
        print(f"{'change':<8} {'LiveQuery us/change':>20} {'floor us/change':>16} {'ratio':>7} {'signals':>8}")
        for kind in ("update", "move", "insert", "delete"):
            spent, floor, signals = min(
                (measure(client, kind, args.changes, rng) for _ in range(2)), key=lambda r: r[0]
            )
            app.processEvents()
            per, per_floor = spent / args.changes * 1e6, floor / args.changes * 1e6
            print(f"{kind:<8} {per:>20.1f} {per_floor:>16.1f} {per / per_floor:>7.1f} {signals:>8}")
        print(f"memory: {model_bytes / rows:.0f} B/row for the whole model (entities, sort keys, id index); "
              f"the entities alone, as find() returns them: {entity_bytes / rows:.0f} B/row")
        client.close_sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
