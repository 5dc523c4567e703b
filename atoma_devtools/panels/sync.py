"""Sync: state, cursor, lag, last push/pull, a live log of sync events; Sync now, Work offline.

"Sync now" pushes the outbox then pulls (``client.sync.push()`` + ``pull()``; an explicit push
sends even while pushing is paused). "Work offline" is ``await client.sync.set_offline(True)``:
no network at all, writes keep queueing durably, the sync lock stays held.
"""

from __future__ import annotations

import html
import time
from collections import deque
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from .._format import fmt_age, status_style
from ..master_detail import MasterDetail, restore_splitter, splitter_state
from .base import Context, Panel
from .events import event_row, event_type

__all__ = ["SyncPanel", "SYNC_EVENT_TYPES"]

SYNC_EVENT_TYPES = frozenset(
    {
        "push.started",
        "push.acked",
        "push.rejected",
        "pull.applied",
        "subscribe.connected",
        "subscribe.notified",
        "subscribe.lost",
        "sync.backoff",
        "sync.resync",
        "sync.rebase",
        "sync.conflict",
        "sync.status",
        "conflict.resolved",
    }
)
LOG_MAXLEN = 500


class SyncPanel(Panel):
    title = "Sync"
    event_types = SYNC_EVENT_TYPES | {"outbox.enqueued"}

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for key in ("State", "Server", "Stream", "Pushing", "Cursor", "Lag", "Last push", "Last pull", "Last sync", "Outbox", "Last error"):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.fields[key] = label
            form.addRow(key, label)
        can = self.client.sync.enabled and not ctx.readonly
        self.sync_now_button = QPushButton("⟳ Sync now")
        self.sync_now_button.setToolTip("Push the outbox, then pull the change feed" if can else "No server configured (or read-only)")
        self.sync_now_button.setEnabled(can)
        self.sync_now_button.clicked.connect(lambda: self.sync_now())
        self.offline_button = QPushButton("✈ Work offline")
        self.offline_button.setCheckable(True)
        self.offline_button.setEnabled(can)
        self.offline_button.setToolTip("Stop talking to the server (client.sync.set_offline); writes keep queueing in the outbox")
        self.offline_button.clicked.connect(lambda checked: self.work_offline(checked))
        buttons = QHBoxLayout()
        buttons.addWidget(self.sync_now_button)
        buttons.addWidget(self.offline_button)
        form.addRow(buttons)
        box = QGroupBox("Status")
        box.setLayout(form)

        self.log: deque[tuple[int, Any]] = deque(maxlen=LOG_MAXLEN)
        self._next = 1
        self._last_push_ms: int | None = None
        self._last_pull_ms: int | None = None
        self._notified_cursor: int | None = None
        self.md = MasterDetail(["#", "time", "event", "summary"], status_column=2, placeholder="Filter the sync log")
        self.md.add_action("Clear log", lambda _r: self._clear())
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(box)
        self.splitter.addWidget(self.md)
        self.splitter.setSizes([330, 770])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)
        self._state = "offline"

    def on_events(self, events: list[Any], lost: int = 0) -> None:
        for event in events:
            kind = event_type(event)
            if kind == "sync.status" or kind == "outbox.enqueued":
                continue  # the status block shows them; the log would repeat them for every write
            at = getattr(event, "at_ms", 0) or int(time.time() * 1000)
            if kind == "push.acked" or kind == "push.rejected":
                self._last_push_ms = at
            elif kind == "pull.applied":
                self._last_pull_ms = at
            elif kind == "subscribe.notified":
                self._notified_cursor = getattr(event, "cursor", None)
            self.log.append((self._next, event))
            self._next += 1

    def _clear(self) -> None:
        self.log.clear()
        self.md.set_rows([])

    def refresh(self) -> None:
        sync = self.client.sync
        st = sync.status
        now = int(time.time() * 1000)
        state = st.state
        if self.ctx.readonly:  # checked first: a read-only client never has a server of its own
            state_note = " (read-only view: the app that owns this file syncs it)"
        elif not sync.enabled:
            state_note = " (no server configured)"
        else:
            state_note = ""
        self._state = state
        glyph, colour = status_style(state)
        f = self.fields
        f["State"].setText(f"<span style='color:{colour}'><b>{glyph} {state}</b></span>{html.escape(state_note)}")
        f["Server"].setText(html.escape(str(self.client.server or "—")))
        f["Stream"].setText("● connected" if st.stream else "○ not connected")
        if sync.push_paused:
            f["Pushing"].setText("<span style='color:#b7791f'><b>‖ paused</b></span> (Outbox panel: resume)")
        else:
            f["Pushing"].setText("▶ on" if sync.running else "○ not running")
        f["Cursor"].setText(f"{st.cursor:,}")
        if self._notified_cursor is not None and self._notified_cursor > st.cursor:
            lag = f"{self._notified_cursor - st.cursor:,} changes behind the last notification"
        else:
            lag = "caught up with the last notification" if self._notified_cursor is not None else "—"
        f["Lag"].setText(lag)
        f["Last push"].setText(fmt_age(self._last_push_ms, now))
        f["Last pull"].setText(fmt_age(self._last_pull_ms, now))
        f["Last sync"].setText(fmt_age(st.last_sync_ms, now))
        f["Outbox"].setText(
            f"{st.pending:,} pending · {st.in_flight:,} in flight · {st.conflicted:,} conflicted · {st.rejected:,} rejected"
        )
        err = st.last_error
        f["Last error"].setText(
            "—" if not err else f"<span style='color:#c53030'>✕ {html.escape(str(err.get('code')))}: {html.escape(str(err.get('message')))}</span>"
        )
        offline = sync.enabled and sync.offline
        self.offline_button.setChecked(offline)
        self.offline_button.setText("✈ Working offline — go online" if offline else "✈ Work offline")
        self.sync_now_button.setEnabled(sync.enabled and not self.ctx.readonly and not offline)
        self.md.set_rows([event_row(n, ev) for n, ev in self.log])

    def sync_now(self) -> Any:
        """Push the outbox, then pull the change feed (a task on the app's loop)."""
        sync = self.client.sync

        async def run() -> None:
            self.sync_now_button.setEnabled(False)
            try:
                pushed = await sync.push()
                pulled = await sync.pull()
            finally:
                self.sync_now_button.setEnabled(not sync.offline)
            self.do_refresh()
            self.ctx.report(f"sync now: {pushed.acked} pushed, {pushed.conflicted} conflicted, {pushed.rejected} rejected; {pulled} pulled")

        return self.ctx.spawn(run(), "sync now", quiet=True)

    def work_offline(self, offline: bool) -> Any:
        """``await client.sync.set_offline(offline)`` (a task on the app's loop)."""

        async def run() -> None:
            try:
                await self.client.sync.set_offline(offline)
            finally:
                self.do_refresh()

        return self.ctx.spawn(run(), "work offline" if offline else "go online")

    def update_badge(self) -> None:
        self._state = self.client.sync.status.state

    def badge(self) -> str:
        return self._state

    def save_state(self) -> dict[str, Any]:
        return {**super().save_state(), "splitter": splitter_state(self.splitter)}

    def restore_state(self, state: dict[str, Any]) -> None:
        super().restore_state(state)
        restore_splitter(self.splitter, state.get("splitter"))
