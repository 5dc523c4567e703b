"""The per-process notification hub: one waiter feeds every subscribe stream of the process.

The adapter delivers each committed change set ``(resources, cursor)`` once (in-process for
SQLite, from a single LISTEN connection for PostgreSQL); :meth:`Hub.publish` hands it to the
subscriptions that follow any of those resources. A subscription accumulates what it has not
sent yet, so a burst of writes becomes one frame (the union of resources, the newest cursor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

__all__ = ["Hub", "Subscription"]


class Subscription:
    """What one stream has not sent yet, and an event that is set when that changes."""

    __slots__ = ("resources", "pending", "cursor", "changed", "closed")

    def __init__(self, resources: frozenset[str] | None) -> None:
        self.resources = resources  # None: every resource
        self.pending: set[str] = set()
        self.cursor = 0
        self.changed = asyncio.Event()
        self.closed = False

    def offer(self, resources: Iterable[str], cursor: int) -> None:
        """Add the followed ones among ``resources`` (changed up to ``cursor``)."""
        wanted = [r for r in resources if self.resources is None or r in self.resources]
        if wanted:
            self.pending.update(wanted)
            self.cursor = max(self.cursor, cursor)
            self.changed.set()

    def take(self) -> tuple[list[str], int]:
        """The pending resources (sorted) and cursor; clears them."""
        out = sorted(self.pending)
        self.pending.clear()
        self.changed.clear()
        return out, self.cursor

    def close(self) -> None:
        """End the stream that owns this subscription."""
        self.closed = True
        self.changed.set()


class Hub:
    """Fans change notifications out to the subscriptions of this process."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self.published = 0

    def subscribe(self, resources: Sequence[str] | None) -> Subscription:
        sub = Subscription(None if resources is None else frozenset(resources))
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, resources: Sequence[str], cursor: int) -> None:
        """Called on the event loop for every committed change set."""
        self.published += 1
        for sub in self._subs:
            sub.offer(resources, cursor)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        for sub in list(self._subs):
            sub.close()

    def __len__(self) -> int:
        return len(self._subs)
