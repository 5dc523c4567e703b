"""Undo and redo as ``QAction`` s that follow ``client.history`` (like ``QUndoStack.createUndoAction``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence

from ..history import HistoryChanged
from .bridge import lifetime, subscribe
from .loop import report_error

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["undo_actions"]


def _text(verb: str, label: str | None) -> str:
    return verb if not label else f"{verb} {label.replace('&', '&&')}"


class _Follower(QObject):
    """Keeps the two actions in step with one history scope (a child of the undo action)."""

    def __init__(self, client: "Client", scope: str, undo: QAction, redo: QAction) -> None:
        super().__init__(undo)
        self._client, self._scope = client, scope
        self._undo, self._redo = undo, redo
        life = lifetime(self)
        subscribe(client, self, life, ["history.changed"], self._on_history)
        history = client.history
        u, r = history.undo_step(scope), history.redo_step(scope)
        self._show(u is not None, r is not None, u.label if u else None, r.label if r else None)

    def _on_history(self, event: HistoryChanged) -> None:
        if event.scope == self._scope:
            self._show(event.can_undo, event.can_redo, event.undo_label, event.redo_label)

    def _show(self, can_undo: bool, can_redo: bool, undo_label: str | None, redo_label: str | None) -> None:
        for action, enabled, verb, label in ((self._undo, can_undo, "Undo", undo_label), (self._redo, can_redo, "Redo", redo_label)):
            if shiboken6.isValid(action):
                action.setEnabled(enabled)
                action.setText(_text(verb, label if enabled else None))

    def trigger(self, undo: bool) -> None:
        history = self._client.history
        try:
            if undo:
                history.undo(self._scope)
            else:
                history.redo(self._scope)
        except Exception as exc:  # noqa: BLE001 - HistoryConflict and friends go to the error sink
            report_error(exc)


def undo_actions(client: "Client", scope: str = "default", parent: QObject | None = None) -> tuple[QAction, QAction]:
    """``(undo, redo)`` actions for ``scope`` of ``client.history``.

    Their text is ``"Undo <label>"`` / ``"Redo <label>"`` (just ``"Undo"`` / ``"Redo"`` when
    disabled), they are enabled only when there is a step to undo / redo, and they carry the
    platform's standard shortcuts. Triggering one calls ``client.history.undo(scope)`` /
    ``redo(scope)``; an error (:class:`~atoma.errors.HistoryConflict` when others changed
    everything the step touched) is reported through ``sys.excepthook`` -- see
    :func:`atoma.qt.install_excepthook` -- never swallowed.
    """
    undo = QAction("Undo", parent)
    redo = QAction("Redo", parent)
    undo.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
    redo.setShortcut(QKeySequence(QKeySequence.StandardKey.Redo))
    follower = _Follower(client, scope, undo, redo)
    undo.triggered.connect(lambda *_: follower.trigger(True))
    redo.triggered.connect(lambda *_: follower.trigger(False))
    return undo, redo
