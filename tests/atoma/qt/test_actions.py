"""Undo/redo QActions that follow client.history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMenu

import atoma
from atoma.qt import undo_actions


def test_actions_follow_the_stack(client: atoma.Client, qtbot: Any, shots: Path) -> None:
    tasks = client.store("tasks")
    undo, redo = undo_actions(client)
    assert (undo.text(), undo.isEnabled(), redo.text(), redo.isEnabled()) == ("Undo", False, "Redo", False)
    assert undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert redo.shortcut() == QKeySequence(QKeySequence.StandardKey.Redo)
    t = tasks.add({"title": "milk"})
    assert undo.isEnabled() and undo.text() == "Undo Add task" and not redo.isEnabled()
    with client.history.action("Rock & roll"):
        tasks.update(t.id, {"title": "jazz"})
    assert undo.text() == "Undo Rock && roll"  # '&' is not a mnemonic
    undo.trigger()
    assert tasks.get(t.id).title == "milk"  # type: ignore[union-attr]
    assert redo.isEnabled() and redo.text() == "Redo Rock && roll" and undo.text() == "Undo Add task"
    redo.trigger()
    assert tasks.get(t.id).title == "jazz" and not redo.isEnabled()  # type: ignore[union-attr]
    other_undo, _ = undo_actions(client, scope="editor")
    tasks.update(t.id, {"title": "blues"})  # scope "default": the editor's action is unmoved
    assert not other_undo.isEnabled()

    menu = QMenu()
    menu.addActions([undo, redo])
    qtbot.addWidget(menu)
    menu.show()
    qtbot.waitExposed(menu)
    assert menu.grab().save(str(shots / "undo_actions_menu.png"))


def test_history_conflict_is_reported_not_swallowed(client: atoma.Client, qtbot: Any) -> None:
    tasks = client.store("tasks")
    t = tasks.add({"title": "a"})
    undo, _ = undo_actions(client, scope="edits")
    with client.history.action("Rename", scope="edits"):
        tasks.update(t.id, {"title": "b"})
    tasks.update(t.id, {"title": "c"})  # someone else (another scope) changed it since
    with qtbot.captureExceptions() as errors:
        undo.trigger()
    assert len(errors) == 1 and isinstance(errors[0][1], atoma.HistoryConflict)
    assert tasks.get(t.id).title == "c" and undo.isEnabled()  # type: ignore[union-attr]
