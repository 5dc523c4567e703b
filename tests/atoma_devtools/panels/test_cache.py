"""The Remote cache panel over a real client's cache, on a fake clock: a finished load turns
"fetching" into "fresh", ages move and answers expire with no event to say so, and Remove /
Invalidate act on stale and fetching rows too."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QTextCursor

import atoma
from atoma.remote import RemoteResult, key_for
from atoma_devtools import Inspector
from atoma_devtools.panels import CachePanel
from atoma_devtools.panels.cache import TICK_MS

from ...atoma.sync.helpers import eventually
from ..helpers import shot

FAST_TICK_MS = 50  # the panel's 1 s ticker, shortened: every wait below is on a condition


class FakeClock:
    """The cache's clock (seconds), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client: atoma.Client) -> FakeClock:
    c = FakeClock()
    client.remote_cache.clock = c
    return c


def cache_panel(win: Inspector) -> CachePanel:
    p = win.show_panel("Remote cache")
    assert isinstance(p, CachePanel)
    return p


def cells(p: CachePanel, key: Any) -> tuple[Any, ...] | None:
    """The row of ``key`` as the table shows it (None: no such row)."""
    for r in p.md.rows():
        if r.key == key:
            return r.cells
    return None


def status(p: CachePanel, key: Any) -> str | None:
    c = cells(p, key)
    return None if c is None else c[3]


def answer(*titles: str) -> RemoteResult:
    return RemoteResult([{"id": f"t{i}", "title": t} for i, t in enumerate(titles)], None, False, None)


class Gate:
    """A fetch that waits until the test opens it (a request held in flight)."""

    def __init__(self, value: RemoteResult) -> None:
        self.value = value
        self.opened = asyncio.get_running_loop().create_future()

    async def __call__(self) -> RemoteResult:
        await self.opened
        return self.value

    def open(self) -> None:
        self.opened.set_result(None)


def test_a_finished_load_shows_fresh_then_ages_and_expires(
    inspector: Inspector, client: atoma.Client, clock: FakeClock, arun: Any, shots: Path
) -> None:
    cache = client.remote_cache
    p = cache_panel(inspector)
    assert p.ticker.interval() == TICK_MS == 1000
    assert not p.ticker.isActive()  # nothing listed: an idle inspector costs nothing
    p.ticker.setInterval(FAST_TICK_MS)
    key = key_for(client.store("tasks"), {"done": False})

    async def scenario() -> None:
        fetch = Gate(answer("Buy milk", "Call the dentist"))
        load = asyncio.ensure_future(cache.load(key, fetch))
        await eventually(lambda: status(p, key) == "fetching", 5, "the fetching row")
        assert p.ticker.isActive()
        fetch.open()
        await load
        # put() emits no event: only the panel's ticker can show the answer arrived.
        await eventually(lambda: status(p, key) == "fresh", 5, "fresh after the load")
        assert cells(p, key)[5:] == (2, "0.0 s", "in 1 min")  # type: ignore[index]
        # Ages move with the (fake) clock, without re-rendering the detail pane each tick.
        p.md.select_key(key)
        p.md.detail.setCurrentIndex(1)  # JSON
        json_view = p.md.detail.json
        assert "Call the dentist" in json_view.toPlainText()
        json_view.moveCursor(QTextCursor.MoveOperation.End)
        at_end = json_view.textCursor().position()
        clock.now += 42
        await eventually(lambda: cells(p, key)[6:] == ("42.0 s", "in 18.0 s"), 5, "the age to move")  # type: ignore[index]
        assert json_view.textCursor().position() == at_end > 0
        assert p.md.current_row() is not None and p.md.current_row().key == key
        shot(inspector, str(shots / "remote_cache_fresh.png"))
        clock.now += 20  # 62 s old: 2 s past stale_time
        await eventually(lambda: status(p, key) == "stale", 5, "expiry to show")
        age, expiry = cells(p, key)[6:]  # type: ignore[index]
        assert age is None and expiry.endswith(" s ago") and 2.0 <= float(expiry.split()[0]) < 60, expiry  # 2 s, and counting
        assert len(cache) == 0
        # Hidden: no ticking (and refreshed when shown again, its ages being out of date).
        inspector.show_panel("Stores")
        assert not p.ticker.isActive() and p.dirty
        cache_panel(inspector)
        assert p.ticker.isActive() and not p.dirty
        p.clear_button.click()
        assert p.md.rows() == [] and not p.ticker.isActive()  # empty: stops

    arun(scenario())


