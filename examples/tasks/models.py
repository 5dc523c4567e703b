"""Small Qt helpers around ``LiveQuery``: a combo-box model with a leading entry, and the
delegate that draws task rows.

Nothing here knows about sync: the live models already follow the store, whoever changed it
(a local write, undo/redo, or another device's change arriving through the server).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QConcatenateTablesProxyModel, QModelIndex, QObject, QPersistentModelIndex
from PySide6.QtGui import QColor, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from atoma.qt import LiveQuery

__all__ = ["with_first_row", "TaskRowDelegate", "PRIORITIES", "priority_text"]

#: Priority values of ``Task.priority`` and how they read.
PRIORITIES: dict[int, str] = {0: "Normal", 1: "High"}


def priority_text(value: Any) -> str:
    try:
        return PRIORITIES.get(int(value), str(value))
    except (TypeError, ValueError):
        return ""


def with_first_row(text: str, model: QAbstractItemModel, parent: QObject) -> QConcatenateTablesProxyModel:
    """``model``'s rows after one extra row reading ``text`` (e.g. "All projects").

    A ``QComboBox`` shows one model; Qt's concatenating proxy puts a one-row standard model
    in front of the live query and forwards every row signal of it, so the combo box keeps
    following the projects as they are added, renamed or deleted on any device. The extra
    row has no ``IdRole`` data, so ``combo.currentData(LiveQuery.IdRole)`` is ``None`` there.
    """
    head = QStandardItemModel(parent)
    head.appendRow(QStandardItem(text))
    proxy = QConcatenateTablesProxyModel(parent)
    proxy.addSourceModel(head)
    proxy.addSourceModel(model)
    return proxy


class TaskRowDelegate(QStyledItemDelegate):
    """Draws a task row: completed tasks struck out and greyed, priorities as words.

    Every column of a :class:`~atoma.qt.QueryTable` answers ``LiveQuery.EntityRole`` with the
    row's entity, so the delegate can style a cell by looking at the whole task.
    """

    def __init__(self, priority_column: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._priority_column = priority_column

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        task = index.data(LiveQuery.EntityRole)
        if task is None:
            return
        if index.column() == self._priority_column:
            option.text = priority_text(task.priority) if task.priority else ""
            if task.priority:
                option.font.setBold(True)
                option.palette.setColor(QPalette.ColorRole.Text, QColor("#c05621"))
        if task.done:
            option.font.setStrikeOut(True)
            option.palette.setColor(QPalette.ColorRole.Text, QColor("#718096"))
