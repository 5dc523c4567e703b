"""The sync indicator of the status bar: connection state, changes waiting, open conflicts.

Everything shown comes from one snapshot, ``client.sync.status`` (state, pending,
in-flight, conflicted and rejected counts). The widget listens to a few client events only
to know *when* to look again: an event handler runs inside the write path, so it just starts
a zero-delay timer and a burst of events costs one refresh.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

import atoma

__all__ = ["SyncIndicator", "describe"]

# Colour is never the only signal: each state also has a glyph and words.
_GREEN, _BLUE, _GREY, _ORANGE = "#2f855a", "#2b6cb0", "#718096", "#c05621"

# What makes the indicator look again: status snapshots, local writes (pending count), and
# conflicts appearing or going away.
_EVENTS = ["sync.status", "outbox.enqueued", "push.acked", "sync.conflict", "conflict.resolved"]


def describe(status: atoma.SyncStatus, *, has_server: bool, working_offline: bool) -> tuple[str, str]:
    """``(text, colour)`` of the connection state, as a person reads it."""
    busy = status.pending + status.in_flight > 0
    if not has_server:
        return "● Local only", _GREY
    if working_offline:
        return "○ Offline (working offline)", _GREY
    if status.state == "live":
        return ("↻ Syncing…", _BLUE) if busy else ("● Live", _GREEN)
    if status.state == "connecting":
        return "○ Connecting…", _GREY
    if status.state == "backoff":
        return "○ Server unreachable, retrying", _ORANGE
    return "○ Offline", _GREY


class SyncIndicator(QWidget):
    """``● Live · All changes synced · [⚠ 1 conflict]`` -- for a ``QStatusBar``.

    ``conflicts_clicked`` is emitted when the person clicks the conflict badge.
    """

    conflicts_clicked = Signal()
    refreshed = Signal()

    def __init__(self, client: atoma.Client, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._client = client
        self.state_text = ""  # what the state label says, as plain text
        self.state_label = QLabel()
        self.pending_label = QLabel()
        self.conflict_badge = QPushButton()
        self.conflict_badge.setToolTip("Changes made on two devices to the same task: click to decide")
        self.conflict_badge.setStyleSheet(
            f"QPushButton {{ background: #fffaf0; color: {_ORANGE}; border: 1px solid {_ORANGE}; "
            "border-radius: 9px; padding: 1px 10px; font-weight: bold; }"
            "QPushButton:hover { background: #feebc8; }"
        )
        self.conflict_badge.clicked.connect(self.conflicts_clicked)
        self.conflict_badge.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(12)
        layout.addWidget(self.state_label)
        layout.addWidget(self.pending_label)
        layout.addWidget(self.conflict_badge)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        self._unsubscribe: Callable[[], None] | None = client.events.subscribe(lambda _event: self._timer.start(), _EVENTS)
        self.refresh()

    def schedule_refresh(self) -> None:
        """Look again soon (e.g. after "Work offline" was toggled)."""
        self._timer.start()

    def refresh(self) -> None:
        if not self._client.is_open:
            return
        sync = self._client.sync
        status = sync.status
        text, colour = describe(status, has_server=sync.enabled, working_offline=sync.offline)
        self.state_text = text
        self.state_label.setText(f"<span style='color:{colour}; font-weight:bold'>{text}</span>")
        waiting = status.pending + status.in_flight
        if waiting:
            parts = [f"{waiting} change{'s' if waiting != 1 else ''} to send"]
        elif status.conflicted:
            parts = ["A change waits for your decision"]  # a conflicted edit is not "synced"
        else:
            parts = ["All changes synced" if sync.enabled else "Saved"]
        if status.rejected:
            parts.append(f"<span style='color:#c53030'>{status.rejected} rejected (see Tools → Inspector)</span>")
        self.pending_label.setText(" · ".join(parts))
        n = status.conflicted
        self.conflict_badge.setText(f"⚠ {n} conflict{'s' if n != 1 else ''}")
        self.conflict_badge.setVisible(n > 0)
        self.refreshed.emit()

    def shutdown(self) -> None:
        """Stop listening to the client (before it closes)."""
        self._timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
