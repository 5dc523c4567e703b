"""The remote-query cache (``client.remote_cache``): bounded, expiring, with in-flight sharing.

Pure Python and asyncio, no Qt. One cache belongs to one client (there is no module-level
state). An entry is the answer of one remote query, keyed by :class:`CacheKey` (resource,
normalised params, mode ``"hydrate"`` or ``"transient"``):

* an entry is *fresh* for ``stale_time`` seconds after it was stored and is then dropped
  (expired); at most ``max_entries`` entries are kept, the least recently used goes first;
* :meth:`RemoteCache.load` answers from a fresh entry (a *hit*), or joins a request for the
  same key that is already in flight (*joined*), or starts one (a *miss*). A request is
  cancelled when every caller waiting on it was cancelled (a destroyed ``LiveOne`` gives up
  its interest); failures are shared by the callers waiting and never cached;
* events ``cache.hit``, ``cache.miss`` and ``cache.evicted`` are emitted on the client's bus.

The clock is injected (``time.monotonic`` by default) so expiry is tested with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal, NamedTuple

import msgspec

from .errors import ValidationError
from .events import Event, EventBus

__all__ = ["RemoteCache", "CacheKey", "CacheStats", "CacheEntry", "CacheHit", "CacheMiss", "CacheEvicted"]

Mode = Literal["hydrate", "transient"]


class CacheKey(NamedTuple):
    """What identifies a remote query: resource, normalised params (canonical JSON), mode."""

    resource: str
    params: str
    mode: str


class CacheHit(Event, tag="cache.hit", frozen=True):
    """A remote query was answered from a fresh cache entry (``age_s`` old); no request."""

    resource: str
    params: str
    mode: str
    age_s: float


class CacheMiss(Event, tag="cache.miss", frozen=True):
    """A remote query needs the server: ``reason`` is ``absent``, ``expired`` or ``refresh``."""

    resource: str
    params: str
    mode: str
    reason: str


class CacheEvicted(Event, tag="cache.evicted", frozen=True):
    """An entry left the cache: ``reason`` is ``lru`` (over the cap), ``expired``, ``removed``
    or ``cleared``."""

    resource: str
    params: str
    mode: str
    reason: str


class CacheStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters since the cache was made (or cleared): ``entries`` now held, ``hits`` (fresh
    entry), ``misses`` (a request was started), ``joined`` (shared a request in flight),
    ``evictions`` (over the cap), ``expired`` (older than ``stale_time``), ``in_flight`` now."""

    entries: int
    hits: int
    misses: int
    joined: int
    evictions: int
    expired: int
    in_flight: int


class CacheEntry(msgspec.Struct, frozen=True):
    """One cached answer and the clock reading when it was stored."""

    key: CacheKey
    value: Any
    stored_at: float


class _Flight:
    __slots__ = ("task", "waiters")

    def __init__(self, task: "asyncio.Task[Any]") -> None:
        self.task = task
        self.waiters = 0


