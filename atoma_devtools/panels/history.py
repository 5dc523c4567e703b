"""History: undo/redo steps per scope (label, resources, change count), with undo and redo.

The Undo / Redo buttons act on the chosen scope (or the selected step's), and so do the
platform's standard shortcuts while the panel has focus. (:func:`atoma.qt.undo_actions` is
not used here: each pair subscribes to ``history.changed`` and updates its actions for every
write, which is Qt work inside the app's write path; the panel reads the same labels from
``client.history`` on its coalesced refresh instead.)
"""

from __future__ import annotations

from typing import Any

import msgspec
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from atoma.history import HistoryStep

from .._format import fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["HistoryPanel"]

_dec = msgspec.json.Decoder()
_MAX_CHANGES = 50
MAX_STEPS_SHOWN = 500  # the newest steps; the counts say how many there are
_STEPS_WITH_CHANGES = 25  # changes are read for the newest steps only (one query)
ALL_SCOPES = "(all scopes)"


class HistoryPanel(Panel):
    title = "History"
    # Every local write, undo and redo emits store.changed and history.changed (the latter
    # costs no query after a write).
    event_types = frozenset({"store.changed", "history.changed"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.scope = QComboBox()
        self.scope.addItem(ALL_SCOPES)
        self.scope.currentTextChanged.connect(lambda *_: self.do_refresh())
        self.stack_label = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Scope"))
        top.addWidget(self.scope)
        top.addWidget(self.stack_label, 1)
        self.md = MasterDetail(
            ["step", "scope", "label", "state", "resources", "changes", "created"], status_column=3, statuses=("done", "undone")
        )
        writable = not ctx.readonly
        self.undo_button = self.md.add_action("↶ Undo", lambda _r: self.undo(), enabled=lambda _r: writable and self._can(True))
        self.redo_button = self.md.add_action("↷ Redo", lambda _r: self.redo(), enabled=lambda _r: writable and self._can(False))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.md)
        self._rows: list[Row] = []
        self.undo_action = QAction("Undo", self)
        self.redo_action = QAction("Redo", self)
        for a, key, fn in ((self.undo_action, QKeySequence.StandardKey.Undo, self.undo), (self.redo_action, QKeySequence.StandardKey.Redo, self.redo)):
            a.setShortcut(QKeySequence(key))
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.setEnabled(writable)
            a.triggered.connect(lambda *_, fn=fn: fn())
            self.addAction(a)
        self.undo_button.setToolTip(f"Undo the last step of the scope ({self.undo_action.shortcut().toString()})")
        self.redo_button.setToolTip(f"Redo the last undone step of the scope ({self.redo_action.shortcut().toString()})")

    def target_scope(self) -> str:
        """The scope undo/redo act on: the chosen one, else the selected step's, else default."""
        s = self.scope.currentText()
        if s and s != ALL_SCOPES:
            return s
        row = self.md.current_row()
        return row.data["step"]["scope"] if row is not None else "default"

    def _can(self, undo: bool) -> bool:
        if not self.client.is_open:
            return False
        h = self.client.history
        scope = self.target_scope()
        return (h.undo_step(scope) if undo else h.redo_step(scope)) is not None

    def refresh(self) -> None:
        h = self.client.history
        scopes = h.scopes()
        current = self.scope.currentText()
        known = [self.scope.itemText(i) for i in range(1, self.scope.count())]
        if known != scopes:
            self.scope.blockSignals(True)
            self.scope.clear()
            self.scope.addItems([ALL_SCOPES, *scopes])
            self.scope.setCurrentText(current if current in scopes else ALL_SCOPES)
            self.scope.blockSignals(False)
        chosen = self.scope.currentText()
        steps = h.steps(None if chosen == ALL_SCOPES else chosen, newest=MAX_STEPS_SHOWN)
        changes = self._changes([s.id for s in steps[-_STEPS_WITH_CHANGES:]])
        self.md.set_rows([self._row(s, changes.get(s.id, [])) for s in steps])
        scope = self.target_scope()
        u, r = h.undo_step(scope), h.redo_step(scope)
        self.undo_button.setText(f"↶ Undo “{u.label}”" if u else "↶ Undo")
        self.redo_button.setText(f"↷ Redo “{r.label}”" if r else "↷ Redo")
        self.stack_label.setText(f"  undo/redo act on scope “{scope}”")

    def _changes(self, step_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        if not step_ids:
            return {}
        out: dict[int, list[dict[str, Any]]] = {}
        rows = self.client._connection().execute(
            "SELECT step_id, n, resource, entity_id, before, after, changed FROM atoma_history_changes "
            "WHERE step_id IN (SELECT value FROM json_each(?)) AND n < ? ORDER BY step_id, n",
            (msgspec.json.encode(step_ids).decode(), _MAX_CHANGES),
        )
        for sid, _n, res, eid, before, after, changed in rows:
            out.setdefault(sid, []).append(
                {
                    "resource": res,
                    "entity_id": eid,
                    "before": None if before is None else _dec.decode(before),
                    "after": None if after is None else _dec.decode(after),
                    "changed": None if changed is None else _dec.decode(changed),
                }
            )
        return out

    @staticmethod
    def _row(step: HistoryStep, changes: list[dict[str, Any]]) -> Row:
        before = {f"{c['resource']}/{c['entity_id']}": c["before"] for c in changes}
        after = {f"{c['resource']}/{c['entity_id']}": c["after"] for c in changes}
        return Row(
            step.id,
            [step.id, step.scope, step.label, step.state, ", ".join(step.resources), step.change_count, fmt_ms(step.created_at_ms)],
            {"step": msgspec.to_builtins(step), "changes": changes},
            status=step.state,
            meta={"scope": step.scope, "label": step.label, "changes shown": f"{len(changes)} of {step.change_count}"},
            diff=(before, after),
            diff_labels=("before the step", "after the step"),
        )

    def undo(self) -> Any:
        out = self.ctx.run_sync(self.client.history.undo, "undo", self.target_scope())
        self._after(out)
        return out

    def redo(self) -> Any:
        out = self.ctx.run_sync(self.client.history.redo, "redo", self.target_scope())
        self._after(out)
        return out

    def _after(self, result: Any) -> None:
        if result is not None and result.skipped:
            self.ctx.report(
                "skipped: " + "; ".join(f"{s.resource}/{s.entity_id} {', '.join(s.fields)}: {s.reason}" for s in result.skipped)
            )
        self.do_refresh()

    def badge(self) -> str:
        return ""

    def save_state(self) -> dict[str, Any]:
        return {**super().save_state(), "scope": self.scope.currentText()}

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        scope = state.get("scope")
        if isinstance(scope, str) and scope != ALL_SCOPES:
            if self.scope.findText(scope) < 0:
                self.scope.addItem(scope)
            self.scope.setCurrentText(scope)
