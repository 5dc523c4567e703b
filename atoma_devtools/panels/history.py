"""History: undo/redo steps per scope (label, resources, change count), with undo and redo.

The Undo / Redo buttons act on the chosen scope (or the selected step's), and so do the
platform's standard shortcuts while the panel has focus. (:func:`atoma.qt.undo_actions` is
not used here: each pair subscribes to ``history.changed`` and updates its actions for every
write, which is Qt work inside the app's write path; the panel reads the same labels from
``client.history`` on its coalesced refresh instead.)

A refresh reads the changes of the newest steps only (one query); an older step's changes
are read the first time anything looks at them (the detail pane, Copy as JSON, the filter),
so no step is shown with an empty before/after because its changes were never read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from atoma.history import HistoryStep

from .._format import fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["HistoryPanel", "StepRow"]

_dec = msgspec.json.Decoder()
_MAX_CHANGES = 50
MAX_STEPS_SHOWN = 500  # the newest steps; the counts say how many there are
_STEPS_WITH_CHANGES = 25  # changes are read for the newest steps only (one query)
ALL_SCOPES = "(all scopes)"
_DIFF_LABELS = ("before the step", "after the step")

Changes = list[dict[str, Any]]


class StepRow(Row):
    """One history step; its changes (record, diff, metadata) are filled in by ``load(step_id)``
    the first time something reads them. ``load`` returns None when it cannot read them
    (the client closed): the row then says so, and tries again next time."""

    # The record, metadata and diff live in slots of this class behind properties that read
    # the changes on first use (Row's own slots of those names stay unused).
    __slots__ = ("step", "_load", "_loaded", "_data", "_meta", "_diff")

    def __init__(self, step: HistoryStep, load: Callable[[int], Changes | None], changes: Changes | None = None) -> None:
        self.key = step.id
        self.cells = (step.id, step.scope, step.label, step.state, ", ".join(step.resources), step.change_count, fmt_ms(step.created_at_ms))
        self.status = step.state
        self.diff_labels = _DIFF_LABELS
        self._search = None
        self.step = step
        self._load = load
        self._loaded = False
        self._data: Any = None
        self._meta: Any = None
        self._diff: Any = None
        if changes is not None:
            self._fill(changes)

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def changes(self) -> Changes | None:
        """The step's changes (at most ``_MAX_CHANGES``), reading them if need be."""
        return self.data["changes"]

    def _fill(self, changes: Changes | None) -> None:
        step = self.step
        self._data = {"step": msgspec.to_builtins(step), "changes": changes}
        if changes is None:
            self._diff = None  # "No diff": never "identical" for changes not read
            self.diff_labels = _DIFF_LABELS
            self._meta = {"scope": step.scope, "label": step.label, "changes shown": f"not read (of {step.change_count})"}
            return
        self._loaded = True
        before = {f"{c['resource']}/{c['entity_id']}": c["before"] for c in changes}
        after = {f"{c['resource']}/{c['entity_id']}": c["after"] for c in changes}
        self._diff = (before, after)
        part = f" (first {len(changes)} of {step.change_count} changes)" if len(changes) < step.change_count else ""
        self.diff_labels = (_DIFF_LABELS[0] + part, _DIFF_LABELS[1] + part)
        self._meta = {"scope": step.scope, "label": step.label, "changes shown": f"{len(changes)} of {step.change_count}"}

    def _ensure(self) -> None:
        if not self._loaded:
            self._fill(self._load(self.step.id))

    @property  # type: ignore[override]
    def data(self) -> Any:
        self._ensure()
        return self._data

    @property  # type: ignore[override]
    def meta(self) -> Any:
        self._ensure()
        return self._meta

    @property  # type: ignore[override]
    def diff(self) -> Any:
        self._ensure()
        return self._diff

    def same(self, other: Row) -> bool:
        # Equal steps have equal changes (a step's changes only grow, and change_count with
        # them): comparing the steps keeps a refresh from reading every step's changes.
        if isinstance(other, StepRow):
            return self.step == other.step
        return super().same(other)


def _same_changes(a: HistoryStep, b: HistoryStep) -> bool:
    """Whether two readings of a step have the same changes (undo/redo change only the state)."""
    return (a.id, a.scope, a.label, a.created_at_ms, a.change_count) == (b.id, b.scope, b.label, b.created_at_ms, b.change_count)


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
        # Changes already read are kept while the step is the same one (ids are reused once a
        # step is dropped, so more than the id is compared).
        known = {r.key: r for r in self.md.rows() if isinstance(r, StepRow) and r.loaded}
        kept = {s.id: known[s.id].changes for s in steps if s.id in known and _same_changes(known[s.id].step, s)}
        newest = [s.id for s in steps[-_STEPS_WITH_CHANGES:] if s.id not in kept]
        changes: dict[int, Changes] = {**kept, **self._changes(newest)}
        for sid in newest:
            changes.setdefault(sid, [])  # read, and none recorded
        self.md.set_rows([StepRow(s, self._load, changes.get(s.id)) for s in steps])
        scope = self.target_scope()
        u, r = h.undo_step(scope), h.redo_step(scope)
        self.undo_button.setText(f"↶ Undo “{u.label}”" if u else "↶ Undo")
        self.redo_button.setText(f"↷ Redo “{r.label}”" if r else "↷ Redo")
        self.stack_label.setText(f"  undo/redo act on scope “{scope}”")

    def _load(self, step_id: int) -> Changes | None:
        """One step's changes, read when its row is first looked at (None: cannot read now)."""
        if not self.client.is_open:
            return None
        return self._changes([step_id]).get(step_id, [])

    def _changes(self, step_ids: list[int]) -> dict[int, Changes]:
        if not step_ids:
            return {}
        out: dict[int, Changes] = {}
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