def test_remove_and_invalidate_act_on_stale_and_fetching_rows(
    inspector: Inspector, client: atoma.Client, clock: FakeClock, arun: Any, shots: Path
) -> None:
    cache = client.remote_cache
    p = cache_panel(inspector)
    p.ticker.setInterval(FAST_TICK_MS)
    tasks = client.store("tasks")
    open_, done, home = key_for(tasks, {"done": False}), key_for(tasks, {"done": True}), key_for(client.store("projects"))
    bar = inspector.statusBar()

    async def scenario() -> None:
        for key, titles in ((open_, ("Buy milk",)), (done, ("Taxes", "Backup"))):
            fetch = Gate(answer(*titles))
            fetch.open()
            await cache.load(key, fetch)
        await eventually(lambda: status(p, open_) == status(p, done) == "fresh", 5, "two fresh rows")
        clock.now += 61
        cache.entries()  # the app's next read sweeps them: cache.evicted "expired"
        await eventually(lambda: status(p, open_) == status(p, done) == "stale", 5, "two stale rows")
        held = Gate(answer("Home"))
        load = asyncio.ensure_future(cache.load(home, held))
        await eventually(lambda: status(p, home) == "fetching", 5, "the fetching row")
        p.md.select_key(home)
        shot(inspector, str(shots / "remote_cache_stale_fetching.png"))

        # Remove a stale row: nothing is cached for it, the row goes all the same.
        assert p.md.select_key(open_) and p.remove_button.isEnabled()
        p.remove_button.click()
        assert cells(p, open_) is None
        assert bar.currentMessage() == "✓ removed 0 cached answers; forgot 1 stale row"
        # Remove a fetching row: the request is left to finish (the cache cannot cancel it).
        assert p.md.select_key(home)
        p.remove_button.click()
        assert cells(p, home) is None
        assert "removed 0 cached answers; 1 request in flight left to finish" in bar.currentMessage()
        # Invalidate a stale row's resource.
        assert p.md.select_key(done)
        p.invalidate_button.click()
        assert cells(p, done) is None and p.md.rows() == []
        assert bar.currentMessage() == "✓ invalidated 0 cached answers of tasks; forgot 1 stale row"
        # The removed request finishes: its answer is cached, and listed.
        held.open()
        await load
        await eventually(lambda: status(p, home) == "fresh", 5, "the finished request's answer")
        assert [r.key for r in p.md.rows()] == [home]

    arun(scenario())


def test_a_removed_row_stays_removed_when_its_expiry_event_comes_late(
    inspector: Inspector, client: atoma.Client, clock: FakeClock, arun: Any
) -> None:
    """The refresh that sees an answer expire also sweeps it, which queues a cache.evicted
    event; a Remove before that event is drained must not be undone by it."""
    cache = client.remote_cache
    p = cache_panel(inspector)
    p.ticker.setInterval(FAST_TICK_MS)
    key = key_for(client.store("tasks"), {"done": False})

    async def scenario() -> None:
        fetch = Gate(answer("Buy milk"))
        fetch.open()
        await cache.load(key, fetch)
        await eventually(lambda: status(p, key) == "fresh", 5, "a fresh row")
        p.ticker.stop()  # the test drives the refreshes from here
        inspector.flush()
        clock.now += 61
        p.do_refresh()  # sees it expire, and sweeps it: cache.evicted is queued, not drained
        assert status(p, key) == "stale"
        assert p.md.select_key(key)
        p.remove_button.click()
        assert cells(p, key) is None
        inspector.flush()  # drains the late cache.evicted
        p.do_refresh()
        assert cells(p, key) is None

    arun(scenario())
