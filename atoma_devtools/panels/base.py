"""What every panel shares: the inspector context and the panel base class.

A panel declares which event types make it stale (``event_types``); the inspector queues
events as they come and, on its coalescing timer, marks the panels whose types occurred as
dirty and refreshes the visible one. Panels that keep logs (Events, Sync, Remote cache)
receive the batch in :meth:`Panel.on_events`. Nothing a panel does runs inside the app's
write path.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from ..master_detail import MasterDetail

__all__ = ["Context", "Panel"]

log = logging.getLogger("atoma_devtools")


class Context(QObject):
    """What panels need from the inspector: the client, read-only mode, the remote cache
    (if any), a way to run coroutines on the app's loop and to report to the status bar."""

    message = Signal(str, bool)  # text, is_error
    subscriptions_changed = Signal()  # a panel needs other event types now (Panel.wanted_types)

    def __init__(self, client: Any, *, readonly: bool = False, cache: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.readonly = readonly
        self.cache = cache
        self._tasks: set[asyncio.Future[Any]] = set()

    def report(self, text: str, error: bool = False) -> None:
        (log.warning if error else log.info)("inspector: %s", text)
        self.message.emit(text, error)

    @property
    def can_run_async(self) -> bool:
        """Whether an asyncio loop (qasync's, in a Qt app) is available to run coroutines."""
        try:
            asyncio.get_running_loop()
            return True
        except RuntimeError:
            return False

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str, *, quiet: bool = False) -> asyncio.Future[Any] | None:
        """Run ``coro`` on the running loop; failures are reported, never silent (success
        too, unless ``quiet``: the coroutine reports it itself).

        A plain slot spawning a task is the pattern that works with qasync (``asyncSlot``
        fails on zero-argument signals under PySide6 6.12).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            self.report(f"{what}: no asyncio loop is running (start the app with qasync)", error=True)
            return None
        fut = asyncio.ensure_future(coro, loop=loop)
        self._tasks.add(fut)

        def done(f: asyncio.Future[Any]) -> None:
            self._tasks.discard(f)
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self.report(f"{what} failed: {exc}", error=True)
                if not isinstance(exc, Exception):
                    sys.excepthook(type(exc), exc, exc.__traceback__)
            elif not quiet:
                self.report(f"{what}: done")

        fut.add_done_callback(done)
        return fut

    def run_sync(self, fn: Any, what: str, *args: Any) -> Any:
        """Call ``fn(*args)``; report success or the error (as text) instead of raising."""
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001 - shown to the user of the inspector
            self.report(f"{what} failed: {exc}", error=True)
            return None
        self.report(f"{what}: done")
        return out


class Panel(QWidget):
    """Base of the inspector panels. Subclasses set ``title`` and ``event_types`` and
    implement :meth:`refresh`; ``self.md`` is their main :class:`MasterDetail`, if any."""

    title = "Panel"
    event_types: frozenset[str] | None = frozenset()  # None: every event makes it stale
    md: MasterDetail | None = None
    listens = False  # True: on_events() receives the batches of its event types

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.listens = cls.on_events is not Panel.on_events

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.client = ctx.client
        self.badge_stale = True  # its events came since the badge was last counted
        self.dirty = True
        self.refresh_count = 0

    @property
    def dirty(self) -> bool:
        """Whether what the panel shows may be out of date (refreshed when next shown)."""
        return self._dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self._dirty = value
        if value:
            self.badge_stale = True

    def refresh(self) -> None:
        """Re-read what the panel shows (called coalesced, while visible)."""

    def do_refresh(self) -> None:
        self.dirty = False
        self.badge_stale = False
        self.refresh_count += 1
        self._guarded(self.refresh, "refresh")

    def _guarded(self, step: Callable[[], None], what: str) -> None:
        """Run ``step`` if the client is open; a failure is logged and reported in the status
        bar, never raised: a panel bug must not take the app down."""
        if not self.client.is_open:
            return
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.exception("inspector panel %s: %s failed", self.title, what)
            self.ctx.report(f"{self.title}: {what} failed: {exc}", error=True)

    def on_events(self, events: list[Any], lost: int = 0) -> None:
        """The events of ``event_types`` since the last batch, oldest first (on the GUI
        thread, from the inspector's timer, never inside the app's write path). ``lost``
        counts events dropped because the queue overflowed in between."""

    def take_events(self, events: list[Any], lost: int = 0) -> None:
        """:meth:`on_events`, with a failure logged and reported instead of raised."""
        try:
            self.on_events(events, lost)
        except Exception as exc:  # noqa: BLE001 - a panel bug must not take the app down
            log.exception("inspector panel %s failed on events", self.title)
            self.ctx.report(f"{self.title}: failed on events: {exc}", error=True)

    def wanted_types(self) -> frozenset[str] | None:
        """The event types to subscribe to for this panel now (``None``: all)."""
        return self.event_types

    def badge(self) -> str:
        """A short status for the sidebar (e.g. ``"3 rejected"``); cheap."""
        return ""

    def update_badge(self) -> None:
        """Bring what :meth:`badge` shows up to date from cheap counts, without a full
        refresh: called for a stale panel that is not shown, so the sidebar still tells of a
        new rejected intent or conflict. The default (a badge that reads live state) does
        nothing."""

    def do_update_badge(self) -> None:
        """:meth:`update_badge`, with a failure logged and reported instead of raised."""
        self.badge_stale = False
        self._guarded(self.update_badge, "counting")

    def save_state(self) -> dict[str, Any]:
        return {"md": self.md.save_state()} if self.md is not None else {}

    def restore_state(self, state: dict[str, Any]) -> None:
        if self.md is not None and isinstance(state.get("md"), dict):
            self.md.restore_state(state["md"])

    def close_panel(self) -> None:
        """Release subscriptions (the inspector is closing)."""
