"""The task manager window in-process (offscreen, local client): every action changes the
store, and the list follows through its LiveQuery; filters only change the query."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

import atoma
from examples.tasks.app import TasksWindow, task_filter
from examples.tasks.demo import has_display
from examples.tasks.seed import PLANTS, seed
from examples.tasks.status import describe


@pytest.fixture
def window(app, client: atoma.Client, settings: QSettings) -> TasksWindow:  # type: ignore[no-untyped-def]
    seed(client)
    w = TasksWindow(client, "Test device", settings=settings)
    w.show()
    return w


def titles(w: TasksWindow) -> list[str]:
    model = w.table_model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def test_list_shows_the_tasks_open_first_most_urgent_first(window: TasksWindow) -> None:
    assert titles(window) == [
        "Call the plumber", "Send the invoice", "Book the team lunch", "Buy milk", PLANTS, "Renew passport",
    ]
    m = window.table_model
    assert [m.headerData(c, Qt.Orientation.Horizontal) for c in range(4)] == ["Task", "Priority", "Done", "Project"]
    assert m.index(0, 3).data() == "Home"  # the included project, by its name
    assert window.empty_label.text() == "6 tasks"


def test_add_edit_complete_delete_and_undo(window: TasksWindow, client: atoma.Client) -> None:
    tasks = client.store("tasks")
    window.add_action.trigger()
    assert tasks.count() == 7 and "New task" in titles(window)
    added = window.selected_task()
    assert added.title == "New task" and window.editor.task_id == added.id

    # The editor saves only the fields that changed, as one update.
    editor = window.editor
    assert not editor.save_button.isEnabled()
    editor.title_edit.setText("Buy bread")
    editor.notes_edit.setPlainText("From the bakery on the corner")
    editor.priority_combo.setCurrentIndex(editor.priority_combo.findData(1))
    assert editor.patch() == {"title": "Buy bread", "notes": "From the bakery on the corner", "priority": 1}
    editor.save_button.click()
    saved = tasks.get(added.id)
    assert (saved.title, saved.notes, saved.priority) == ("Buy bread", "From the bakery on the corner", 1)
    assert titles(window)[0] == "Buy bread"  # high priority: it moved up, and stays selected
    assert window.selected_task().id == added.id and not editor.save_button.isEnabled()

    window.complete_action.trigger()
    assert tasks.get(added.id).done and titles(window)[-2:] == ["Buy bread", "Renew passport"]  # done: at the end
    assert window.undo_action.text() == "Undo Complete task"
    window.undo_action.trigger()
    assert not tasks.get(added.id).done
    window.redo_action.trigger()
    assert tasks.get(added.id).done

    window.select_task(added.id)
    window.delete_action.trigger()
    assert tasks.get(added.id) is None and "Buy bread" not in titles(window)
    window.undo_action.trigger()
    assert tasks.get(added.id) is not None and "Buy bread" in titles(window)


def test_undo_redo_shortcuts(window: TasksWindow) -> None:
    assert window.undo_action.shortcut() == QKeySequence("Ctrl+Z")
    assert QKeySequence("Ctrl+Shift+Z") in window.redo_action.shortcuts()
    assert window.inspector_action.shortcut() == QKeySequence("Ctrl+Shift+I")


def test_editor_follows_changes_made_elsewhere_unless_the_user_is_typing(window: TasksWindow, client: atoma.Client) -> None:
    tasks = client.store("tasks")
    plants = tasks.find(where={"title": PLANTS})[0]
    window.select_task(plants.id)
    tasks.update(plants.id, {"notes": "Changed by sync"})
    assert window.editor.notes_edit.toPlainText() == "Changed by sync"
    window.editor.title_edit.setText("My unsaved title")
    tasks.update(plants.id, {"title": "Changed again"})
    assert window.editor.title_edit.text() == "My unsaved title"  # never overwritten while typing
    assert "Changed elsewhere" in window.editor.meta.text()


def test_search_uses_the_text_index_on_title_and_notes(window: TasksWindow) -> None:
    window.search_box.setText("plumb")
    assert titles(window) == ["Call the plumber"]
    window.search_box.setText("ferns")  # a word of the notes
    assert titles(window) == [PLANTS]
    window.search_box.setText("  ,, ")  # no word: no filter
    assert len(titles(window)) == 6
    window.search_box.setText("nothing-like-this")
    assert titles(window) == [] and window.empty_label.text() == "No task matches."
    window.search_box.clear()
    assert len(titles(window)) == 6


def test_project_filter_is_a_live_query_too(window: TasksWindow, client: atoma.Client) -> None:
    combo = window.project_filter
    assert [combo.itemText(i) for i in range(combo.count())] == ["All projects", "Home", "Work"]
    combo.setCurrentIndex(2)
    assert titles(window) == ["Send the invoice", "Book the team lunch"]
    client.store("projects").add({"name": "Garden"})  # e.g. pulled from another device
    assert [combo.itemText(i) for i in range(combo.count())] == ["All projects", "Garden", "Home", "Work"]
    window.add_action.trigger()  # a task added while filtering belongs to that project
    assert window.selected_task().project_id == combo.currentData(window.model.IdRole)


def test_status_bar_and_inspector(window: TasksWindow) -> None:
    assert window.sync_indicator.state_text == "● Local only"
    assert not window.conflict_badge.isVisible()
    assert not window.offline_action.isEnabled()  # no server: nothing to go offline from
    assert window.open_conflict_dialog() is None
    inspector = window.open_inspector()
    assert inspector.isVisible() and "Test device" in inspector.windowTitle()
    window.close()
    assert window.inspector is None


def test_task_filter() -> None:
    assert task_filter(None, "") is None
    assert task_filter("p1", " ") == {"project_id": "p1"}
    assert task_filter(None, "milk") == {"or": [{"title": {"match": "milk"}}, {"notes": {"match": "milk"}}]}


def test_sync_state_descriptions() -> None:
    s = atoma.SyncStatus
    assert describe(s(state="live"), has_server=True, working_offline=False)[0] == "● Live"
    assert describe(s(state="live", pending=2), has_server=True, working_offline=False)[0] == "↻ Syncing…"
    assert describe(s(state="offline"), has_server=True, working_offline=True)[0] == "○ Offline (working offline)"
    assert describe(s(state="backoff"), has_server=True, working_offline=False)[0] == "○ Server unreachable, retrying"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"DISPLAY": ":0"}, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "vnc"}, True),
    ],
)
def test_display_detection(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.platform", "linux")
    assert has_display() is expected
