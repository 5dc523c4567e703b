"""Outbox: intents in order with state, attempts, next retry, last error and payload;
retry / discard of rejected intents; pause and resume pushing."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from atoma.outbox import INTENT_STATES, Intent

from .._format import fmt_age, fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["OutboxPanel"]

# Enough to see what matters; an outbox of 100,000 intents is summarised by the chip counts.
PER_STATE_LIMIT = 200


def intent_row(it: Intent, now_ms: int) -> Row:
    err = it.last_error or {}
    error_text = f"{err.get('code')}: {err.get('message')}" if err else None
    retry = None
    if it.next_attempt_at_ms:
        retry = fmt_age(it.next_attempt_at_ms, now_ms)
    return Row(
        it.seq,
        [it.seq, it.state, it.action, it.resource, it.entity_id, it.attempts, retry, error_text],
        it,
        status=it.state,
        meta={
            "seq": it.seq,
            "idempotency key": it.idempotency_key,
            "base version": it.base_version,
            "changed fields": ", ".join(it.changed) if it.changed else "(whole value)",
            "origin": it.origin,
            "created": fmt_ms(it.created_at_ms),
            "updated": fmt_ms(it.updated_at_ms),
            "next attempt": fmt_ms(it.next_attempt_at_ms),
            "last error": error_text,
        },
        diff=(it.base, it.value),
        diff_labels=("server base", "intended value"),
    )


class OutboxPanel(Panel):
    title = "Outbox"
    event_types = frozenset(
        {"outbox.enqueued", "push.started", "push.acked", "push.rejected", "sync.rebase", "sync.conflict", "sync.status", "store.changed", "conflict.resolved"}
    )

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.md = MasterDetail(
            ["seq", "state", "action", "resource", "entity", "attempts", "next retry", "last error"],
            status_column=1,
            statuses=INTENT_STATES,
        )
        writable = not ctx.readonly
        self.retry_button = self.md.add_action(
            "↻ Retry",
            self.retry,
            enabled=lambda rows: writable and bool(rows) and all(r.status == "rejected" for r in rows),
            tooltip="Send the selected rejected intents again (same idempotency key)",
        )
        self.discard_button = self.md.add_action(
            "✕ Discard",
            self.discard,
            enabled=lambda rows: writable and bool(rows) and all(r.status in ("rejected", "pending") for r in rows),
            tooltip="Drop the selected intents (and later edits of the same entity); the entity returns to the server's value",
        )
        can_pause = writable and self.client.sync.enabled
        self.pause_button = self.md.add_action(
            "‖ Pause pushing",
            lambda _rows: self.toggle_pause(),
            enabled=lambda _rows: can_pause,
            tooltip="Stop sending intents (they keep queueing locally; pulls go on)"
            if can_pause
            else "Read-only view" if not writable else "No server configured: nothing is pushed",
            checkable=True,
        )
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fffaf0; border: 1px solid #b7791f; border-radius: 4px; padding: 4px 6px; }")
        self.banner.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.md)
        self._counts: dict[str, int] = {}

    def refresh(self) -> None:
        outbox = self.client.outbox
        counts = outbox.counts()
        self._counts = counts
        intents: list[Intent] = []
        for state, n in counts.items():
            if n:
                intents += outbox.list(state=state, limit=PER_STATE_LIMIT)
        intents.sort(key=lambda i: i.seq)
        now = int(time.time() * 1000)
        self.md.set_rows([intent_row(i, now) for i in intents], counts=counts)
        self._show_paused()

    def _show_paused(self) -> None:
        sync = self.client.sync
        paused = sync.push_paused
        self.pause_button.setChecked(paused)
        self.pause_button.setText("▶ Resume pushing" if paused else "‖ Pause pushing")
        waiting = self._counts.get("pending", 0)
        if paused:
            self.banner.setText(f"‖ <b>Pushing is paused</b>: {waiting:,} intent{'s' if waiting != 1 else ''} wait here; pulls go on. "
                                "“Sync now” in the Sync panel still sends once.")
        elif sync.offline:
            self.banner.setText("✈ <b>Working offline</b>: nothing is sent or pulled until you go online (Sync panel).")
        self.banner.setVisible(paused or sync.offline)

    def retry(self, rows: list[Row]) -> None:
        for r in rows:
            self.ctx.run_sync(self.client.outbox.retry, f"retry intent {r.key}", r.key)
        self.do_refresh()

    def discard(self, rows: list[Row]) -> None:
        gone: set[int] = set()
        for r in rows:
            if r.key in gone:
                continue
            out = self.ctx.run_sync(self.client.outbox.discard, f"discard intent {r.key}", r.key)
            gone.update(out or ())
        self.do_refresh()

    def toggle_pause(self) -> None:
        """Pause pushing (``client.sync.pause_push()``) or resume it (``resume_push()``)."""
        self.set_push_paused(not self.client.sync.push_paused)

    def set_push_paused(self, paused: bool) -> None:
        sync = self.client.sync
        if paused:
            self.ctx.run_sync(sync.pause_push, "pause pushing")
        else:
            self.ctx.run_sync(sync.resume_push, "resume pushing")
        self.do_refresh()

    def update_badge(self) -> None:
        self._counts = self.client.outbox.counts()

    def badge(self) -> str:
        c = self._counts
        bad = c.get("rejected", 0)
        waiting = c.get("pending", 0) + c.get("in_flight", 0)
        parts = [f"✕ {bad}"] if bad else []
        if waiting:
            parts.append(f"{waiting:,} queued")
        if self.client.is_open and self.client.sync.push_paused:
            parts.append("‖ paused")
        return " · ".join(parts)
