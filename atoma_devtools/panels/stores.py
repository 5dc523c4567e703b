"""Stores: every resource with its counts, a paged entity table with filter, entity detail."""

from __future__ import annotations

from typing import Any

import msgspec
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..master_detail import MasterDetail, Row, restore_splitter, splitter_state
from ._query_input import parse_order, parse_where
from .base import Context, Panel

__all__ = ["StoresPanel"]

_dec = msgspec.json.Decoder()
PAGE_SIZE = 200
_MAX_FIELD_COLUMNS = 5


class StoresPanel(Panel):
    """Resources (left) and the entities of the selected one (right), a page at a time."""

    title = "Stores"
    event_types = frozenset({"store.changed", "pull.applied", "sync.resync", "push.acked", "sync.conflict"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.resources = QTreeWidget()
        self.resources.setHeaderLabels(["Resource", "Entities", "Unsynced"])
        self.resources.setRootIsDecorated(False)
        self.resources.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.resources.header().setStretchLastSection(False)
        for col in (1, 2):
            self.resources.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.resources.setMinimumWidth(150)
        self.resources.currentItemChanged.connect(lambda *_: self._on_resource())
        names = [r.name for r in self.client.schema]
        for name in names:
            item = QTreeWidgetItem([name, "", ""])
            item.setData(0, Qt.ItemDataRole.UserRole, name)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
            self.resources.addTopLevelItem(item)

        self.where = QLineEdit()
        self.where.setPlaceholderText('where (JSON), e.g. {"done": false, "title": {"contains": "milk"}}')
        self.order = QLineEdit()
        self.order.setPlaceholderText("order by, e.g. title asc")
        self.where.returnPressed.connect(self.first_page)
        self.order.returnPressed.connect(self.first_page)
        apply = QPushButton("Apply")
        apply.clicked.connect(self.first_page)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c53030")
        self.error.setWordWrap(True)
        self.first_btn = QPushButton("⇤ First")
        self.prev_btn = QPushButton("◀ Prev")
        self.next_btn = QPushButton("Next ▶")
        self.page_label = QLabel()
        self.first_btn.clicked.connect(self.first_page)
        self.prev_btn.clicked.connect(self.prev_page)
        self.next_btn.clicked.connect(self.next_page)

        self.md = MasterDetail(["sync", "id"], status_column=0, statuses=("synced", "local"))
        self.md.detail.setCurrentIndex(0)

        query_row = QHBoxLayout()
        query_row.addWidget(self.where, 3)
        query_row.addWidget(self.order, 1)
        query_row.addWidget(apply)
        page_row = QHBoxLayout()
        page_row.addWidget(self.first_btn)
        page_row.addWidget(self.prev_btn)
        page_row.addWidget(self.next_btn)
        page_row.addWidget(self.page_label, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(query_row)
        rl.addWidget(self.error)
        rl.addWidget(self.md, 1)
        rl.addLayout(page_row)
        self.error.hide()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.resources)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setSizes([190, 710])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

        self._resource: str | None = None
        self._cursors: list[str | None] = [None]  # 'after' token of each page visited
        self._next: str | None = None
        self._last_counts: dict[str, int] = {}
        # Column widths per resource: each resource has columns of its own.
        self._headers: dict[str, str] = {}
        if names:
            self.resources.setCurrentItem(self.resources.topLevelItem(0))

    # -- navigation -----------------------------------------------------------------------

    @property
    def resource(self) -> str | None:
        return self._resource

    def select_resource(self, name: str) -> None:
        for i in range(self.resources.topLevelItemCount()):
            item = self.resources.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                self.resources.setCurrentItem(item)
                return
        raise KeyError(name)

    def _on_resource(self) -> None:
        item = self.resources.currentItem()
        self._remember_header()
        self._resource = None if item is None else item.data(0, Qt.ItemDataRole.UserRole)
        self._set_fields_columns()
        if self._resource is not None:
            self.md.restore_header(self._headers.get(self._resource))
        self.first_page()

    def _set_fields_columns(self) -> None:
        fields: list[str] = []
        if self._resource is not None:
            res = self.client.schema[self._resource]
            fields = [f for f in res.fields if f not in ("id", "version")][:_MAX_FIELD_COLUMNS]
        self._fields = fields
        self.md.set_columns(["sync", *fields, "unsynced", "version", "id"])

    def first_page(self) -> None:
        self._cursors = [None]
        self._load()

    def next_page(self) -> None:
        if self._next is not None:
            self._cursors.append(self._next)
            self._load()

    def prev_page(self) -> None:
        if len(self._cursors) > 1:
            self._cursors.pop()
            self._load()

    # -- reading --------------------------------------------------------------------------

    def refresh(self) -> None:
        self._refresh_counts()
        self._load()

    def _refresh_counts(self) -> None:
        conn = self.client._connection()
        for i in range(self.resources.topLevelItemCount()):
            item = self.resources.topLevelItem(i)
            name = item.data(0, Qt.ItemDataRole.UserRole)
            store = self.client.store(name)
            n, unsynced = conn.execute(
                f'SELECT count(*), coalesce(sum(pending > 0), 0) FROM "{store._table}" WHERE deleted = 0'
            ).fetchone()
            self._last_counts[name] = n
            item.setText(1, f"{n:,}")
            item.setText(2, f"{unsynced:,}" if unsynced else "")

    def _load(self) -> None:
        if self._resource is None or not self.client.is_open:
            self.md.set_rows([])
            return
        store = self.client.store(self._resource)
        try:
            where = parse_where(self.where.text())
            order = parse_order(self.order.text())
            page = store.find(where=where, order_by=order, limit=PAGE_SIZE, after=self._cursors[-1])
            total = store.count(where)
        except Exception as exc:  # noqa: BLE001 - bad filter text: say why, keep the old page
            self.error.setText(str(exc))
            self.error.show()
            return
        self.error.hide()
        self._next = page.next_cursor
        ids = [e.id for e in page]
        raw = {}
        if ids:
            rows = self.client._connection().execute(
                f'SELECT id, version, data, pending, base, server_version FROM "{store._table}" '
                "WHERE id IN (SELECT value FROM json_each(?))",
                (msgspec.json.encode(ids).decode(),),
            )
            raw = {r[0]: r for r in rows}
        out = []
        for eid in ids:
            r = raw.get(eid)
            if r is None:
                continue
            _, version, data, pending, base, server_version = r
            value = _dec.decode(data)
            status = "local" if pending else "synced"
            base_value = None if base is None else _dec.decode(base)
            diff = (base_value, value) if pending else None
            cells = [status, *(value.get(f) for f in self._fields), pending or None, version, eid]
            out.append(
                Row(
                    eid,
                    cells,
                    value,
                    status=status,
                    meta={
                        "resource": self._resource,
                        "id": eid,
                        "version (local base)": version,
                        "newest server version known": server_version,
                        "unsynced intents": pending,
                        "server base kept": base is not None,
                    },
                    diff=diff,
                    diff_labels=("server base", "local"),
                )
            )
        self.md.set_rows(out)
        page_no = len(self._cursors)
        start = (page_no - 1) * PAGE_SIZE
        self.page_label.setText(
            f"page {page_no} · rows {start + 1 if out else 0}–{start + len(out)} of {total:,} matching" if total else "no matching entities"
        )
        self.prev_btn.setEnabled(page_no > 1)
        self.first_btn.setEnabled(page_no > 1)
        self.next_btn.setEnabled(self._next is not None)

    def _remember_header(self) -> None:
        """Keep the shown resource's column widths, once fitted to rows (not leftovers)."""
        if self._resource is not None and self.md.columns_fitted:
            self._headers[self._resource] = self.md.header_state()

    def update_badge(self) -> None:
        # Only the totals (a covering scan of a live-rows index), not the per-resource
        # "unsynced" sums the full refresh reads: those scan every row.
        for name in self.client.schema.resources:
            self._last_counts[name] = self.client.store(name).count()

    def badge(self) -> str:
        return f"{sum(self._last_counts.values()):,}" if self._last_counts else ""

    def save_state(self) -> dict[str, Any]:
        base = super().save_state()
        base.get("md", {}).pop("header", None)  # widths are kept per resource below
        self._remember_header()
        return {
            **base,
            "where": self.where.text(),
            "order": self.order.text(),
            "resource": self._resource,
            "splitter": splitter_state(self.splitter),
            "headers": dict(self._headers),
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        self.where.setText(str(state.get("where") or ""))
        self.order.setText(str(state.get("order") or ""))
        restore_splitter(self.splitter, state.get("splitter"))
        res = state.get("resource")
        if isinstance(res, str) and res in self.client.schema and res != self._resource:
            self.select_resource(res)
        # After switching (which files the widths shown until now): the saved ones win.
        headers = state.get("headers")
        if isinstance(headers, dict):
            self._headers.update({k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)})
        if self._resource is not None:
            self.md.restore_header(self._headers.get(self._resource))
