"""LiveQuery fetch policies against the real reference server, and the remote cache behind them."""

from __future__ import annotations

from typing import Any

import atoma
from atoma.qt import LiveQuery

from .test_live_query import Signals


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(remote_clients: Any, arun: Any) -> tuple[atoma.Client, atoma.Client]:
    """``b`` wrote 3 tasks that ``a`` pulled at start, then 3 more that ``a`` has not seen."""
    b = remote_clients("b.db")
    for i in range(3):
        b.store("tasks").add({"title": f"old {i}", "priority": i})
    arun(b.sync.wait_idle(10))
    a = remote_clients("a.db", sync_options=None)  # pulls once, at start
    arun(a.sync.wait_idle(10))
    assert a.store("tasks").count() == 3
    for i in range(3):
        b.store("tasks").add({"title": f"new {i}", "priority": 10 + i})
    arun(b.sync.wait_idle(10))
    return a, b


def test_cache_and_network_shows_local_rows_then_refreshes(remote_clients: Any, arun: Any, qtbot: Any, qtmodeltester: Any) -> None:
    a, _ = setup(remote_clients, arun)
    clock = Clock()
    a.remote_cache.clock = clock
    model = LiveQuery(a, "tasks", order_by=[("priority", "asc")])
    sig = Signals(model)
    assert model.count == 3 and model.stale and model.fetching and not model.loading  # local rows now
    qtbot.waitUntil(lambda: not model.fetching, timeout=10_000)
    assert [model.entity(i).title for i in range(model.count)] == ["old 0", "old 1", "old 2", "new 0", "new 1", "new 2"]
    assert not model.stale and model.error == "" and sig.count["rowsInserted"] >= 1 and sig.count["modelReset"] == 0
    qtmodeltester.check(model)
    misses = a.remote_cache.stats().misses
    # The same query again within stale_time: answered by the cache, no request, never stale.
    again = LiveQuery(a, "tasks", order_by=[("priority", "asc")])
    assert not again.stale and not again.fetching
    qtbot.waitUntil(lambda: a.remote_cache.stats().hits == 1, timeout=5000)
    assert a.remote_cache.stats().misses == misses
    # After stale_time (a fake clock) the entry has expired: a new model asks the server.
    clock.now += 61
    third = LiveQuery(a, "tasks", order_by=[("priority", "asc")])
    assert third.stale
    qtbot.waitUntil(lambda: not third.fetching, timeout=10_000)
    st = a.remote_cache.stats()
    assert st.misses == misses + 1 and st.expired == 1


def test_network_only_hydrating_waits_for_the_server(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    a, _ = setup(remote_clients, arun)
    model = LiveQuery(a, "tasks", where={"priority": {"gte": 1}}, order_by=[("priority", "asc")], fetch_policy="network-only")
    assert model.count == 0 and model.loading  # nothing until the server answered
    a.store("tasks").add({"title": "local only", "priority": 5})  # not shown yet either
    assert model.count == 0
    qtbot.waitUntil(lambda: not model.loading, timeout=10_000)
    # The local rows after hydration: the server's rows and the unsent local one.
    assert [model.entity(i).title for i in range(model.count)] == ["old 1", "old 2", "local only", "new 0", "new 1", "new 2"]
    a.store("tasks").update(model.entity(0).id, {"priority": 99})  # and live afterwards
    assert model.entity(model.count - 1).title == "old 1"


def test_transient_shows_server_rows_without_storing(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    a, b = setup(remote_clients, arun)
    model = LiveQuery(a, "tasks", where={"title": {"startsWith": "new"}}, order_by=[("priority", "desc")], transient=True, fetch_policy="network-only")
    qtbot.waitUntil(lambda: model.count == 3, timeout=10_000)
    assert [model.entity(i).title for i in range(3)] == ["new 2", "new 1", "new 0"]
    assert a.store("tasks").count() == 3  # nothing stored
    sig = Signals(model)
    b.store("tasks").update(model.entity(2).id, {"priority": 100})
    arun(b.sync.wait_idle(10))
    task = model.refetch()
    qtbot.waitUntil(task.done, timeout=10_000)
    assert [model.entity(i).title for i in range(3)] == ["new 0", "new 2", "new 1"]
    assert sig.count["rowsMoved"] == 1 and sig.count["modelReset"] == 0


def test_cache_only_never_asks(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    a, _ = setup(remote_clients, arun)
    before = a.remote_cache.stats()
    model = LiveQuery(a, "tasks", fetch_policy="cache-only")
    assert model.count == 3 and not model.fetching and model.refetch() is None and model.fetch_more() is None
    qtbot.wait(50)  # give a (wrongly) scheduled request the chance to show up
    assert a.remote_cache.stats() == before


def test_fetch_more_pages_through_the_server(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    a, _ = setup(remote_clients, arun)
    model = LiveQuery(a, "tasks", order_by=[("priority", "asc")], limit=2)
    qtbot.waitUntil(lambda: not model.fetching, timeout=10_000)
    assert [model.entity(i).title for i in range(model.count)] == ["old 0", "old 1"] and model.can_fetch_more
    while model.can_fetch_more:
        task = model.fetch_more()
        if task is not None:
            qtbot.waitUntil(task.done, timeout=10_000)
    assert [model.entity(i).title for i in range(model.count)] == ["old 0", "old 1", "old 2", "new 0", "new 1", "new 2"]
    assert a.store("tasks").count() == 6
