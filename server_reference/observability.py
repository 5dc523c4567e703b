"""Structured events for every request, op and write item, and the sinks that receive them.

A sink is any object with ``emit(event)``. The default, :class:`LogSink`, writes one JSON line
per event to the ``server_reference.events`` logger (and costs almost nothing when that logger
is disabled); :class:`MemorySink` keeps the last events for tests and dashboards.
"""

from __future__ import annotations

import collections
import logging
from typing import Literal, Protocol

import msgspec

__all__ = ["Event", "EventKind", "Sink", "LogSink", "MemorySink", "NullSink"]

EventKind = Literal["request", "op", "item", "subscribe"]


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One observation. Fields that do not apply to a kind are left out of the JSON line.

    * ``kind``: ``request`` (an ops or subscribe HTTP request), ``op`` (one op), ``item`` (one
      write item) or ``subscribe`` (a stream that ended);
    * ``name``: the endpoint (``ops`` / ``subscribe``), the op kind or the write action;
    * ``path``: for writes, ``bulk`` (one transaction) or ``per_item`` (the fallback);
    * ``conflict`` / ``replay``: the item answered CONFLICT / was an idempotency replay;
    * ``error``: the StandardError code, if any; ``status``: the HTTP status of a request.
    """

    kind: EventKind
    name: str
    duration_ms: float = 0.0
    resource: str | None = None
    op_id: str | None = None
    entity_id: str | None = None
    path: str | None = None
    conflict: bool = False
    replay: bool = False
    error: str | None = None
    status: int | None = None
    count: int | None = None
    principal: str | None = None


class Sink(Protocol):
    """Receives events; must be fast and must not raise."""

    def emit(self, event: Event) -> None: ...


class LogSink:
    """Writes each event as a JSON line to a logger at INFO level."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("server_reference.events")
        self._encode = msgspec.json.Encoder().encode

    def emit(self, event: Event) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("%s", self._encode(event).decode())


class MemorySink:
    """Keeps the last ``maxlen`` events in memory (a bounded ring buffer)."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.events: collections.deque[Event] = collections.deque(maxlen=maxlen)

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: EventKind) -> list[Event]:
        """The kept events of one kind, oldest first."""
        return [e for e in self.events if e.kind == kind]


class NullSink:
    """Drops every event."""

    def emit(self, event: Event) -> None:
        pass
