"""Typed client events and the bus that delivers them.

Events are msgspec Structs tagged by ``type`` (``store.changed``, ``outbox.enqueued``, ...),
so they serialise as they are for logs and the inspector. Emitting costs nothing when
nobody listens: producers ask :meth:`EventBus.wants` before building an event.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Callable, Iterable, Literal

import msgspec

__all__ = [
    "Event",
    "StoreChanged",
    "OutboxEnqueued",
    "EventBus",
    "EventLog",
    "Origin",
]

log = logging.getLogger("atoma.events")

Origin = Literal["local", "sync", "history"]


class Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True):
    """Base of every event; ``at_ms`` is the client's clock when it was emitted."""

    at_ms: int = 0


class StoreChanged(Event, tag="store.changed", frozen=True):
    """Entities of one resource changed. ``origin`` says who changed them."""

    resource: str
    ids: tuple[str, ...]
    origin: Origin = "local"
    deleted: tuple[str, ...] = ()


class OutboxEnqueued(Event, tag="outbox.enqueued", frozen=True):
    """Intents were appended to the outbox, in the same transaction as their entity changes."""

    resource: str
    entity_ids: tuple[str, ...]
    seqs: tuple[int, ...]
    action: str


Callback = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out of events to subscribers, optionally filtered by type.

    A subscriber that raises is logged and does not stop delivery to the others (the
    change that caused the event is already committed).
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self._subs: list[tuple[Callback, frozenset[str] | None]] = []
        self._clock = clock

    def subscribe(self, callback: Callback, types: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for each event (of ``types`` only, if given). Returns an unsubscribe function."""
        entry = (callback, frozenset(types) if types is not None else None)
        self._subs = [*self._subs, entry]

        def unsubscribe() -> None:
            self._subs = [s for s in self._subs if s is not entry]

        return unsubscribe

    def wants(self, type_: str) -> bool:
        """Whether anyone listens to events of this type (build the event only then)."""
        return any(t is None or type_ in t for _, t in self._subs)

    def emit(self, event: Event) -> None:
        if self._clock is not None and not event.at_ms:
            event = msgspec.structs.replace(event, at_ms=self._clock())
        type_ = event.__struct_config__.tag
        for callback, types in self._subs:  # a snapshot: subscribe/unsubscribe replace the list
            if types is None or type_ in types:
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - a listener must not break the emitter
                    log.exception("event listener %r failed on %s", callback, type_)


class EventLog:
    """A bounded ring buffer of events, for inspectors and diagnostics."""

    def __init__(self, bus: EventBus, maxlen: int = 2000, types: Iterable[str] | None = None) -> None:
        self.events: deque[Event] = deque(maxlen=maxlen)
        self.paused = False
        self._unsubscribe = bus.subscribe(self._on_event, types)

    def _on_event(self, event: Event) -> None:
        if not self.paused:
            self.events.append(event)

    def clear(self) -> None:
        self.events.clear()

    def close(self) -> None:
        self._unsubscribe()

    def to_json(self) -> bytes:
        return msgspec.json.encode(list(self.events))
