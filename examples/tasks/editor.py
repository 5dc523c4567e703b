"""The editor pane: one task's title, notes, priority and project, saved as one update.

It shows the task through a :class:`~atoma.qt.LiveOne`, so the form follows changes made
elsewhere (undo, another device) while the person has not started typing; once they have,
their unsaved text is never overwritten under their fingers.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import atoma
from atoma.qt import LiveOne, LiveQuery

from .models import PRIORITIES, with_first_row

__all__ = ["TaskEditor"]


class TaskEditor(QWidget):
    """Edits the task set with :meth:`set_task`; ``saved`` is emitted with its id after Save."""

    saved = Signal(str)

    def __init__(self, client: atoma.Client, projects: QAbstractItemModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self._tasks = client.store("tasks")
        self._live: LiveOne | None = None
        self._shown: dict[str, Any] = {}  # the field values the form was last filled with

        self.heading = QLabel("<b>No task selected</b>")
        self.title_edit = QLineEdit()
        self.title_edit.setPlaceholderText("What needs doing?")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("Notes (searchable)")
        self.priority_combo = QComboBox()
        for value, text in PRIORITIES.items():
            self.priority_combo.addItem(text, value)
        self.project_combo = QComboBox()
        self.project_combo.setModel(with_first_row("No project", projects, self))
        self.meta = QLabel()
        self.meta.setStyleSheet("color: #718096")
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.revert_button = QPushButton("Revert")
        self.save_button.clicked.connect(lambda: self.save())
        self.revert_button.clicked.connect(lambda: self.revert())
        # Save is enabled when the form differs from the task (see patch()), however it changed.
        for signal in (
            self.title_edit.textChanged, self.notes_edit.textChanged,
            self.priority_combo.currentIndexChanged, self.project_combo.currentIndexChanged,
        ):
            signal.connect(lambda *_: self._update_buttons())
        self.title_edit.returnPressed.connect(lambda: self.save())

        form = QFormLayout()
        form.addRow("Title", self.title_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow("Priority", self.priority_combo)
        form.addRow("Project", self.project_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.meta, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(form, 1)
        layout.addLayout(buttons)
        self.set_task(None)

    # -- which task -------------------------------------------------------------------------

    @property
    def task_id(self) -> str | None:
        return None if self._live is None else self._live.id

    def set_task(self, task_id: str | None) -> None:
        """Show ``task_id`` (``None``: nothing). Unsaved edits of the previous task are dropped."""
        if self._live is not None:
            self._live.valueChanged.disconnect(self._on_value_changed)
            self._live.deleteLater()
            self._live = None
        if task_id is not None:
            # cache-only: the task is in the local store already (it was clicked in the list).
            self._live = LiveOne(self._client, "tasks", task_id, fetch_policy="cache-only", parent=self)
            self._live.valueChanged.connect(self._on_value_changed)
        self._fill(force=True)

    def _on_value_changed(self) -> None:
        self._fill(force=False)

    # -- the form ---------------------------------------------------------------------------

    def _form_values(self) -> dict[str, Any]:
        return {
            "title": self.title_edit.text(),
            "notes": self.notes_edit.toPlainText(),
            "priority": self.priority_combo.currentData(),
            "project_id": self.project_combo.currentData(LiveQuery.IdRole),
        }

    def patch(self) -> dict[str, Any]:
        """The fields the person changed since the form was filled (what Save sends)."""
        return {k: v for k, v in self._form_values().items() if self._shown.get(k) != v}

    @property
    def dirty(self) -> bool:
        return bool(self.patch())

    def _fill(self, *, force: bool) -> None:
        task = None if self._live is None else self._live.value
        if not force and self.dirty and task is not None:
            # Someone else changed the task while the person is typing: keep their text, say so.
            self.meta.setText("Changed elsewhere meanwhile: Save applies your fields on top.")
            return
        enabled = task is not None
        for w in (self.title_edit, self.notes_edit, self.priority_combo, self.project_combo):
            w.setEnabled(enabled)
        if task is None:
            self.heading.setText("<b>No task selected</b>" if self._live is None else "<b>This task was deleted</b>")
            self._shown = {}
            self.title_edit.clear()
            self.notes_edit.clear()
            self.meta.clear()
        else:
            self.heading.setText("<b>Task</b>")
            self.title_edit.setText(task.title)
            if self.notes_edit.toPlainText() != task.notes:
                self.notes_edit.setPlainText(task.notes)
            self.priority_combo.setCurrentIndex(max(0, self.priority_combo.findData(task.priority)))
            self.project_combo.setCurrentIndex(self._project_row(task.project_id))
            self._shown = self._form_values()
            # Versions come from the server (+1 per accepted write); a local edit keeps the
            # version it was made on until the server acknowledges it.
            self.meta.setText(f"id …{task.id[-6:]} · version {task.version}")
        self._update_buttons()

    def _project_row(self, project_id: str | None) -> int:
        if project_id is None:
            return 0
        row = self.project_combo.findData(project_id, LiveQuery.IdRole)
        return row if row >= 0 else 0

    def _update_buttons(self) -> None:
        dirty = self._live is not None and self._live.value is not None and self.dirty
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    # -- actions ----------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the changed fields as one update (one outbox intent, one undo step)."""
        task_id, patch = self.task_id, self.patch()
        if task_id is None or not patch:
            return False
        if not patch.get("title", "x").strip():
            self.meta.setText("A task needs a title.")
            return False
        with self._client.history.action("Edit task"):
            # Local and durable at once; the sync engine sends it when it can.
            self._tasks.update(task_id, patch)
        self._fill(force=True)
        self.saved.emit(task_id)
        return True

    def revert(self) -> None:
        self._fill(force=True)

    def focus_title(self) -> None:
        self.title_edit.setFocus()
        self.title_edit.selectAll()
