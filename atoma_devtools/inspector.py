"""The inspector window: a sidebar of panels over one client, refreshed live but cheaply.

Live updates without slowing the app: the inspector subscribes once to ``client.events``,
and only to the event types its panels need. Inside the app's write path an event costs one
append to a bounded queue (and, for the first event of a burst, arming one single-shot
timer) -- nothing else. When the timer fires the queue is drained in one batch: panels whose
``event_types`` occur become dirty, panels that keep logs get their events as a list, and
only the *visible* panel refreshes (others catch up when shown).

The timer is leading-edge with a throttle: after a quiet spell the first event is shown
``refresh_ms`` later (a click in the app appears at once), but while events keep coming
refreshes are at least ``steady_ms`` apart, and at least ``BUDGET_FACTOR`` times the last
refresh's duration (re-reading *and* repainting) -- so under a sustained stream refreshing
takes about 1 % of the GUI thread, whatever the app does.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QListWidgetItem, QMainWindow, QSplitter, QStackedWidget, QWidget

from .panels import ALL_PANELS, Context, Panel

__all__ = ["Inspector", "open_inspector", "default_settings"]

ORGANIZATION = "Atoma"
APPLICATION = "Inspector"
BUDGET_FACTOR = 99  # under a sustained stream refreshing takes at most ~1 % of the GUI thread
_MAX_INTERVAL_MS = 5000
# Events waiting for the next drain. Far more than arrive between two refreshes at 1,000
# writes/s; past it the oldest are dropped and every panel is re-read instead.
QUEUE_MAXLEN = 20_000


def known_event_types() -> frozenset[str]:
    """Tags of every event class defined so far (atoma core, history, atoma.qt, ...)."""
    from atoma.events import Event

    tags: set[str] = set()
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = getattr(cls.__struct_config__, "tag", None)
        if isinstance(tag, str):
            tags.add(tag)
    return frozenset(tags)


def default_settings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


class _Relay(QObject):
    """Arms the refresh timer from another thread (queued connection to the GUI thread)."""

    arm = Signal()


class _Tap:
    """The inspector's subscriber: what runs inside the app's write path, per event.

    One deque append and a counter; the first event after a drain also arms the timer
    (through ``arm``). Everything else happens later, in :meth:`Inspector.flush`, per batch.
    """

    __slots__ = ("queue", "count", "armed", "arm")

    def __init__(self, arm: Any) -> None:
        self.queue: deque[Any] = deque(maxlen=QUEUE_MAXLEN)
        self.count = 0
        self.armed = False
        self.arm = arm

    def __call__(self, event: Any) -> None:
        self.queue.append(event)
        self.count += 1
        if not self.armed:
            self.armed = True
            self.arm()


class Inspector(QMainWindow):
    """``Inspector(client)``: Stores, Indexes, Outbox, Sync, Conflicts, History, Remote cache, Events.

    ``cache`` is the remote-query cache to show (default: the one :mod:`atoma.qt` attached
    to the client, if any); ``settings`` where layout, filters and splitters are remembered
    (default ``QSettings("Atoma", "Inspector")``); ``readonly`` disables every action that
    writes (used by ``python -m atoma_devtools``); ``refresh_ms`` the coalescing delay after
    a quiet spell and ``steady_ms`` the least time between refreshes while events keep coming.
    """

    # Read by event(), which Qt may call before __init__ has set the instance attribute.
    _paint_pending = False

    def __init__(
        self,
        client: Any,
        *,
        cache: Any = None,
        readonly: bool = False,
        settings: QSettings | None = None,
        refresh_ms: int = 200,
        steady_ms: int = 1000,
        panels: Sequence[type[Panel]] = ALL_PANELS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._unsubscribe: Any = None
        self._closed = False
        self.client = client
        self.settings = settings if settings is not None else default_settings()
        self.refresh_ms = refresh_ms  # the coalescing delay after a quiet spell
        self.steady_ms = max(steady_ms, refresh_ms)  # the least gap between refreshes under a stream
        self.ctx = Context(client, readonly=readonly, cache=cache, parent=self)
        self.setWindowTitle(f"Atoma Inspector — {client.path}" + (" (read-only)" if readonly else ""))
        self.resize(1100, 700)

        self.sidebar = QListWidget()
        self.sidebar.setMinimumWidth(230)
        self.sidebar.setMaximumWidth(320)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setSpacing(2)
        self.stack = QStackedWidget()
        self.panels: list[Panel] = []
        for cls in panels:
            p = cls(self.ctx)
            self.panels.append(p)
            self.stack.addWidget(p)
            QListWidgetItem(p.title, self.sidebar)
        self.sidebar.currentRowChanged.connect(self._on_panel_changed)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 860])
        self.setCentralWidget(self.splitter)

        self.mode_label = QLabel(("READ-ONLY · " if readonly else "") + str(client.path))
        self.statusBar().addPermanentWidget(self.mode_label)
        self.ctx.message.connect(self._on_message)
        self.ctx.subscriptions_changed.connect(self._subscribe)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.flush)
        self._gap_s = 0.0  # the least time from the last refresh to the next (throttle)
        self._last_refresh = 0.0
        self._last_cost_s = 0.0
        self._paint_pending = False
        self.refreshes = 0
        self.refresh_seconds = 0.0  # time spent refreshing panels *and* draining events
        self.dropped = 0
        self._drained = 0
        self._types: frozenset[str] | None = None
        self._relay = _Relay(self)
        self._relay.arm.connect(self._arm, Qt.ConnectionType.QueuedConnection)
        self._gui_ident = threading.get_ident()
        self._tap = _Tap(self._arm_any_thread)
        self._subscribe()

        self.restore_settings()
        if self.sidebar.currentRow() < 0:
            self.sidebar.setCurrentRow(0)
        # Every badge counted once at opening (a rejected intent shows before any event).
        for p in self.panels:
            if p is not self.current_panel:
                p.do_update_badge()
        self._update_badges()

    # -- panels ------------------------------------------------------------------------------

    def panel(self, key: str | type[Panel]) -> Panel:
        """The panel with this title (``"Outbox"``) or class."""
        for p in self.panels:
            if p.title == key or type(p) is key:
                return p
        raise KeyError(key)

    def show_panel(self, key: str | type[Panel]) -> Panel:
        p = self.panel(key)
        self.sidebar.setCurrentRow(self.panels.index(p))
        return p

    @property
    def current_panel(self) -> Panel:
        return self.panels[max(self.sidebar.currentRow(), 0)]

    def _on_panel_changed(self, row: int) -> None:
        if 0 <= row < len(self.panels):
            self.stack.setCurrentIndex(row)
            p = self.panels[row]
            tap = getattr(self, "_tap", None)
            if tap is not None and tap.queue:
                self.drain()
            if p.dirty:
                self._refresh(p)

    def wanted_event_types(self) -> frozenset[str]:
        """The event types the panels need right now (the Events panel, while recording,
        needs all of them; a paused timeline lets the app skip building the others)."""
        everything = known_event_types()
        types: set[str] = set()
        for p in self.panels:
            want = p.wanted_types()
            if want is None:
                return everything
            types |= want
        return frozenset(types)

    def _subscribe(self) -> None:
        """(Re)subscribe to the client's events, to exactly the types the panels need."""
        if self._closed:
            return
        types = self.wanted_event_types()
        if types == self._types:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = self.client.events.subscribe(self._tap, types)
        self._types = types

    @property
    def subscribed_types(self) -> frozenset[str]:
        return self._types or frozenset()

    # -- live updates ---------------------------------------------------------------------------

    @property
    def events_seen(self) -> int:
        return self._tap.count

    def _arm_any_thread(self) -> None:
        # Runs in the app's write path, once per burst.
        if threading.get_ident() == self._gui_ident:
            self._arm()
        else:
            self._relay.arm.emit()

    def _delay_ms(self) -> int:
        """How long to wait before the next refresh: ``refresh_ms`` to coalesce a burst, more
        if the last refresh was too recent for the throttle."""
        wait = self._last_refresh + self._gap_s - time.monotonic()
        return max(self.refresh_ms, int(wait * 1000))

    def _arm(self) -> None:
        if not self._closed and not self.timer.isActive():
            self.timer.start(self._delay_ms())

    def drain(self) -> None:
        """Hand the queued events to the panels, in one batch (called by :meth:`flush`)."""
        tap = self._tap
        tap.armed = False
        batch, tap.queue = tap.queue, deque(maxlen=QUEUE_MAXLEN)
        count = tap.count
        arrived, self._drained = count - self._drained, count
        lost = arrived - len(batch)
        if lost > 0:
            self.dropped += lost
            for p in self.panels:
                p.dirty = True
        if not batch:
            return
        events = list(batch)
        tags = {e.__struct_config__.tag for e in events}
        for p in self.panels:
            types = p.event_types
            if types is None:
                p.dirty = True
                p.take_events(events, lost)
            elif not types.isdisjoint(tags):
                p.dirty = True
                if p.listens:
                    p.take_events([e for e in events if e.__struct_config__.tag in types], lost)

    def mark_all_dirty(self) -> None:
        """Everything may have changed (e.g. another process wrote the database)."""
        for p in self.panels:
            p.dirty = True
        if not self._closed and not self.timer.isActive():
            self.timer.start(self._delay_ms())

    def flush(self) -> None:
        """Drain the queued events and refresh the visible panel if it is stale (the
        coalesced timer calls this)."""
        t0 = time.perf_counter()
        self.drain()
        self.refresh_seconds += time.perf_counter() - t0
        p = self.current_panel
        if p.dirty and p.isVisible():
            self._refresh(p)
        # A hidden window does no more work; showing a panel refreshes it. Stale panels
        # that are not shown only recount what their sidebar badge says (charged to the
        # same budget as refreshes).
        if self.isVisible():
            t0 = time.perf_counter()
            # Only panels whose events came since their last count: a quiet one is current.
            stale = [q for q in self.panels if q is not p and q.badge_stale]
            for q in stale:
                q.do_update_badge()
            if stale:
                took = time.perf_counter() - t0
                self.refresh_seconds += took
                # Part of this round's cost: the repaint's re-spacing (event()) keeps it,
                # and the throttle spaces the next round from now, as after a refresh.
                self._last_cost_s = (self._last_cost_s if self._paint_pending else 0.0) + took
                self._last_refresh = time.monotonic()
                self._set_gap(self._last_cost_s)
        self._update_badges()

    def refresh_now(self) -> None:
        """Refresh every panel at once (tests, screenshots, the Refresh shortcut)."""
        self.drain()
        for p in self.panels:
            self._refresh(p)
        self._update_badges()

    def _refresh(self, p: Panel) -> None:
        t0 = time.perf_counter()
        p.do_refresh()
        took = time.perf_counter() - t0
        self.refreshes += 1
        self.refresh_seconds += took
        self._last_refresh = time.monotonic()
        self._last_cost_s = took
        self._paint_pending = p.isVisible()
        self._set_gap(took)

    def _set_gap(self, cost_s: float) -> None:
        self._gap_s = min(_MAX_INTERVAL_MS, max(self.steady_ms, cost_s * 1000 * BUDGET_FACTOR)) / 1000

    def event(self, e: QEvent) -> bool:
        if e.type() != QEvent.Type.UpdateRequest or not self._paint_pending:
            return super().event(e)
        # The repaint that follows a refresh (Python data() calls for every visible cell)
        # can cost more than the refresh itself: time it and count it in the throttle.
        self._paint_pending = False
        t0 = time.perf_counter()
        handled = super().event(e)
        took = time.perf_counter() - t0
        self.refresh_seconds += took
        self._set_gap(self._last_cost_s + took)
        return handled

    def _update_badges(self) -> None:
        for i, p in enumerate(self.panels):
            b = p.badge()
            text = f"{p.title}  ·  {b}" if b else p.title
            item = self.sidebar.item(i)
            if item is not None and item.text() != text:
                item.setText(text)

    def _on_message(self, text: str, error: bool) -> None:
        self.statusBar().showMessage(("✕ " if error else "✓ ") + text, 8000)

    # -- settings --------------------------------------------------------------------------------

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("window_state", self.saveState())
        s.setValue("splitter", self.splitter.saveState())
        s.setValue("panel", self.current_panel.title)
        for p in self.panels:
            s.setValue(f"panels/{p.title}", json.dumps(p.save_state()))
        s.sync()

    def restore_settings(self) -> None:
        s = self.settings
        for key, fn in (("geometry", self.restoreGeometry), ("window_state", self.restoreState), ("splitter", self.splitter.restoreState)):
            v = s.value(key)
            if isinstance(v, (QByteArray, bytes)):
                fn(QByteArray(v))
        for p in self.panels:
            raw = s.value(f"panels/{p.title}")
            if isinstance(raw, str) and raw:
                try:
                    state = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(state, dict):
                    p.restore_state(state)
        title = s.value("panel")
        if isinstance(title, str):
            for i, p in enumerate(self.panels):
                if p.title == title:
                    self.sidebar.setCurrentRow(i)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop listening to the client (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for p in self.panels:
            p.close_panel()


def open_inspector(client: Any, **kwargs: Any) -> Inspector:
    """Create and show an :class:`Inspector` for ``client``; it stays alive until closed."""
    win = Inspector(client, **kwargs)
    win.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    app = QApplication.instance()
    # Keep the window alive even if the caller drops the reference (state on the app object,
    # not in this module); forget it when it is closed.
    if app is not None:
        keep: list[Inspector] = getattr(app, "_atoma_inspectors", None) or []
        keep.append(win)
        app._atoma_inspectors = keep  # type: ignore[attr-defined]
        win.destroyed.connect(lambda *_: keep.remove(win) if win in keep else None)
    win.show()
    return win
