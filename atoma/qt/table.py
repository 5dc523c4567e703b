"""``QueryTable``: the rows of a :class:`~atoma.qt.LiveQuery` as columns for ``QTableView``.

A list model has one column (Qt fixes that for ``QAbstractListModel``); this table model
mirrors the live query row for row -- every insert, removal, move and reset is forwarded as
the same signal, so selections survive here too -- and maps fields to columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from ..errors import ValidationError
from .live_query import display_text

if TYPE_CHECKING:
    from .live_query import LiveQuery

__all__ = ["QueryTable"]

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_CHECK = int(Qt.ItemDataRole.CheckStateRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_ModelIndex = QModelIndex | QPersistentModelIndex


def _title(name: str) -> str:
    text = name.removesuffix("_id").replace("_", " ")
    return text[:1].upper() + text[1:]


class QueryTable(QAbstractTableModel):
    """Columns ``columns`` (field or included relation names) of ``source``'s rows.

    Text fields show as text, numbers right-aligned, booleans as check boxes (read-only),
    relations by their first text field; other roles of column 0 are the source's roles
    (``entity``, fields), so ``index.data(source.EntityRole)`` works here too.
    """

    def __init__(self, source: "LiveQuery", columns: Sequence[str] | None = None, headers: Sequence[str] | None = None) -> None:
        super().__init__(source)
        self._src = source
        if columns is None:
            columns = [f for f in source.fields if f not in ("id", "version")] + source._rel_names
        self._columns = list(columns)
        self._roles = [source.role(c) for c in self._columns]
        if headers is None:
            headers = [_title(c) for c in self._columns]
        if len(headers) != len(self._columns):
            raise ValidationError(f"{len(headers)} headers for {len(self._columns)} columns", path="headers")
        self._headers = list(headers)
        res = source._store.resource
        self._bool = [c in res.fields and res.fields[c].kinds <= {"bool", "null"} for c in self._columns]
        self._number = [c in res.fields and res.fields[c].kinds <= {"num", "null"} for c in self._columns]
        source.rowsAboutToBeInserted.connect(self._rows_about_to_be_inserted)
        source.rowsInserted.connect(self.endInsertRows)
        source.rowsAboutToBeRemoved.connect(self._rows_about_to_be_removed)
        source.rowsRemoved.connect(self.endRemoveRows)
        source.rowsAboutToBeMoved.connect(self._rows_about_to_be_moved)
        source.rowsMoved.connect(self.endMoveRows)
        source.modelAboutToBeReset.connect(self.beginResetModel)
        source.modelReset.connect(self.endResetModel)
        source.dataChanged.connect(self._data_changed)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def source(self) -> "LiveQuery":
        return self._src

    # -- forwarding -----------------------------------------------------------------------------

    def _rows_about_to_be_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        self.beginInsertRows(QModelIndex(), first, last)

    def _rows_about_to_be_removed(self, parent: QModelIndex, first: int, last: int) -> None:
        self.beginRemoveRows(QModelIndex(), first, last)

    def _rows_about_to_be_moved(self, sp: QModelIndex, first: int, last: int, dp: QModelIndex, dest: int) -> None:
        self.beginMoveRows(QModelIndex(), first, last, QModelIndex(), dest)

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, roles: list[int]) -> None:
        cols = [c for c, r in enumerate(self._roles) if not roles or r in roles]
        if cols:
            self.dataChanged.emit(
                self.index(top_left.row(), min(cols)), self.index(bottom_right.row(), max(cols)), [_DISPLAY, _CHECK, *roles]
            )

    # -- model ----------------------------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._src.rowCount()

    def columnCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _ModelIndex, role: int = _DISPLAY) -> Any:
        row, col = index.row(), index.column()
        if not index.isValid() or not (0 <= row < self._src.rowCount() and 0 <= col < len(self._columns)):
            return None
        if role in (_DISPLAY, _TOOLTIP):
            if self._bool[col]:
                return None
            return display_text(getattr(self._src.entity(row), self._columns[col], None))
        if role == _CHECK:
            if not self._bool[col]:
                return None
            value = getattr(self._src.entity(row), self._columns[col], None)
            return Qt.CheckState.Checked if value else Qt.CheckState.Unchecked
        if role == _ALIGN:
            return _RIGHT if self._number[col] else None
        return self._src.data(self._src.index(row, 0), role)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if role != _DISPLAY:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._headers[section] if 0 <= section < len(self._headers) else None
        return str(section + 1)

    def flags(self, index: _ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
