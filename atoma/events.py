"""Typed client events and the bus that delivers them.

Events are msgspec Structs tagged by ``type`` (``store.changed``, ``outbox.enqueued``, ...),
so they serialise as they are for logs and the inspector. Emitting costs nothing when
nobody listens: producers ask :meth:`EventBus.wants` before building an event.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Iterable, Literal

import msgspec

__all__ = [
    "Event",
    "StoreChanged",
    "OutboxEnqueued",
    "PushStarted",
    "PushAcked",
    "PushRejected",
    "SyncRebase",
    "SyncConflict",
    "ConflictResolved",
    "PullApplied",
    "SubscribeConnected",
    "SubscribeNotified",
    "SubscribeLost",
    "SyncBackoff",
    "SyncResync",
    "SyncStatusChanged",
    "EventBus",
    "EventLog",
    "Origin",
]

log = logging.getLogger("atoma.events")

Origin = Literal["local", "sync", "history"]


class Event(msgspec.Struct, tag_field="type", kw_only=True, frozen=True, gc=False):
    """Base of every event; ``at_ms`` is the client's clock when it was emitted.

    ``gc=False`` (inherited): events are immutable data that never refer back to anything
    holding them, so they cannot form a cycle; untracked, the thousands an inspector or an
    event log keeps alive cost the cyclic garbage collector nothing.
    """

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


class PushStarted(Event, tag="push.started", frozen=True):
    """A push request is about to be sent with these intents (now ``in_flight``)."""

    seqs: tuple[int, ...]
    attempt: int = 1


class PushAcked(Event, tag="push.acked", frozen=True):
    """The server applied these intents; ``versions`` are the new versions, same order."""

    resource: str
    entity_ids: tuple[str, ...]
    seqs: tuple[int, ...]
    versions: tuple[int, ...]
    replayed: tuple[int, ...] = ()


class PushRejected(Event, tag="push.rejected", frozen=True):
    """The server refused an intent for good; it stays in the outbox as ``rejected``."""

    resource: str
    entity_id: str
    seq: int
    error: dict[str, Any]


class SyncRebase(Event, tag="sync.rebase", frozen=True):
    """Later intents of an entity were moved onto a new server version."""

    resource: str
    entity_id: str
    seqs: tuple[int, ...]
    base_version: int


class SyncConflict(Event, tag="sync.conflict", frozen=True):
    """An intent met a newer server version (``detected`` at push or, early, at pull time).

    ``strategy`` is the one that applies; the three copies are ``base`` (at ``base_version``),
    ``local`` and ``server`` (at ``server_version``; ``None`` = deleted). ``conflict_id`` is
    the inbox record (``client.sync.conflicts.get(conflict_id)``).
    """

    resource: str
    entity_id: str
    seq: int
    strategy: str
    local: dict[str, Any] | None
    server: dict[str, Any] | None
    server_version: int
    conflict_id: int = 0
    base: dict[str, Any] | None = None
    base_version: int = 0
    idempotency_key: str = ""
    detected: str = "push"


class ConflictResolved(Event, tag="conflict.resolved", frozen=True):
    """A conflict was resolved: ``resolution`` (keep_local, take_server, merged) and ``by``
    whom (strategy, code or user)."""

    conflict_id: int
    resource: str
    entity_id: str
    resolution: str
    by: str


class PullApplied(Event, tag="pull.applied", frozen=True):
    """A page of the change feed was applied and the cursor moved to ``cursor``."""

    cursor: int
    changes: int
    applied: int
    resources: tuple[str, ...] = ()


class SubscribeConnected(Event, tag="subscribe.connected", frozen=True):
    """The subscribe stream is open (``last_event_id`` was sent, if any)."""

    last_event_id: str | None = None


class SubscribeNotified(Event, tag="subscribe.notified", frozen=True):
    """The server announced changes up to ``cursor``; a pull follows (debounced)."""

    resources: tuple[str, ...]
    cursor: int


class SubscribeLost(Event, tag="subscribe.lost", frozen=True):
    """The subscribe stream ended or went silent; ``reason`` says how."""

    reason: str


class SyncBackoff(Event, tag="sync.backoff", frozen=True):
    """A lane failed and waits ``delay_s`` before retrying (sooner on a write or ``push()``)."""

    lane: str
    delay_s: float
    attempt: int
    error: dict[str, Any] | None = None


class SyncResync(Event, tag="sync.resync", frozen=True):
    """The server's history was trimmed past the cursor: resources were rebuilt from a snapshot."""

    resources: tuple[str, ...]
    min_cursor: int
    entities: int = 0


class SyncStatusChanged(Event, tag="sync.status", frozen=True):
    """``client.sync.status`` changed; ``status`` is the new snapshot (a ``SyncStatus``)."""

    status: Any


Callback = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out of events to subscribers, optionally filtered by type.

    A subscriber that raises is logged and does not stop delivery to the others (the
    change that caused the event is already committed).
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self._subs: list[tuple[Callback, frozenset[str] | None]] = []
        self._clock = clock
        # Derived from _subs on every (un)subscribe, so the write path does one dict lookup:
        # the callbacks per type, and whether anyone listens to everything.
        self._routes: dict[str, tuple[Callback, ...]] = {}
        self._wild: tuple[Callback, ...] = ()

    def _rebuild(self) -> None:
        self._wild = tuple(cb for cb, t in self._subs if t is None)
        routes: dict[str, list[Callback]] = {}
        for cb, types in self._subs:
            for tag in types or ():
                routes.setdefault(tag, [])
        # Keep subscription order per type (wildcard and typed subscribers interleaved).
        for tag, cbs in routes.items():
            cbs.extend(cb for cb, t in self._subs if t is None or tag in t)
        self._routes = {tag: tuple(cbs) for tag, cbs in routes.items()}

    def subscribe(self, callback: Callback, types: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``callback(event)`` for each event (of ``types`` only, if given). Returns an unsubscribe function."""
        entry = (callback, frozenset(types) if types is not None else None)
        self._subs = [*self._subs, entry]
        self._rebuild()

        def unsubscribe() -> None:
            self._subs = [s for s in self._subs if s is not entry]
            self._rebuild()

        return unsubscribe

    def wants(self, type_: str) -> bool:
        """Whether anyone listens to events of this type (build the event only then)."""
        return bool(self._wild) or type_ in self._routes

    def emit(self, event: Event) -> None:
        type_ = event.__struct_config__.tag
        callbacks = self._routes.get(type_, self._wild)  # a snapshot: (un)subscribe rebuilds
        if not callbacks:
            return
        if self._clock is not None and not event.at_ms:
            event = msgspec.structs.replace(event, at_ms=self._clock())
        for callback in callbacks:
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
