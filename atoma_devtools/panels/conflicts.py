"""Conflicts: the conflict inbox; opening one shows the conflict dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from atoma.conflicts import Conflict

from .._format import fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["ConflictsPanel"]


def conflict_row(c: Conflict) -> Row:
    if c.local_deleted or c.server_deleted:
        fields = "deleted by you" if c.local_deleted else "deleted on the server"
    else:
        fields = ", ".join(c.merge().conflicts) or "(none overlap)"
    return Row(
        c.id,
        [c.id, c.resource, c.entity_id, c.state, fields, f"v{c.base_version} → v{c.server_version}", c.strategy, fmt_ms(c.detected_at_ms), c.resolution],
        c,
        status=c.state,
        meta={
            "intent seq": c.seq,
            "idempotency key": c.idempotency_key,
            "strategy": c.strategy,
            "detected": fmt_ms(c.detected_at_ms),
            "resolved": fmt_ms(c.resolved_at_ms),
            "resolution": c.resolution,
            "resolved by": c.resolved_by,
        },
        diff=(c.local, c.server),
        diff_labels=("mine", "server"),
    )


class ConflictsPanel(Panel):
    title = "Conflicts"
    event_types = frozenset({"sync.conflict", "conflict.resolved", "pull.applied", "push.acked"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.md = MasterDetail(
            ["id", "resource", "entity", "state", "conflicting fields", "versions", "strategy", "detected", "resolution"],
            status_column=3,
            statuses=("open", "resolved"),
        )
        self.open_button = self.md.add_action(
            "Resolve…", lambda rows: self.open_dialog(rows[0].data), enabled=lambda rows: len(rows) == 1,
            tooltip="Open the conflict dialog (base / mine / server, field by field)",
        )
        self.md.activated.connect(lambda row: self.open_dialog(row.data))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.notice)
        lay.addWidget(self.md)
        self.notice.hide()
        self.dialogs: list[Any] = []
        self._open = 0

    def refresh(self) -> None:
        conflicts = self.client.sync.conflicts.list()
        self._open = sum(1 for c in conflicts if c.state == "open")
        self.md.set_rows([conflict_row(c) for c in conflicts])
        if not conflicts:
            self.notice.setText("✓ No conflicts. Conflicts this client meets are listed here, open ones first to decide.")
            self.notice.show()
        else:
            self.notice.hide()

    def open_dialog(self, conflict: Conflict) -> Any:
        """Open the :class:`~atoma_devtools.ConflictDialog` for ``conflict`` (re-read from the
        inbox: the list may be a refresh behind); returns the dialog."""
        from ..conflict_dialog import ConflictDialog

        conflict = self.client.sync.conflicts.get(conflict.id) or conflict
        dlg = ConflictDialog(self.client, conflict, self, readonly=self.ctx.readonly)
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [dlg]
        dlg.finished.connect(lambda *_: self.do_refresh())
        dlg.open()
        return dlg

    def update_badge(self) -> None:
        self._open = self.client.sync.conflicts.count("open")

    def badge(self) -> str:
        return f"{self._open} open" if self._open else ""
