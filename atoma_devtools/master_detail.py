"""The one reusable piece every panel is made of: a filterable list beside a detail pane.

* :class:`Row` -- one record: display cells, the record itself (``data``), a status word,
  metadata, and optionally a before/after pair for the diff tab.
* :class:`RowModel` -- a table model over rows that updates incrementally (same keys:
  ``dataChanged``; otherwise runs of removed and inserted rows, a layout change when kept
  rows move; a reset only for duplicate keys or new columns), so live panels keep selection
  and scroll position.
* :class:`RowFilter` -- a proxy that searches *inside values* (the row's JSON text) and
  filters by status chips.
* :class:`StatusChips` -- checkable chips, each a glyph + status word + count, coloured.
* :class:`DetailPane` -- tabs Tree / JSON / Diff / Metadata, rendered lazily (only the
  visible tab, only when the selected record changed).
* :class:`MasterDetail` -- search box and chips above, list | detail in a splitter, and an
  action bar with "Copy as JSON" below. Its state (filter, chips, splitter, header) can be
  saved and restored.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QTableView,
    QTextBrowser,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._format import compact_json, json_text, status_style, to_plain
from .flow_layout import FlowLayout

__all__ = [
    "Row", "RowModel", "RowFilter", "StatusChips", "DetailPane", "MasterDetail", "ROW_ROLE", "SORT_ROLE",
    "splitter_state", "restore_splitter",
]

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
_DISPLAY = Qt.ItemDataRole.DisplayRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
# The roles RowModel.data answers; a view asks about eight per cell as it paints, so the
# others are turned away before any work (painting calls data() a thousand times).
_ROLES = frozenset({_DISPLAY, _FOREGROUND, _TOOLTIP, ROW_ROLE, SORT_ROLE})
_MAX_TREE_NODES = 3000
_MAX_TEXT = 400_000


class Row:
    """One record of a list. ``cells`` are the column values (``None`` shows as ``—``)."""

    __slots__ = ("key", "cells", "data", "status", "meta", "diff", "diff_labels", "_search")

    def __init__(
        self,
        key: Hashable,
        cells: Sequence[Any],
        data: Any,
        *,
        status: str | None = None,
        meta: Mapping[str, Any] | None = None,
        diff: tuple[Any, Any] | None = None,
        diff_labels: tuple[str, str] = ("before", "after"),
    ) -> None:
        self.key = key
        self.cells = tuple(cells)
        self.data = data
        self.status = status
        self.meta = meta
        self.diff = diff
        self.diff_labels = diff_labels
        self._search: str | None = None

    @property
    def search_text(self) -> str:
        """Lower-cased JSON of the record and its cells, built on first use (filtering only)."""
        if self._search is None:
            self._search = (compact_json(self.data) + "\x00" + "\x00".join(map(str, self.cells))).casefold()
        return self._search

    def same(self, other: "Row") -> bool:
        if self is other:
            return True
        return self.cells == other.cells and self.status == other.status and self.data == other.data and self.meta == other.meta

    def __repr__(self) -> str:
        return f"Row({self.key!r}, {self.status!r})"


def _cell_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (dict, list, tuple)):
        return compact_json(value)
    return str(value)


class RowModel(QAbstractTableModel):
    """A table of :class:`Row` with incremental updates (see the module docstring)."""

    def __init__(self, columns: Sequence[str], status_column: int | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.status_column = status_column
        self._rows: list[Row] = []
        self._colors: dict[str, QColor] = {}

    # -- updating ------------------------------------------------------------------------

    @property
    def rows(self) -> list[Row]:
        return self._rows

    def row_at(self, i: int) -> Row:
        return self._rows[i]

    def set_columns(self, columns: Sequence[str]) -> None:
        """New columns (and no rows until the next :meth:`set_rows`)."""
        self.beginResetModel()
        self.columns = list(columns)
        self._rows = []
        self.endResetModel()

    def set_rows(self, rows: Sequence[Row]) -> None:
        new = list(rows)
        old = self._rows
        old_keys = [r.key for r in old]
        new_keys = [r.key for r in new]
        if old_keys == new_keys:
            changed = [i for i, (a, b) in enumerate(zip(old, new)) if not a.same(b)]
            self._rows = new
            if changed:
                self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], len(self.columns) - 1))
            return
        drop = self._ring_shift(old_keys, new_keys)
        if drop is None:
            self._diff_rows(old_keys, new, new_keys)
            return
        kept = len(old) - drop
        changed = kept and any(not a.same(b) for a, b in zip(old[drop:], new[:kept]))
        if drop:
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            self._rows = old[drop:]
            self.endRemoveRows()
        self._rows[:kept] = new[:kept]
        if changed:
            self.dataChanged.emit(self.index(0, 0), self.index(kept - 1, len(self.columns) - 1))
        if len(new) > kept:
            self.beginInsertRows(QModelIndex(), kept, len(new) - 1)
            self._rows.extend(new[kept:])
            self.endInsertRows()

    def _diff_rows(self, old_keys: list[Hashable], new: list[Row], new_keys: list[Hashable]) -> None:
        """Any other change, as row signals a view keeps its selection and scroll through:
        runs of removed rows, a layout change if the kept rows changed order (persistent
        indexes follow their rows), runs of inserted rows, then ``dataChanged`` for kept rows
        whose content changed. Duplicate keys cannot be matched: then a reset."""
        new_set, old_set = set(new_keys), set(old_keys)
        if len(new_set) != len(new_keys) or len(old_set) != len(old_keys):
            self.beginResetModel()
            self._rows = new
            self.endResetModel()
            return
        # 1. removals, bottom up, one signal per contiguous run
        i = len(self._rows)
        while i > 0:
            if self._rows[i - 1].key in new_set:
                i -= 1
                continue
            end = i
            while i > 0 and self._rows[i - 1].key not in new_set:
                i -= 1
            self.beginRemoveRows(QModelIndex(), i, end - 1)
            del self._rows[i:end]
            self.endRemoveRows()
        # 2. the kept rows in their new order
        target = [k for k in new_keys if k in old_set]
        if [r.key for r in self._rows] != target:
            self.layoutAboutToBeChanged.emit()
            persistent = self.persistentIndexList()
            keys = [self._rows[p.row()].key for p in persistent]
            by_key = {r.key: r for r in self._rows}
            self._rows = [by_key[k] for k in target]
            at = {k: n for n, k in enumerate(target)}
            self.changePersistentIndexList(persistent, [self.index(at[k], p.column()) for p, k in zip(persistent, keys)])
            self.layoutChanged.emit()
        # 3. insertions, left to right: rows before position i already match ``new``
        i = 0
        while i < len(new):
            if new_keys[i] in old_set:
                i += 1
                continue
            start = i
            while i < len(new) and new_keys[i] not in old_set:
                i += 1
            self.beginInsertRows(QModelIndex(), start, i - 1)
            self._rows[start:start] = new[start:i]
            self.endInsertRows()
        # 4. new content for the kept rows
        changed = [n for n, (a, b) in enumerate(zip(self._rows, new)) if a is not b and not a.same(b)]
        self._rows = new
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], len(self.columns) - 1))

    @staticmethod
    def _ring_shift(old: list[Hashable], new: list[Hashable]) -> int | None:
        """How many rows fell off the front if ``new`` is ``old`` minus a prefix plus a suffix."""
        if not old or not new:
            return None if old else 0
        try:
            drop = old.index(new[0])
        except ValueError:
            return None if new else len(old)
        kept = len(old) - drop
        if kept > len(new) or old[drop:] != new[:kept]:
            return None
        if drop and len(new) > kept and not set(old[:drop]).isdisjoint(new[kept:]):
            return None  # a dropped row came back: not a ring buffer, it moved
        return drop

    # -- Qt model API ----------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount() (two calls into Python) for
        # every index the proxy maps while painting; one call here does both checks.
        if 0 <= row < len(self._rows) and 0 <= column < len(self.columns) and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            return self.columns[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES:
            return None
        r = index.row()
        if not 0 <= r < len(self._rows) or not index.isValid():
            return None
        row = self._rows[r]
        if role == ROW_ROLE:
            return row
        col = index.column()
        cells = row.cells
        if col >= len(cells):
            return None
        value = cells[col]
        is_status = col == self.status_column and row.status is not None
        if role == _DISPLAY:
            if is_status:
                glyph, _ = status_style(row.status)  # type: ignore[arg-type]
                return f"{glyph} {_cell_text(value)}"
            return _cell_text(value)
        if role == _FOREGROUND:
            return self._color(row.status) if is_status else None  # type: ignore[arg-type]
        if role == _TOOLTIP:
            text = _cell_text(value)
            return text if len(text) > 30 else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # SORT_ROLE
            return value
        return "" if value is None else _cell_text(value)

    def _color(self, status: str) -> QColor:
        c = self._colors.get(status)
        if c is None:
            c = self._colors[status] = QColor(status_style(status)[1])
        return c


class RowFilter(QSortFilterProxyModel):
    """Filters rows by a search text (inside the record's values) and by status."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._statuses: frozenset[str] | None = None
        self.setSortRole(SORT_ROLE)

    @property
    def text(self) -> str:
        return self._text

    @property
    def statuses(self) -> frozenset[str] | None:
        return self._statuses

    def set_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._text:
            self.beginFilterChange()
            self._text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_statuses(self, statuses: Iterable[str] | None) -> None:
        value = None if statuses is None else frozenset(statuses)
        if value != self._statuses:
            self.beginFilterChange()
            self._statuses = value
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, RowModel):
            return True
        row = model.row_at(source_row)
        if self._statuses is not None and row.status not in self._statuses:
            return False
        return not self._text or self._text in row.search_text


