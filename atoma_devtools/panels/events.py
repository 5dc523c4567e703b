"""Events: a bounded, pausable timeline of every client event, filterable by type, exportable."""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec
from PySide6.QtWidgets import QFileDialog, QLabel, QVBoxLayout, QWidget

from .._format import compact_json, fmt_ms, to_plain
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["EventsPanel", "event_type", "event_row", "EventRow"]

DEFAULT_MAXLEN = 2000
_SUMMARY_CHARS = 160
_get_cells = Row.cells.__get__  # type: ignore[attr-defined]
_set_cells = Row.cells.__set__  # type: ignore[attr-defined]
_set_data = Row.data.__set__  # type: ignore[attr-defined]
_set_meta = Row.meta.__set__  # type: ignore[attr-defined]


def event_type(event: Any) -> str:
    """The ``type`` tag of a typed event (``store.changed``, ...)."""
    cfg = getattr(event, "__struct_config__", None)
    tag = getattr(cfg, "tag", None)
    return str(tag) if tag else type(event).__name__


class EventRow(Row):
    """A timeline row whose text is built only when something reads it (the view paints a
    few dozen rows; a burst of thousands of events must not format them all)."""

    __slots__ = ("event", "_built")

    def __init__(self, n: int, event: Any) -> None:
        self.key = n
        self.event = event
        self.status = event_type(event)
        self.diff = None
        self.diff_labels = ("before", "after")
        self._search = None
        self._built = False

    def _build(self) -> None:
        self._built = True
        kind = self.status
        data = to_plain(self.event)
        if isinstance(data, dict):
            data = {"type": kind, **{k: v for k, v in data.items() if k != "type"}}
        fields = {k: v for k, v in data.items() if k not in ("type", "at_ms")} if isinstance(data, dict) else data
        summary = compact_json(fields)
        if len(summary) > _SUMMARY_CHARS:
            summary = summary[: _SUMMARY_CHARS - 1] + "…"
        _set_cells(self, (self.key, fmt_ms(getattr(self.event, "at_ms", 0)), kind, summary))
        _set_data(self, data)
        _set_meta(self, {"#": self.key, "type": kind})

    @property  # type: ignore[override]
    def cells(self) -> tuple[Any, ...]:
        if not self._built:
            self._build()
        return _get_cells(self)

    @property  # type: ignore[override]
    def data(self) -> Any:
        if not self._built:
            self._build()
        return Row.data.__get__(self)  # type: ignore[attr-defined]

    @property  # type: ignore[override]
    def meta(self) -> Any:
        if not self._built:
            self._build()
        return Row.meta.__get__(self)  # type: ignore[attr-defined]


def event_row(n: int, event: Any) -> Row:
    return EventRow(n, event)


class EventsPanel(Panel):
    """Every event the client emits, newest last, in a ring buffer of ``maxlen`` events.

    Recording costs the app one queue append per event (the inspector's); the panel takes
    the events in batches, and rows format their text only when painted or searched.
    While paused, the inspector stops asking the app for event types no other panel needs.
    """

    title = "Events"
    event_types = None  # every event

    def __init__(self, ctx: Context, parent: QWidget | None = None, maxlen: int = DEFAULT_MAXLEN) -> None:
        super().__init__(ctx, parent)
        self.maxlen = maxlen
        # The events and their numbers side by side (same maxlen, so they stay aligned):
        # an (n, event) tuple per event would be one more object for the garbage collector
        # to track per event, thousands a second while the app writes.
        self.buffer: deque[Any] = deque(maxlen=maxlen)
        self._numbers: deque[int] = deque(maxlen=maxlen)
        self._rows: deque[Row] = deque(maxlen=maxlen)
        self._next = 1  # the number of the next recorded event
        self._last_n = 0
        self.lost = 0
        self.paused = False
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.md = MasterDetail(["#", "time", "type", "summary"], status_column=2, placeholder="Filter — matches inside event values")
        self.pause_button = self.md.add_action("‖ Pause", lambda _r: self.set_paused(not self.paused), checkable=True,
                                               tooltip="Stop recording events (the app then builds only the events other panels need)")
        self.md.add_action("Clear", lambda _r: self.clear())
        self.md.add_action("Export JSON…", lambda _r: self._export_dialog(), tooltip="Save the recorded events as a JSON array")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.notice)
        lay.addWidget(self.md)

    def on_events(self, events: list[Any], lost: int = 0) -> None:
        if self.paused:
            return
        if lost:
            self.lost += lost
            self._next += lost  # the numbering shows the gap
        start = self._next
        self._next += len(events)
        self.buffer.extend(events)
        self._numbers.extend(range(start, self._next))

    def wanted_types(self) -> frozenset[str] | None:
        return frozenset() if self.paused else None

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_button.setChecked(paused)
        self.pause_button.setText("▶ Resume" if paused else "‖ Pause")
        self.ctx.subscriptions_changed.emit()

    def clear(self) -> None:
        self.buffer.clear()
        self._numbers.clear()
        self._rows.clear()
        self.lost = 0
        self.md.set_rows([])

    def refresh(self) -> None:
        new = []
        for n, ev in zip(reversed(self._numbers), reversed(self.buffer)):
            if n <= self._last_n:
                break
            new.append((n, ev))
        for n, ev in reversed(new):
            self._rows.append(EventRow(n, ev))
        if new:
            self._last_n = new[0][0]
        self.md.set_rows(list(self._rows))
        if self.lost:
            self.notice.setText(f"ⓘ {self.lost:,} events arrived faster than the inspector drains them and were not recorded (numbering shows the gaps).")
            self.notice.show()
        else:
            self.notice.hide()

    def events(self) -> list[Any]:
        return list(self.buffer)

    def to_json(self) -> bytes:
        """The recorded events (the visible filter applied) as a JSON array."""
        keep = {r.key for r in self.md.visible_rows()} if (self.md.proxy.text or self.md.proxy.statuses) else None
        return msgspec.json.encode([ev for n, ev in zip(self._numbers, self.buffer) if keep is None or n in keep])

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
        return {**super().save_state(), "paused": self.paused}

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        if state.get("paused") is True:
            self.set_paused(True)
