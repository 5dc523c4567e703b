"""The task manager's main window: the example to copy from.

What it shows, top to bottom:

* a **live list**: a :class:`~atoma.qt.LiveQuery` over ``tasks`` shown in a ``QTableView``
  through ``LiveQuery.table(...)``. Nothing here re-reads the list after a write: the model
  follows the store, whoever changed it (this window, undo, another device via sync);
* **filters** that only change the query: a project combo box (itself a live query over
  ``projects``) and a search box matched against the tasks' full-text index;
* **writes** that are plain local calls (``store.add/update/delete``): instant and durable,
  each one an intent in the outbox that the sync engine pushes when it can;
* **undo/redo** from :func:`atoma.qt.undo_actions` (Ctrl+Z / Ctrl+Shift+Z);
* **sync in the status bar**: state, changes waiting, and a badge for open conflicts that
  opens the :class:`~atoma_devtools.ConflictDialog`; **File → Work offline**;
* **Tools → Inspector** (Ctrl+Shift+I), the devtools window over this client.

Run it through ``python -m examples.tasks.demo`` (two devices and a server), or make one
yourself: ``window = TasksWindow(client, "My laptop"); window.show()`` inside
``atoma.qt.run(main)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

import atoma
from atoma.qt import LiveQuery, spawn, undo_actions
from atoma_devtools import ConflictDialog, Inspector

from .editor import TaskEditor
from .models import TaskRowDelegate, with_first_row
from .status import SyncIndicator

__all__ = ["TasksWindow", "task_filter"]

# The list: open tasks first, then the most urgent, then by title.
ORDER = [("done", "asc"), ("priority", "desc"), ("title", "asc")]
COLUMNS = ["title", "priority", "done", "project"]
HEADERS = ["Task", "Priority", "Done", "Project"]


def task_filter(project_id: str | None, search: str) -> dict[str, Any] | None:
    """The where-clause of the list: a project and/or full-text search.

    ``match`` uses the ``TextIndex("title", "notes")`` of the schema (SQLite FTS5 locally):
    every word typed must be the start of a word of the field, so "pla" finds "plants".
    A match applies to one field, so title and notes are searched as two alternatives.
    """
    where: dict[str, Any] = {}
    if project_id is not None:
        where["project_id"] = project_id
    if any(ch.isalnum() for ch in search):  # a search needs at least one word
        where["or"] = [{"title": {"match": search}}, {"notes": {"match": search}}]
    return where or None


class TasksWindow(QMainWindow):
    """The main window of one device: ``TasksWindow(client, "Device A")``.

    ``client`` must be open (``await client.start()``); the window never closes it, so the
    code that opened the client decides when it ends. ``closed`` is emitted once the window
    is closed. ``settings`` is where the inspector keeps its layout (default: the user's
    ``QSettings("Atoma", "Inspector")``).
    """

    closed = Signal()

    def __init__(
        self, client: atoma.Client, device_name: str, *, settings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.device_name = device_name
        self.tasks = client.store("tasks")
        self._settings = settings
        self.inspector: Inspector | None = None
        self.conflict_dialog: ConflictDialog | None = None
        self._offline_task: asyncio.Future[Any] | None = None
        self._shut_down = False
        self.setWindowTitle(f"Tasks — {device_name}")
        self.resize(900, 600)

        # -- live models ------------------------------------------------------------------
        # fetch_policy="cache-only": this app replicates every task and project through the
        # sync engine's change feed, so the local store is complete and the list never needs
        # to ask the server. An app whose data does not fit on the device would use the
        # default "cache-and-network" (local rows at once, refreshed from the server).
        self.projects = LiveQuery(client, "projects", order_by=[("name", "asc")], fetch_policy="cache-only", parent=self)
        self.model = LiveQuery(
            client, "tasks", order_by=ORDER, include={"project": True}, fetch_policy="cache-only", parent=self
        )
        self.table_model = self.model.table(COLUMNS, HEADERS)

        # -- widgets ----------------------------------------------------------------------
        self.project_filter = QComboBox()
        self.project_filter.setModel(with_first_row("All projects", self.projects, self))
        self.project_filter.setMinimumContentsLength(14)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search title and notes…")
        self.search_box.setClearButtonEnabled(True)
        self.project_filter.currentIndexChanged.connect(lambda *_: self._apply_filter())
        self.search_box.textChanged.connect(lambda *_: self._apply_filter())

        self.view = QTableView()
        self.view.setModel(self.table_model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.verticalHeader().hide()
        self.view.setItemDelegate(TaskRowDelegate(COLUMNS.index("priority"), self.view))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.view.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.view.doubleClicked.connect(lambda *_: self.editor.focus_title())

        self.editor = TaskEditor(client, self.projects)
        self.empty_label = QLabel()
        self.empty_label.setStyleSheet("color: #718096")
        self.model.countChanged.connect(self._update_count)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("Project"))
        filters.addWidget(self.project_filter)
        filters.addWidget(self.search_box, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.view, 1)
        left_layout.addWidget(self.empty_label)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.editor)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([540, 340])
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(8, 8, 8, 4)
        central_layout.addWidget(splitter)
        self.setCentralWidget(central)

        self.sync_indicator = SyncIndicator(client)
        self.sync_indicator.conflicts_clicked.connect(self.open_conflict_dialog)
        self.sync_indicator.refreshed.connect(self._follow_offline_state)
        self.conflict_badge = self.sync_indicator.conflict_badge
        self.statusBar().addPermanentWidget(self.sync_indicator)

        self._build_actions()
        self._update_count()
        self._on_current_changed(QModelIndex(), QModelIndex())

    # -- actions ---------------------------------------------------------------------------

    def _action(self, text: str, slot: Any, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text)
        action.triggered.connect(lambda *_: slot())
        return action

    def _build_actions(self) -> None:
        self.add_action = self._action("Add", self.add_task, QKeySequence.StandardKey.New, "Add a task (Ctrl+N)")
        self.edit_action = self._action("Edit", self.editor.focus_title, "F2", "Edit the selected task (F2)")
        self.complete_action = self._action("Complete", self.toggle_done, "Ctrl+D", "Mark the selected task done / not done (Ctrl+D)")
        self.delete_action = self._action("Delete", self.delete_task, QKeySequence.StandardKey.Delete, "Delete the selected task (Del)")
        # Undo/redo follow client.history: enabled only when there is a step, and labelled
        # with it ("Undo Complete task"). Ctrl+Shift+Z is set explicitly: the platform's
        # standard Redo key differs (Ctrl+Y on Windows).
        self.undo_action, self.redo_action = undo_actions(self.client, "default", self)
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.offline_action = QAction("Work offline", self)
        self.offline_action.setCheckable(True)
        self.offline_action.setChecked(self.client.sync.offline)
        self.offline_action.setEnabled(self.client.sync.enabled)
        self.offline_action.setToolTip("Stop talking to the server; edits keep queueing locally")
        self.offline_action.toggled.connect(self.set_offline)
        self.inspector_action = self._action("Inspector", self.open_inspector, "Ctrl+Shift+I", "Open the Atoma inspector (Ctrl+Shift+I)")
        self.find_action = self._action("Find", self._focus_search, QKeySequence.StandardKey.Find)
        close_action = self._action("Close", self.close, QKeySequence.StandardKey.Close)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.offline_action)
        file_menu.addSeparator()
        file_menu.addAction(close_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.add_action, self.edit_action, self.complete_action, self.delete_action])
        edit_menu.addSeparator()
        edit_menu.addAction(self.find_action)
        tools_menu = menu.addMenu("&Tools")
        tools_menu.addAction(self.inspector_action)

        toolbar = QToolBar("Main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.add_action, self.edit_action, self.complete_action, self.delete_action])
        toolbar.addSeparator()
        toolbar.addActions([self.undo_action, self.redo_action])
        toolbar.addSeparator()
        toolbar.addAction(self.offline_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        # Which device this is, in plain sight (two windows of the same app side by side).
        self.device_label = QLabel(self.device_name)
        self.device_label.setStyleSheet(
            "QLabel { background: #2d3748; color: white; border-radius: 9px; padding: 2px 10px; font-weight: bold; }"
        )
        toolbar.addWidget(self.device_label)
        self.addToolBar(toolbar)

    # -- selection and filters ----------------------------------------------------------------

    def selected_task(self) -> Any:
        """The task of the current row, or ``None``."""
        index = self.view.currentIndex()
        return self.model.entity(index.row()) if index.isValid() else None

    def select_task(self, task_id: str) -> bool:
        """Make ``task_id`` the current row (if the list shows it)."""
        row = self.model.row_of(task_id)
        if row < 0:
            return False
        index = self.table_model.index(row, 0)
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.scrollTo(index)
        return True

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        task = self.model.entity(current.row()) if current.isValid() else None
        if task is None or task.id != self.editor.task_id:
            self.editor.set_task(None if task is None else task.id)
        for action in (self.edit_action, self.complete_action, self.delete_action):
            action.setEnabled(task is not None)

    def _apply_filter(self) -> None:
        project_id = self.project_filter.currentData(LiveQuery.IdRole)
        # set_query resets the model; the current task stays selected if it still matches.
        keep = self.editor.task_id
        self.model.set_query(where=task_filter(project_id, self.search_box.text()))
        if keep is None or not self.select_task(keep):
            self._on_current_changed(self.view.currentIndex(), QModelIndex())

    def _focus_search(self) -> None:
        self.search_box.setFocus()
        self.search_box.selectAll()

    def _update_count(self) -> None:
        n = self.model.count
        filtered = self.model.where is not None
        if n == 0:
            self.empty_label.setText("No task matches." if filtered else "No tasks yet: Add one (Ctrl+N).")
        else:
            noun = "task" if n == 1 else "tasks"
            self.empty_label.setText(f"{n} matching {noun}" if filtered else f"{n} {noun}")

    # -- writes -------------------------------------------------------------------------------
    # Each is a local write: durable when the call returns, one intent in the outbox, and one
    # undo step (history.action gives it the label the Undo action shows).

    def add_task(self) -> Any:
        project_id = self.project_filter.currentData(LiveQuery.IdRole)
        with self.client.history.action("Add task"):
            task = self.tasks.add({"title": "New task", "project_id": project_id})
        if not self.select_task(task.id):  # hidden by the search: clear it so the task shows
            self.search_box.clear()
            self.select_task(task.id)
        self.editor.focus_title()
        return task

    def toggle_done(self) -> None:
        task = self.selected_task()
        if task is not None:
            with self.client.history.action("Complete task" if not task.done else "Reopen task"):
                self.tasks.update(task.id, {"done": not task.done})

    def delete_task(self) -> None:
        task = self.selected_task()
        if task is None:
            return
        row = self.view.currentIndex().row()
        with self.client.history.action("Delete task"):
            self.tasks.delete(task.id)
        # The row is gone from the live model already; select its neighbour.
        if self.model.rowCount():
            self.view.setCurrentIndex(self.table_model.index(min(row, self.model.rowCount() - 1), 0))

    # -- sync -----------------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> "asyncio.Future[Any] | None":
        """Work offline (stop syncing; writes keep queueing) or go back online.

        ``set_offline`` is a coroutine: a plain slot starts it as a task with
        :func:`atoma.qt.spawn`, which reports a failure instead of losing it.
        """
        if offline == self.client.sync.offline or not self.client.sync.enabled:
            return None
        self.statusBar().showMessage("Working offline: changes stay on this device" if offline else "Back online", 4000)
        self._offline_task = spawn(self._set_offline(offline), name="work-offline")
        return self._offline_task

    async def _set_offline(self, offline: bool) -> None:
        await self.client.sync.set_offline(offline)
        self.sync_indicator.schedule_refresh()

    def _follow_offline_state(self) -> None:
        # Keep the check mark true to the engine (the inspector can toggle it too).
        if self.offline_action.isChecked() != self.client.sync.offline and (self._offline_task is None or self._offline_task.done()):
            self.offline_action.blockSignals(True)
            self.offline_action.setChecked(self.client.sync.offline)
            self.offline_action.blockSignals(False)

    def open_conflict_dialog(self) -> ConflictDialog | None:
        """Show the oldest open conflict in a :class:`~atoma_devtools.ConflictDialog`.

        The dialog is non-modal (``open()``, never ``exec()`` under asyncio): the person can
        keep working while deciding. It shows base / mine / server per field, pre-merges the
        fields only one side changed, re-checks the server's version before applying, and
        resolves through ``client.sync.conflicts.resolve(..., by="user")``.
        """
        if self.conflict_dialog is not None and self.conflict_dialog.isVisible():
            self.conflict_dialog.raise_()
            self.conflict_dialog.activateWindow()
            return self.conflict_dialog
        open_conflicts = self.client.sync.conflicts.list(state="open")
        if not open_conflicts:
            self.statusBar().showMessage("No open conflict", 3000)
            return None
        dialog = ConflictDialog(self.client, open_conflicts[0], self, by="user")
        dialog.resize(1040, 560)
        dialog.resolved.connect(lambda c: self.statusBar().showMessage(f"Conflict resolved ({c.resolution}); syncing…", 5000))
        dialog.finished.connect(lambda *_: self._forget_dialog(dialog))
        self.conflict_dialog = dialog
        dialog.open()
        return dialog

    def _forget_dialog(self, dialog: ConflictDialog) -> None:
        if self.conflict_dialog is dialog:
            self.conflict_dialog = None
        dialog.deleteLater()
        self.sync_indicator.schedule_refresh()

    def open_inspector(self) -> Inspector:
        """Tools → Inspector: the devtools window over this client (one per window)."""
        if self.inspector is None:
            self.inspector = Inspector(self.client, settings=self._settings)
            self.inspector.setWindowTitle(f"Atoma Inspector — {self.device_name}")
            self.inspector.destroyed.connect(lambda *_: setattr(self, "inspector", None))
            self.inspector.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.inspector.show()
        self.inspector.raise_()
        return self.inspector

    # -- closing --------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop listening to the client and close the windows this one opened (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.sync_indicator.shutdown()
        for window in (self.conflict_dialog, self.inspector):
            if window is not None:
                window.close()
        self.conflict_dialog = self.inspector = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()