class StatusChips(QWidget):
    """Toggle chips per status, each with glyph, word and count. None checked means all."""

    changed = Signal()

    def __init__(self, order: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._order = list(order)
        self._buttons: dict[str, QToolButton] = {}
        # Chips wrap onto more lines rather than scroll: every status stays in sight.
        self._layout = FlowLayout(self, spacing=4)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        for status in self._order:
            self._button(status)

    def _button(self, status: str) -> QToolButton:
        b = self._buttons.get(status)
        if b is None:
            b = QToolButton(self)
            b.setCheckable(True)
            b.setAutoRaise(False)
            glyph, colour = status_style(status)
            b.setStyleSheet(
                f"QToolButton {{ color: {colour}; border: 1px solid {colour}; border-radius: 9px; padding: 1px 7px; }}"
                f"QToolButton:checked {{ color: white; background: {colour}; }}"
            )
            b.setProperty("status", status)
            b.setToolTip(f"Show only {status.replace('_', ' ')} items (several chips combine; none = all)")
            b.toggled.connect(self.changed)
            self._buttons[status] = b
            self._set_text(status, None)
            self._layout.addWidget(b)
        return b

    def _set_text(self, status: str, count: int | None) -> None:
        glyph, _ = status_style(status)
        word = status.replace("_", " ")
        self._buttons[status].setText(f"{glyph} {word}" + ("" if count is None else f" {count}"))

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Label every chip with its count: ``counts`` is the whole tally, so a status it
        leaves out has none (its chip stays, at 0, so a checked filter never vanishes)."""
        for status in counts:
            self._button(status)
        for status in self._buttons:
            self._set_text(status, counts.get(status, 0))

    def button(self, status: str) -> QToolButton | None:
        return self._buttons.get(status)

    def selected(self) -> frozenset[str] | None:
        on = frozenset(s for s, b in self._buttons.items() if b.isChecked())
        return on or None

    def set_selected(self, statuses: Iterable[str] | None) -> None:
        wanted = set(statuses or ())
        for s in wanted:
            self._button(s)
        for s, b in self._buttons.items():
            b.blockSignals(True)
            b.setChecked(s in wanted)
            b.blockSignals(False)
        self.changed.emit()


class _HasState(Protocol):
    def saveState(self) -> QByteArray: ...
    def restoreState(self, state: QByteArray | bytes | bytearray | memoryview) -> bool: ...


def splitter_state(widget: _HasState) -> str:
    """A splitter's (or header's) ``saveState()`` as hex text, to keep in QSettings JSON."""
    return bytes(widget.saveState().data()).hex()


def restore_splitter(widget: _HasState, raw: object) -> bool:
    """Restore what :func:`splitter_state` saved; anything else (missing, not hex, from an
    older layout) leaves the widget as it is and returns False."""
    if not isinstance(raw, str) or not raw:
        return False
    try:
        return bool(widget.restoreState(QByteArray(bytes.fromhex(raw))))
    except ValueError:
        return False


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class DetailPane(QTabWidget):
    """Tabs Tree / JSON / Diff / Metadata for one :class:`Row` (rendered lazily)."""

    TABS = ("Tree", "JSON", "Diff", "Metadata")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Field", "Value"])
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.json = QPlainTextEdit()
        self.json.setReadOnly(True)
        self.json.setFont(_mono())
        self.diff = QTextBrowser()
        self.diff.setFont(_mono())
        self.meta = QTreeWidget()
        self.meta.setHeaderLabels(["Key", "Value"])
        self.meta.setRootIsDecorated(False)
        self.meta.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for w, name in zip((self.tree, self.json, self.diff, self.meta), self.TABS):
            self.addTab(w, name)
        self._row: Row | None = None
        self._rendered: set[int] = set()
        self.currentChanged.connect(self._render_current)

    @property
    def row(self) -> Row | None:
        return self._row

    def show_row(self, row: Row | None) -> None:
        if row is not None and self._row is not None and row.key == self._row.key and row.same(self._row) and row.diff == self._row.diff:
            self._row = row
            return
        self._row = row
        self._rendered.clear()
        self._render_current()

    def _render_current(self, *_: Any) -> None:
        i = self.currentIndex()
        if i in self._rendered:
            return
        self._rendered.add(i)
        row = self._row
        if i == 0:
            self._render_tree(row)
        elif i == 1:
            self.json.setPlainText("" if row is None else json_text(row.data)[:_MAX_TEXT])
        elif i == 2:
            self.diff.setHtml(self._diff_html(row))
        elif i == 3:
            self._render_meta(row)

    def _render_tree(self, row: Row | None) -> None:
        self.tree.clear()
        if row is None:
            return
        budget = [_MAX_TREE_NODES]

        def add(parent: QTreeWidgetItem | QTreeWidget, key: str, value: Any) -> None:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            if isinstance(value, dict):
                item = QTreeWidgetItem([key, f"{{{len(value)}}}"])
                for k, v in value.items():
                    add(item, str(k), v)
            elif isinstance(value, list):
                item = QTreeWidgetItem([key, f"[{len(value)}]"])
                for n, v in enumerate(value):
                    add(item, str(n), v)
            else:
                item = QTreeWidgetItem([key, _cell_text(value) if value is not None else "null"])
            if isinstance(parent, QTreeWidget):
                parent.addTopLevelItem(item)
            else:
                parent.addChild(item)

        data = to_plain(row.data)
        if isinstance(data, dict):
            for k, v in data.items():
                add(self.tree, str(k), v)
        else:
            add(self.tree, "value", data)
        self.tree.expandToDepth(0)

    @staticmethod
    def _diff_html(row: Row | None) -> str:
        if row is None or row.diff is None:
            return "<p style='color:#718096'>No diff for this item.</p>"
        before, after = row.diff
        a_label, b_label = row.diff_labels
        a = [] if before is None else json_text(before).splitlines()
        b = [] if after is None else json_text(after).splitlines()
        if before is None:
            a_label += " (absent)"
        if after is None:
            b_label += " (absent / deleted)"
        lines = list(difflib.unified_diff(a, b, a_label, b_label, n=3, lineterm=""))
        if not lines:
            return f"<p>{html.escape(a_label)} and {html.escape(b_label)} are identical.</p>"
        out = []
        for line in lines:
            esc = html.escape(line)
            if line.startswith(("+++", "---")):
                out.append(f"<b>{esc}</b>")
            elif line.startswith("+"):
                out.append(f"<span style='background:#e6ffed;color:#22543d'>{esc}</span>")
            elif line.startswith("-"):
                out.append(f"<span style='background:#ffeef0;color:#742a2a'>{esc}</span>")
            elif line.startswith("@@"):
                out.append(f"<span style='color:#2b6cb0'>{esc}</span>")
            else:
                out.append(esc)
        return "<pre>" + "\n".join(out) + "</pre>"

    def _render_meta(self, row: Row | None) -> None:
        self.meta.clear()
        if row is None:
            return
        items = dict(row.meta or {})
        if row.status is not None:
            glyph, _ = status_style(row.status)
            items = {"status": f"{glyph} {row.status}", **items}
        for k, v in items.items():
            self.meta.addTopLevelItem(QTreeWidgetItem([str(k), _cell_text(v)]))


class MasterDetail(QWidget):
    """Search + chips, list | detail, action bar. ``set_rows`` feeds it; actions act on
    :meth:`selected_rows`."""

    selection_changed = Signal()
    activated = Signal(object)  # Row (double-click or Enter)

    def __init__(
        self,
        columns: Sequence[str],
        *,
        status_column: int | None = None,
        statuses: Sequence[str] = (),
        placeholder: str = "Filter — matches inside values",
        orientation: Qt.Orientation = Qt.Orientation.Horizontal,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = RowModel(columns, status_column, self)
        self.proxy = RowFilter(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit()
        self.search.setPlaceholderText(placeholder)
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        self.chips = StatusChips(statuses)
        self.chips.changed.connect(lambda: self._apply_chips())
        self.count_label = QLabel()
        self.count_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.search.setMinimumWidth(180)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        # Search and count stay on the first line when the chips wrap onto more.
        top.addWidget(self.search, 2, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.chips, 3)
        top.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignTop)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # model order until a header is clicked
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        hh = self.view.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setDefaultSectionSize(110)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self.view.doubleClicked.connect(self._on_double_click)

        self.detail = DetailPane()
        self.splitter = QSplitter(orientation)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        self.actions_bar = QHBoxLayout()
        self.actions_bar.setContentsMargins(0, 0, 0, 0)
        self._actions: list[tuple[QPushButton, Callable[[list[Row]], bool] | None]] = []
        self.copy_button = QPushButton("Copy as JSON")
        self.copy_button.setToolTip("Copy the selected records (or every visible one) to the clipboard as JSON")
        self.copy_button.clicked.connect(lambda: self.copy_json())
        self.actions_bar.addStretch(1)
        self.actions_bar.addWidget(self.copy_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.splitter, 1)
        lay.addLayout(self.actions_bar)
        self._sized = False
        self._update_count()

    # -- feeding ---------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[Row], counts: Mapping[str, int] | None = None) -> None:
        """Replace the rows (incrementally); ``counts`` labels the chips (default: counted)."""
        self.model.set_rows(rows)
        if not self._sized and self.model.rows:
            self._autosize()
        if counts is None and self.model.status_column is not None:
            tally: dict[str, int] = {}
            for r in self.model.rows:
                if r.status is not None:
                    tally[r.status] = tally.get(r.status, 0) + 1
            counts = tally
        if counts is not None:
            self.chips.set_counts(counts)
        self._update_count()
        self.detail.show_row(self.current_row())
        self._update_actions()

    def rows(self) -> list[Row]:
        return self.model.rows

    def _autosize(self) -> None:
        """Fit the columns to the first rows once (a restored header state wins)."""
        self._sized = True
        hh = self.view.horizontalHeader()
        hh.setResizeContentsPrecision(50)
        self.view.resizeColumnsToContents()
        for c in range(self.model.columnCount() - 1):
            hh.resizeSection(c, max(48, min(hh.sectionSize(c) + 8, 190)))

    def set_columns(self, columns: Sequence[str]) -> None:
        self.model.set_columns(columns)
        self._sized = False

    @property
    def columns_fitted(self) -> bool:
        """Whether the column widths were fitted to rows (or restored) since the columns were
        last set: only then are they worth keeping."""
        return self._sized

    def header_state(self) -> str:
        """The column widths and order, as :func:`splitter_state` text."""
        return splitter_state(self.view.horizontalHeader())

    def restore_header(self, raw: object) -> bool:
        """Restore :meth:`header_state`; the columns are then the user's, not auto-sized."""
        if restore_splitter(self.view.horizontalHeader(), raw):
            self._sized = True
            return True
        return False

    def visible_rows(self) -> list[Row]:
        return [self.proxy.data(self.proxy.index(i, 0), ROW_ROLE) for i in range(self.proxy.rowCount())]

    # -- actions --------------------------------------------------------------------------

    def add_action(
        self,
        text: str,
        callback: Callable[[list[Row]], Any],
        *,
        enabled: Callable[[list[Row]], bool] | None = None,
        tooltip: str = "",
        checkable: bool = False,
    ) -> QPushButton:
        """A button in the action bar; ``callback(selected_rows)``; ``enabled(selected_rows)``
        decides whether it can be clicked (re-evaluated on selection and data changes)."""
        b = QPushButton(text)
        b.setToolTip(tooltip)
        b.setCheckable(checkable)
        b.clicked.connect(lambda *_: callback(self.selected_rows()))
        self.actions_bar.insertWidget(len(self._actions), b)
        self._actions.append((b, enabled))
        self._update_actions()
        return b

    def _update_actions(self) -> None:
        sel = self.selected_rows()
        for b, enabled in self._actions:
            if enabled is not None:
                b.setEnabled(bool(enabled(sel)))

    def selected_rows(self) -> list[Row]:
        sm = self.view.selectionModel()
        out = []
        for idx in sorted(sm.selectedRows(), key=lambda i: i.row()):
            r = self.proxy.data(idx, ROW_ROLE)
            if r is not None:
                out.append(r)
        return out

    def current_row(self) -> Row | None:
        sel = self.selected_rows()
        return sel[0] if sel else None

    def select_key(self, key: Hashable) -> bool:
        """Select the row with ``key`` (if visible); returns whether it was found."""
        for i in range(self.proxy.rowCount()):
            idx = self.proxy.index(i, 0)
            r = self.proxy.data(idx, ROW_ROLE)
            if r is not None and r.key == key:
                self.view.selectRow(i)
                self.view.scrollTo(idx)
                return True
        return False

    def copy_json(self) -> str:
        """Put the selected (or all visible) records on the clipboard as JSON; returns the text."""
        rows = self.selected_rows() or self.visible_rows()
        text = json_text([r.data for r in rows] if len(rows) != 1 else rows[0].data)
        QGuiApplication.clipboard().setText(text)
        return text

    # -- filtering --------------------------------------------------------------------------

    def _on_search(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    def _apply_chips(self) -> None:
        self.proxy.set_statuses(self.chips.selected())
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total}" if shown != total else f"{total} item{'' if total == 1 else 's'}")

    def _on_selection(self, *_: Any) -> None:
        self.detail.show_row(self.current_row())
        self._update_actions()
        self.selection_changed.emit()

    def _on_double_click(self, index: QModelIndex) -> None:
        r = self.proxy.data(index, ROW_ROLE)
        if r is not None:
            self.activated.emit(r)

    # -- state -----------------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        return {
            "filter": self.search.text(),
            "statuses": sorted(self.chips.selected() or ()),
            "splitter": splitter_state(self.splitter),
            "header": self.header_state(),
            "tab": self.detail.currentIndex(),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        if not state:
            return
        if isinstance(state.get("filter"), str):
            self.search.setText(state["filter"])
        statuses = state.get("statuses")
        if isinstance(statuses, (list, tuple)):
            self.chips.set_selected([str(s) for s in statuses])
        restore_splitter(self.splitter, state.get("splitter"))
        self.restore_header(state.get("header"))
        tab = state.get("tab")
        if isinstance(tab, int) and 0 <= tab < self.detail.count():
            self.detail.setCurrentIndex(tab)
