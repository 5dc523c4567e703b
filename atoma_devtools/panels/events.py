"""Events: a bounded, pausable timeline of every client event, filterable by type, exportable."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

import msgspec
from PySide6.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from .._format import compact_json, fmt_ms, to_plain
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["EventsPanel", "event_type"]

DEFAULT_MAXLEN = 2000
_SUMMARY_CHARS = 160


def event_type(event: Any) -> str:
    """The ``type`` tag of a typed event (``store.changed``, ...)."""
    cfg = getattr(event, "__struct_config__", None)
    tag = getattr(cfg, "tag", None)
    return str(tag) if tag else type(event).__name__


def event_row(n: int, event: Any) -> Row:
    kind = event_type(event)
    data = to_plain(event)
    if isinstance(data, dict):
        data = {"type": kind, **{k: v for k, v in data.items() if k != "type"}}
    fields = {k: v for k, v in data.items() if k not in ("type", "at_ms")} if isinstance(data, dict) else data
    summary = compact_json(fields)
    if len(summary) > _SUMMARY_CHARS:
        summary = summary[: _SUMMARY_CHARS - 1] + "…"
    return Row(n, [n, fmt_ms(getattr(event, "at_ms", 0)), kind, summary], data, status=kind, meta={"#": n, "type": kind})


class EventsPanel(Panel):
    """Every event the client emits, newest last, in a ring buffer of ``maxlen`` events.

    Recording costs one deque append per event; rows are built only for events that arrived
    since the last refresh, and only while the panel is visible.
    """

    title = "Events"
    event_types = None  # every event

    def __init__(self, ctx: Context, parent: QWidget | None = None, maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(ctx, parent)
        self.maxlen = maxlen
        self.buffer: deque[tuple[int, Any]] = deque(maxlen=maxlen)
        self._rows: deque[Row] = deque(maxlen=maxlen)
        self._counter = itertools.count(1)
        self._last_n = 0
        self.paused = False
        self.md = MasterDetail(["#", "time", "type", "summary"], status_column=2, placeholder="Filter — matches inside event values")
        self.pause_button = self.md.add_action("‖ Pause", lambda _r: self.set_paused(not self.paused), checkable=True,
                                               tooltip="Stop recording events (the app is not affected)")
        self.md.add_action("Clear", lambda _r: self.clear())
        self.history_button = self.md.add_action(
            "Record history.changed", lambda _r: self.set_record_history(self.history_button.isChecked()), checkable=True,
            tooltip="history.changed events cost the app two queries per write while anyone listens; off by default",
        )
        self.md.add_action("Export JSON…", lambda _r: self._export_dialog(), tooltip="Save the recorded events as a JSON array")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.md)

    def on_event(self, event: Any) -> None:
        # Called by the inspector for every event, visible or not: one deque append.
        if not self.paused:
            self.buffer.append((next(self._counter), event))

    def set_record_history(self, on: bool) -> None:
        self.history_button.setChecked(on)
        self.ctx.expensive_events.emit(on)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_button.setChecked(paused)
        self.pause_button.setText("▶ Resume" if paused else "‖ Pause")

    def clear(self) -> None:
        self.buffer.clear()
        self._rows.clear()
        self.md.set_rows([])

    def refresh(self) -> None:
        new = []
        for n, ev in reversed(self.buffer):
            if n <= self._last_n:
                break
            new.append((n, ev))
        if len(new) > self.maxlen:
            new = new[: self.maxlen]
        for n, ev in reversed(new):
            self._rows.append(event_row(n, ev))
        if new:
            self._last_n = new[0][0]
        self.md.set_rows(list(self._rows))

    def events(self) -> list[Any]:
        return [ev for _, ev in self.buffer]

    def to_json(self) -> bytes:
        """The recorded events (the visible filter applied) as a JSON array."""
        keep = {r.key for r in self.md.visible_rows()} if (self.md.proxy.text or self.md.proxy.statuses) else None
        return msgspec.json.encode([ev for n, ev in self.buffer if keep is None or n in keep])

    def export(self, path: str) -> int:
        data = self.to_json()
        with open(path, "wb") as f:
            f.write(data)
        count = len(msgspec.json.decode(data))
        self.ctx.report(f"exported {count} events to {path}")
        return count

    def _export_dialog(self) -> None:
        # Non-modal on purpose: a nested exec() inside a qasync app can break the loop.
        dlg = QFileDialog(self, "Export events", "atoma-events.json", "JSON (*.json)")
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dlg.fileSelected.connect(lambda path: self.ctx.run_sync(self.export, "export events", path))
        dlg.open()

    def badge(self) -> str:
        return f"{len(self.buffer):,}"

    def save_state(self) -> dict[str, Any]:
        return {**super().save_state(), "paused": self.paused, "history": self.history_button.isChecked()}

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        if state.get("paused") is True:
            self.set_paused(True)
        if state.get("history") is True:
            self.set_record_history(True)
