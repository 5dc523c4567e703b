"""Client events as Qt signals on the receiver's thread, and lifetimes tied to QObjects.

Each live object subscribes to ``client.events`` through a small relay QObject that is its
child: the bus callback emits the relay's signal, so a store change made on another thread is
queued to the receiver's (GUI) thread, and one made on the GUI thread is delivered at once.
Everything a live object holds on a client (subscriptions, scheduled calls, fetch tasks) is
registered in its :class:`Lifetime`, which is closed when the object is destroyed by Qt or
collected by Python -- so a destroyed object stops listening and cancels its interest.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["Lifetime", "lifetime", "subscribe", "running_loop"]


class Lifetime:
    """Cleanups to run once when a Qt object goes away (idempotent :meth:`close`)."""

    __slots__ = ("_closers", "closed", "__weakref__")

    def __init__(self) -> None:
        self._closers: list[Callable[[], Any]] = []
        self.closed = False

    def add(self, closer: Callable[[], Any]) -> None:
        if self.closed:
            closer()
        else:
            self._closers.append(closer)

    def task(self, task: "asyncio.Future[Any]") -> "asyncio.Future[Any]":
        """Cancel ``task`` when the object goes away (forgotten once it is done)."""
        self.add(task.cancel)
        task.add_done_callback(lambda t: self._forget(t.cancel))
        return task

    def _forget(self, closer: Callable[[], Any]) -> None:
        try:
            self._closers.remove(closer)
        except ValueError:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        closers, self._closers = self._closers, []
        for c in reversed(closers):
            c()


def lifetime(owner: QObject) -> Lifetime:
    """A :class:`Lifetime` closed when ``owner`` is destroyed (by Qt) or collected (by Python)."""
    life = Lifetime()
    owner.destroyed.connect(lambda *_: life.close())
    weakref.finalize(owner, life.close)
    return life


class _Relay(QObject):
    event = Signal(object)


def subscribe(client: "Client", owner: QObject, life: Lifetime, types: Iterable[str], slot: Callable[[Any], None]) -> None:
    """Deliver events of ``types`` to ``slot`` (a method of ``owner``) on ``owner``'s thread,
    for as long as ``life`` is open."""
    relay = _Relay(owner)
    relay.event.connect(slot)

    def deliver(event: Any) -> None:
        if shiboken6.isValid(relay):
            relay.event.emit(event)

    life.add(client.events.subscribe(deliver, list(types)))


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop (qasync's, in a Qt app), or ``None``."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