class RemoteCache:
    """``client.remote_cache``: see the module docstring."""

    def __init__(
        self,
        events: EventBus | None = None,
        *,
        stale_time: float = 60.0,
        max_entries: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(max_entries, int) or isinstance(max_entries, bool) or max_entries < 1:
            raise ValidationError(f"max_entries must be a positive integer, got {max_entries!r}", path="max_entries")
        if not isinstance(stale_time, (int, float)) or isinstance(stale_time, bool) or stale_time < 0:
            raise ValidationError(f"stale_time must be a number of seconds >= 0, got {stale_time!r}", path="stale_time")
        self.events = events
        self.stale_time = float(stale_time)
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._flights: dict[CacheKey, _Flight] = {}
        self._observers: dict[CacheKey, int] = {}
        self._hits = self._misses = self._joined = self._evictions = self._expired = 0

    # -- reading ----------------------------------------------------------------------------

    def get(self, key: CacheKey) -> Any | None:
        """The fresh value for ``key`` or ``None`` (counts a hit when found; no request)."""
        entry = self._fresh(key)
        if entry is None:
            return None
        self._hit(entry)
        return entry.value

    def peek(self, key: CacheKey) -> CacheEntry | None:
        """The fresh entry for ``key`` without counting or reordering anything (inspectors)."""
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry.stored_at >= self.stale_time:
            return None
        return entry

    def entries(self) -> list[CacheEntry]:
        """Fresh entries, least recently used first (expired ones are dropped on the way)."""
        self._sweep()
        return list(self._entries.values())

    def in_flight(self, key: CacheKey) -> bool:
        return key in self._flights

    def observers(self, key: CacheKey) -> int:
        """How many live objects (``LiveQuery``, ``LiveOne``) currently show this query."""
        return self._observers.get(key, 0)

    def observe(self, key: CacheKey) -> Callable[[], None]:
        """Count an observer of ``key`` until the returned function is called (once)."""
        self._observers[key] = self._observers.get(key, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._observers.get(key, 0) - 1
            if left > 0:
                self._observers[key] = left
            else:
                self._observers.pop(key, None)

        return release

    def stats(self) -> CacheStats:
        self._sweep()
        return CacheStats(
            entries=len(self._entries),
            hits=self._hits,
            misses=self._misses,
            joined=self._joined,
            evictions=self._evictions,
            expired=self._expired,
            in_flight=len(self._flights),
        )

    def __len__(self) -> int:
        return len(self._entries)

    # -- loading ----------------------------------------------------------------------------

    async def load(self, key: CacheKey, fetch: Callable[[], Awaitable[Any]], *, refresh: bool = False) -> Any:
        """The value for ``key``: from a fresh entry (unless ``refresh``), from a request in
        flight for the same key, or from ``fetch()`` (stored when it succeeds).

        Cancelling this call withdraws the caller's interest; the request itself is cancelled
        once nobody waits for it any more.
        """
        if not refresh:
            entry = self._fresh(key)
            if entry is not None:
                self._hit(entry)
                return entry.value
        flight = self._flights.get(key)
        if flight is None:
            reason = "refresh" if refresh else "absent"
            self._misses += 1
            self._emit(CacheMiss(resource=key.resource, params=key.params, mode=key.mode, reason=reason))
            flight = _Flight(asyncio.ensure_future(self._run(key, fetch)))
            self._flights[key] = flight
        else:
            self._joined += 1
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()
                if self._flights.get(key) is flight:
                    del self._flights[key]

    async def _run(self, key: CacheKey, fetch: Callable[[], Awaitable[Any]]) -> Any:
        me = self._flights.get(key)
        try:
            value = await fetch()
        finally:
            if self._flights.get(key) is me:
                self._flights.pop(key, None)
        self.put(key, value)
        return value

    # -- writing ----------------------------------------------------------------------------

    def put(self, key: CacheKey, value: Any) -> None:
        """Store ``value`` as fresh now; evicts the least recently used entries over the cap."""
        self._entries[key] = CacheEntry(key, value, self.clock())
        self._entries.move_to_end(key)
        self._sweep()
        while len(self._entries) > self.max_entries:
            old, _ = self._entries.popitem(last=False)
            self._evictions += 1
            self._evicted(old, "lru")

    def remove(self, key: CacheKey) -> bool:
        """Drop one entry (the next load asks the server); False if it was not cached."""
        if self._entries.pop(key, None) is None:
            return False
        self._evicted(key, "removed")
        return True

    def invalidate(self, resource: str | None = None) -> int:
        """Drop the entries of ``resource`` (or all); returns how many were dropped."""
        keys = [k for k in self._entries if resource is None or k.resource == resource]
        for k in keys:
            del self._entries[k]
            self._evicted(k, "cleared")
        return len(keys)

    def clear(self) -> None:
        """Drop every entry and reset the counters (requests in flight are left to finish)."""
        self.invalidate()
        self._hits = self._misses = self._joined = self._evictions = self._expired = 0

    # -- internals --------------------------------------------------------------------------

    def _fresh(self, key: CacheKey) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.stored_at >= self.stale_time:
            del self._entries[key]
            self._expired += 1
            self._evicted(key, "expired")
            return None
        return entry

    def _hit(self, entry: CacheEntry) -> None:
        self._entries.move_to_end(entry.key)
        self._hits += 1
        key = entry.key
        if self.events is not None and self.events.wants("cache.hit"):
            self.events.emit(CacheHit(resource=key.resource, params=key.params, mode=key.mode, age_s=self.clock() - entry.stored_at))

    def _sweep(self) -> None:
        now = self.clock()
        stale = [k for k, e in self._entries.items() if now - e.stored_at >= self.stale_time]
        for k in stale:
            del self._entries[k]
            self._expired += 1
            self._evicted(k, "expired")

    def _evicted(self, key: CacheKey, reason: str) -> None:
        self._emit(CacheEvicted(resource=key.resource, params=key.params, mode=key.mode, reason=reason))

    def _emit(self, event: Event) -> None:
        bus = self.events
        if bus is not None and bus.wants(event.__struct_config__.tag):  # type: ignore[arg-type]
            bus.emit(event)

    def __repr__(self) -> str:
        return f"RemoteCache({len(self._entries)}/{self.max_entries} entries, stale_time={self.stale_time:g}s)"
