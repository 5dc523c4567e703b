"""The inspector window: a sidebar of panels over one client, refreshed live but cheaply.

Live updates without slowing the app: the inspector subscribes once to ``client.events``;
an event only marks the panels that care as dirty and starts a single-shot timer. When it
fires, only the *visible* panel refreshes (others catch up when shown). The next refresh is
spaced by at least nineteen times the last one's duration, so refreshing never takes more
than about 5 % of the GUI thread however fast the app writes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QListWidgetItem, QMainWindow, QSplitter, QStackedWidget, QWidget

from .panels import ALL_PANELS, Context, Panel

__all__ = ["Inspector", "open_inspector", "default_settings"]

ORGANIZATION = "Atoma"
APPLICATION = "Inspector"
_BUDGET_FACTOR = 19  # refreshing takes at most ~1/(1+19) = 5 % of the GUI thread
_MAX_INTERVAL_MS = 3000
# Events whose *production* costs the app work (history.changed: two queries per write, made
# only when someone listens). The inspector does not ask for them unless the Events panel's
# "Record history.changed" is on; the History panel refreshes on store.changed instead.
EXPENSIVE_EVENTS = frozenset({"history.changed"})


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
    """Carries events emitted on another thread to the GUI thread (queued connection)."""

    event = Signal(object)


class Inspector(QMainWindow):
    """``Inspector(client)``: Stores, Indexes, Outbox, Sync, Conflicts, History, Remote cache, Events.

    ``cache`` is the remote-query cache to show (default: the one :mod:`atoma.qt` attached
    to the client, if any); ``settings`` where layout, filters and splitters are remembered
    (default ``QSettings("Atoma", "Inspector")``); ``readonly`` disables every action that
    writes (used by ``python -m atoma_devtools``); ``refresh_ms`` the coalescing delay.
    """

    def __init__(
        self,
        client: Any,
        *,
        cache: Any = None,
        readonly: bool = False,
        settings: QSettings | None = None,
        refresh_ms: int = 200,
        panels: Sequence[type[Panel]] = ALL_PANELS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._unsubscribe: Any = None
        self._with_expensive: bool | None = None
        self._closed = False
        self.client = client
        self.settings = settings if settings is not None else default_settings()
        self.refresh_ms = refresh_ms  # the coalescing delay (the minimum between refreshes)
        self.ctx = Context(client, readonly=readonly, cache=cache, parent=self)
        self.setWindowTitle(f"Atoma Inspector — {client.path}" + (" (read-only)" if readonly else ""))
        self.resize(1100, 700)

        self.sidebar = QListWidget()
        self.sidebar.setMinimumWidth(190)
        self.sidebar.setMaximumWidth(300)
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
        self.splitter.setSizes([200, 900])
        self.setCentralWidget(self.splitter)

        self.mode_label = QLabel(("READ-ONLY · " if readonly else "") + str(client.path))
        self.statusBar().addPermanentWidget(self.mode_label)
        self.ctx.message.connect(self._on_message)
        self.ctx.expensive_events.connect(lambda on: self._subscribe(expensive=on))

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.flush)
        self._interval = refresh_ms
        self._pending = False
        self._routes: dict[str, tuple[list[Panel], list[Any]]] = {}
        self._listeners = [p for p in self.panels if type(p).on_event is not Panel.on_event]
        self.events_seen = 0
        self.refreshes = 0
        self.refresh_seconds = 0.0
        self._relay = _Relay(self)
        self._relay.event.connect(self._mark)
        self._gui_ident = threading.get_ident()
        self._subscribe(expensive=False)

        self.restore_settings()
        if self.sidebar.currentRow() < 0:
            self.sidebar.setCurrentRow(0)
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
            if p.dirty:
                self._refresh(p)

    def _subscribe(self, *, expensive: bool) -> None:
        """(Re)subscribe to the client's events, with or without the expensive types."""
        if self._closed or expensive == self._with_expensive or not hasattr(self, "_gui_ident"):
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        types = known_event_types()
        if not expensive:
            types -= EXPENSIVE_EVENTS
        self._unsubscribe = self.client.events.subscribe(self._on_event, types)
        self._with_expensive = expensive

    # -- live updates ---------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        # Must stay cheap: this runs inside the app's write path.
        if threading.get_ident() != self._gui_ident:
            self._relay.event.emit(event)
            return
        self._mark(event)

    def _mark(self, event: Any) -> None:
        self.events_seen += 1
        tag = event.__struct_config__.tag
        route = self._routes.get(tag)
        if route is None:
            panels = [p for p in self.panels if p.event_types is None or tag in p.event_types]
            route = self._routes[tag] = (panels, [p.on_event for p in self._listeners if p in panels])
        panels, listeners = route
        for p in panels:
            p.dirty = True
        for on_event in listeners:
            on_event(event)
        if panels and not self._pending and not self._closed:
            self._pending = True
            self.timer.start(self._interval)

    def mark_all_dirty(self) -> None:
        """Everything may have changed (e.g. another process wrote the database)."""
        for p in self.panels:
            p.dirty = True
        if not self._pending and not self._closed:
            self._pending = True
            self.timer.start(self._interval)

    def flush(self) -> None:
        """Refresh the visible panel if it is stale (the coalesced timer calls this)."""
        self._pending = False
        p = self.current_panel
        if p.dirty and p.isVisible():
            self._refresh(p)
        elif p.dirty and not self.isVisible():
            pass  # a hidden window does no work; showing a panel refreshes it
        self._update_badges()

    def refresh_now(self) -> None:
        """Refresh every panel at once (tests, screenshots, the Refresh shortcut)."""
        for p in self.panels:
            self._refresh(p)
        self._update_badges()

    def _refresh(self, p: Panel) -> None:
        t0 = time.perf_counter()
        p.do_refresh()
        took = time.perf_counter() - t0
        self.refreshes += 1
        self.refresh_seconds += took
        self._interval = int(min(_MAX_INTERVAL_MS, max(self.refresh_ms, took * 1000 * _BUDGET_FACTOR)))

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
