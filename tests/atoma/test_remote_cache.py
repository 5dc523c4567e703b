"""The remote-query cache, pure: cap, expiry (fake clock), counters, events, sharing requests."""

from __future__ import annotations

import asyncio

import pytest

import atoma
from atoma.events import EventBus
from atoma.remote_cache import CacheKey, RemoteCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(i: int, mode: str = "hydrate") -> CacheKey:
    return CacheKey("tasks", f'{{"limit":{i}}}', mode)


def make(**kw: object) -> tuple[RemoteCache, Clock, list[str]]:
    bus, clock, seen = EventBus(), Clock(), []
    bus.subscribe(lambda e: seen.append(f"{e.__struct_config__.tag}:{getattr(e, 'reason', '')}"))
    return RemoteCache(bus, clock=clock, **kw), clock, seen  # type: ignore[arg-type]


def test_never_exceeds_its_cap_and_evicts_least_recently_used() -> None:
    cache, _, seen = make(max_entries=3)
    for i in range(3):
        cache.put(key(i), i)
    assert cache.get(key(0)) == 0  # 0 is now the most recently used
    for i in range(3, 50):
        cache.put(key(i), i)
        assert len(cache) <= 3
    assert cache.get(key(0)) is None and cache.get(key(49)) == 49
    st = cache.stats()
    assert st.entries == 3 and st.evictions == 47 and st.hits == 2 and seen.count("cache.evicted:lru") == 47


def test_entries_expire_after_stale_time() -> None:
    cache, clock, seen = make(stale_time=60)
    cache.put(key(1), "a")
    clock.now += 59.9
    assert cache.get(key(1)) == "a"
    clock.now += 0.1
    assert cache.get(key(1)) is None and cache.peek(key(1)) is None
    cache.put(key(2), "b")
    clock.now += 61
    assert cache.stats().entries == 0 and cache.stats().expired == 2
    assert "cache.evicted:expired" in seen and cache.entries() == []


def test_load_counts_hits_misses_and_shares_one_request() -> None:
    cache, clock, seen = make()
    calls = []

    async def fetch() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        return "rows"

    async def main() -> None:
        got = await asyncio.gather(*(cache.load(key(1), fetch) for _ in range(5)))
        assert got == ["rows"] * 5 and len(calls) == 1
        assert await cache.load(key(1), fetch) == "rows" and len(calls) == 1  # fresh: a hit
        assert await cache.load(key(1), fetch, refresh=True) == "rows" and len(calls) == 2
        clock.now += 61
        assert await cache.load(key(1), fetch) == "rows" and len(calls) == 3  # expired: a miss
        assert await cache.load(key(1, "transient"), fetch) == "rows" and len(calls) == 4  # another mode, another key

    asyncio.run(main())
    st = cache.stats()
    assert (st.hits, st.misses, st.joined, st.expired, st.in_flight) == (1, 4, 4, 1, 0)
    assert seen.count("cache.hit:") == 1 and "cache.miss:absent" in seen and "cache.miss:refresh" in seen


def test_failures_are_shared_and_not_cached() -> None:
    cache, _, _ = make()
    calls = []

    async def fetch() -> str:
        calls.append(1)
        await asyncio.sleep(0)
        raise atoma.SyncError("down", retryable=True)

    async def main() -> None:
        results = await asyncio.gather(cache.load(key(1), fetch), cache.load(key(1), fetch), return_exceptions=True)
        assert all(isinstance(r, atoma.SyncError) for r in results) and len(calls) == 1
        with pytest.raises(atoma.SyncError):
            await cache.load(key(1), fetch)
        assert len(calls) == 2

    asyncio.run(main())
    assert cache.stats().entries == 0


def test_request_is_cancelled_when_every_waiter_gave_up() -> None:
    cache, _, _ = make()
    started, cancelled = asyncio.Event(), []

    async def fetch() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        return "never"

    async def main() -> None:
        waiters = [asyncio.ensure_future(cache.load(key(1), fetch)) for _ in range(3)]
        await started.wait()
        waiters[0].cancel()
        await asyncio.sleep(0)
        assert cache.in_flight(key(1)) and not cancelled  # two still wait
        for w in waiters[1:]:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        for _ in range(3):
            await asyncio.sleep(0)
        assert cancelled == [1] and not cache.in_flight(key(1))

    asyncio.run(main())
    assert cache.stats().in_flight == 0 and cache.stats().entries == 0


def test_clear_and_invalidate() -> None:
    cache, _, seen = make()
    cache.put(key(1), 1)
    cache.put(CacheKey("projects", "{}", "hydrate"), 2)
    assert cache.invalidate("projects") == 1 and len(cache) == 1
    cache.get(key(1))
    cache.clear()
    assert cache.stats() == cache.stats().__class__(entries=0, hits=0, misses=0, joined=0, evictions=0, expired=0, in_flight=0)
    assert seen.count("cache.evicted:cleared") == 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(atoma.ValidationError):
        RemoteCache(max_entries=0)
    with pytest.raises(atoma.ValidationError):
        RemoteCache(stale_time=-1)


def test_each_client_owns_its_cache(tmp_path: object) -> None:
    schema = atoma.Schema([atoma.Resource("notes", type("Note", (atoma.Entity,), {"__annotations__": {"text": str}}))])
    a = atoma.Client(":memory:", schema, cache_stale_time=5, cache_max_entries=7)
    b = atoma.Client(":memory:", schema)
    assert a.remote_cache is not b.remote_cache
    assert (a.remote_cache.stale_time, a.remote_cache.max_entries) == (5, 7)
    assert (b.remote_cache.stale_time, b.remote_cache.max_entries) == (60, 200)


def test_remove_one_entry_and_count_observers() -> None:
    clock = [0.0]
    cache = RemoteCache(stale_time=60, max_entries=10, clock=lambda: clock[0])
    a, b = CacheKey("tasks", '{"limit":1}', "hydrate"), CacheKey("tasks", "{}", "hydrate")
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.remove(a) is True and cache.remove(a) is False
    assert cache.peek(a) is None and cache.peek(b) is not None
    release1, release2 = cache.observe(b), cache.observe(b)
    assert cache.observers(b) == 2
    release1()
    release1()  # releasing twice counts once
    assert cache.observers(b) == 1
    release2()
    assert cache.observers(b) == 0
