"""Indexes: the declared indexes with their sizes, and a query lab that shows SQLite's plan."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .._format import fmt_bytes
from ..master_detail import MasterDetail, Row, _mono, restore_splitter, splitter_state
from ._query_input import parse_order, parse_where
from .base import Context, Panel

__all__ = ["IndexesPanel", "QueryLab", "LabResult"]


class LabResult(msgspec.Struct, frozen=True):
    """One query-lab run: the plan, the index(es) used, how many rows and how long it took."""

    resource: str
    where: Any
    order_by: Any
    limit: int
    sql: str
    plan: list[str]
    indexes: list[str]
    rows: int
    total: int
    ms: float
    full_scan: bool = False


class QueryLab(QWidget):
    """Runs a ``where`` / ``order_by`` against a store and shows plan, index, rows and time."""

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.resource = QComboBox()
        self.resource.addItems([r.name for r in ctx.client.schema])
        self.where = QLineEdit()
        self.where.setPlaceholderText('{"done": false}')
        self.order = QLineEdit()
        self.order.setPlaceholderText("title asc")
        self.limit = QSpinBox()
        self.limit.setRange(1, 100_000)
        self.limit.setValue(50)
        self.run_button = QPushButton("▶ Run query")
        self.run_button.clicked.connect(lambda: self.run())
        self.where.returnPressed.connect(lambda: self.run())
        self.order.returnPressed.connect(lambda: self.run())
        form = QFormLayout()
        form.addRow("Resource", self.resource)
        form.addRow("where", self.where)
        form.addRow("order by", self.order)
        form.addRow("limit", self.limit)
        form.addRow(self.run_button)
        self.summary = QLabel("Run a query to see SQLite's plan.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.summary)
        box = QGroupBox("Query lab")
        box.setLayout(form)

        self.plan = QPlainTextEdit()
        self.plan.setReadOnly(True)
        self.plan.setFont(_mono())
        self.plan.setPlaceholderText("EXPLAIN QUERY PLAN and the SQL appear here")
        self.results = MasterDetail(["id", "version"], placeholder="Filter results")
        self.right = right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plan)
        right.addWidget(self.results)
        right.setSizes([120, 220])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(box)
        self.splitter.addWidget(right)
        self.splitter.setSizes([360, 740])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)
        self.last: LabResult | None = None

    def run(self) -> LabResult | None:
        """Run the query (and its EXPLAIN QUERY PLAN); show and return what happened."""
        name = self.resource.currentText()
        try:
            where = parse_where(self.where.text())
            order = parse_order(self.order.text())
            store = self.ctx.client.store(name)
            limit = self.limit.value()
            plan = store.explain(where=where, order_by=order, limit=limit)
            t0 = time.perf_counter()
            page = store.find(where=where, order_by=order, limit=limit)
            ms = (time.perf_counter() - t0) * 1000
            total = store.count(where)
        except Exception as exc:  # noqa: BLE001 - a bad query is shown, not raised
            self.summary.setText(f"<span style='color:#c53030'>✕ {exc}</span>")
            self.last = None
            return None
        # A bare "SCAN table" reads every row; so does a filtered query with no "SEARCH"
        # (walking an index only for the order still visits every row to test the where).
        # "SCAN fts_... VIRTUAL TABLE INDEX" is the full-text index answering a match.
        lines = [line.strip() for line in plan.plan]
        bare_scan = any(line.startswith("SCAN ") and " USING " not in line and " VIRTUAL TABLE " not in line for line in lines)
        full = bare_scan or (bool(where) and not any(line.startswith("SEARCH ") for line in lines))
        res = LabResult(name, where, order, limit, plan.sql, plan.plan, plan.indexes, len(page), total, ms, full)
        self.last = res
        index_text = ", ".join(plan.indexes) if plan.indexes else "none"
        if full:
            index_text += " — ⚠ full table scan (no index narrows the where)"
        self.summary.setText(
            f"<b>Index used:</b> {index_text}<br><b>Rows:</b> {len(page):,} returned, {total:,} match"
            f"<br><b>Time:</b> {ms:.2f} ms"
        )
        self.plan.setPlainText(
            "EXPLAIN QUERY PLAN\n" + "\n".join(f"  {line}" for line in plan.plan) + f"\n\nSQL\n  {plan.sql}\nparams {plan.params!r}"
        )
        fields = [f for f in store.resource.fields if f not in ("id", "version")][:5]
        self.results.set_columns(["id", "version", *fields])
        rows = []
        for e in page:
            value = msgspec.to_builtins(e)
            rows.append(Row(e.id, [e.id, e.version, *(value.get(f) for f in fields)], value))
        self.results.set_rows(rows)
        return res


class IndexesPanel(Panel):
    """Declared indexes (plain and full-text) per resource, with entries and size on disk."""

    title = "Indexes"
    event_types = frozenset({"store.changed", "pull.applied", "sync.resync"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.md = MasterDetail(["resource", "index", "kind", "fields", "unique", "entries", "size"])
        self.lab = QueryLab(ctx)
        self.md.add_action("Try in query lab", self._try, enabled=lambda rows: len(rows) == 1 and rows[0].data.get("kind") != "table")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.md)
        self.splitter.addWidget(self.lab)
        self.splitter.setSizes([330, 370])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)
        self._sizes_supported = True

    def _sizes(self) -> dict[str, int]:
        """Bytes per table/index from the ``dbstat`` virtual table (empty if not compiled in)."""
        if not self._sizes_supported:
            return {}
        try:
            return dict(self.client._connection().execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        except Exception:  # noqa: BLE001 - SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
            self._sizes_supported = False
            return {}

    def refresh(self) -> None:
        from atoma.database import fts_name, index_name, table_of

        conn = self.client._connection()
        sizes = self._sizes()
        rows = []
        for res in self.client.schema:
            table = table_of(res.name)
            live, total = conn.execute(f'SELECT coalesce(sum(deleted = 0), 0), count(*) FROM "{table}"').fetchone()
            rows.append(self._row(res.name, table, "table", ("id",), True, total, sizes.get(table), f"{live:,} live, {total - live:,} tombstones"))
            for ix in res.indexes:
                name = index_name(res.name, ix)
                rows.append(self._row(res.name, name, "index", ix.fields, ix.unique, live, sizes.get(name), "partial: live rows only"))
            for n, tx in enumerate(res.text_indexes):
                name = fts_name(res.name, n)
                size = sum(v for k, v in sizes.items() if k == name or k.startswith(name + "_")) if sizes else None
                rows.append(self._row(res.name, name, "text", tx.fields, False, live, size, "FTS5, contentless"))
        self.md.set_rows(rows)

    @staticmethod
    def _row(resource: str, name: str, kind: str, fields: tuple[str, ...], unique: bool, entries: int, size: int | None, note: str) -> Row:
        data = {"resource": resource, "name": name, "kind": kind, "fields": list(fields), "unique": unique, "entries": entries, "bytes": size}
        return Row(name, [resource, name, kind, ", ".join(fields), unique, entries, fmt_bytes(size)], data, meta={"note": note, "bytes": size})

    def _try(self, rows: list[Row]) -> None:
        d = rows[0].data
        self.lab.resource.setCurrentText(d["resource"])
        f = d["fields"][0]
        if d["kind"] == "text":
            self.lab.where.setText(msgspec.json.encode({f: {"match": "a"}}).decode())
            self.lab.order.setText("")
        else:
            self.lab.where.setText("")
            self.lab.order.setText(", ".join(f"{x} asc" for x in d["fields"]))
        self.lab.run()

    def save_state(self) -> dict[str, Any]:
        lab = self.lab
        return {
            **super().save_state(),
            "lab": {
                "resource": lab.resource.currentText(),
                "where": lab.where.text(),
                "order": lab.order.text(),
                "limit": lab.limit.value(),
                "splitter": splitter_state(lab.splitter),
                "right": splitter_state(lab.right),
                # Not its column widths: every run sets the columns of its resource anew.
                "results": {k: v for k, v in lab.results.save_state().items() if k != "header"},
            },
            "splitter": splitter_state(self.splitter),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        restore_splitter(self.splitter, state.get("splitter"))
        lab = state.get("lab")
        if isinstance(lab, dict):
            self.lab.resource.setCurrentText(str(lab.get("resource") or ""))
            self.lab.where.setText(str(lab.get("where") or ""))
            self.lab.order.setText(str(lab.get("order") or ""))
            if isinstance(lab.get("limit"), int):
                self.lab.limit.setValue(lab["limit"])
            restore_splitter(self.lab.splitter, lab.get("splitter"))
            restore_splitter(self.lab.right, lab.get("right"))
            if isinstance(lab.get("results"), dict):
                self.lab.results.restore_state(lab["results"])
