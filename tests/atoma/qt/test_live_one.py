"""LiveOne: local updates, one shared fetch after construction, cancellation on destroy."""

from __future__ import annotations

import gc
from typing import Any

import shiboken6

import atoma
from atoma.qt import LiveOne

from .conftest import GatedServer


def test_follows_local_writes_and_undo_without_fetching(client: atoma.Client, qtbot: Any) -> None:
    tasks = client.store("tasks")
    t = tasks.add({"title": "one"})
    one = LiveOne(client, "tasks", t.id)
    assert one.value == t and not one.loading and not one.stale and one.error == ""
    with qtbot.waitSignal(one.valueChanged, timeout=1000):
        tasks.update(t.id, {"title": "two"})
    assert one.value.title == "two"
    with qtbot.waitSignal(one.valueChanged, timeout=1000):
        client.history.undo()
    assert one.value.title == "one"
    with qtbot.waitSignal(one.valueChanged, timeout=1000):
        tasks.delete(t.id)
    assert one.value is None and not one.loading  # no server: nothing to fetch


def test_missing_id_n_objects_one_request_after_construction(gated: tuple[atoma.Client, GatedServer], qtbot: Any) -> None:
    client, srv = gated
    ones = [LiveOne(client, "tasks", "t-1") for _ in range(20)]
    # Construction and reads: no request yet, but the objects say they are loading.
    assert [o.value for o in ones] == [None] * 20 and all(o.loading for o in ones)
    assert srv.queries == []
    qtbot.waitUntil(lambda: len(srv.queries) == 1, timeout=5000)
    srv.gate.set()
    qtbot.waitUntil(lambda: all(o.value is not None for o in ones), timeout=5000)
    assert len(srv.queries) == 1 and srv.answered == 1
    assert all(o.value.title == "from the server" and not o.loading and o.error == "" for o in ones)
    assert client.store("tasks").get("t-1").version == 3  # hydrated  # type: ignore[union-attr]
    st = client.remote_cache.stats()
    assert st.misses == 1 and st.joined == 19
    # Now local: a new LiveOne does not fetch at all.
    again = LiveOne(client, "tasks", "t-1")
    assert again.value is not None and not again.loading
    assert len(srv.queries) == 1


def test_destroying_every_object_cancels_the_request(gated: tuple[atoma.Client, GatedServer], qtbot: Any) -> None:
    client, srv = gated
    ones = [LiveOne(client, "tasks", "t-1") for _ in range(5)]
    qtbot.waitUntil(lambda: len(srv.queries) == 1, timeout=5000)
    assert client.remote_cache.stats().in_flight == 1
    ones[0].deleteLater()  # destroyed by Qt
    shiboken6.delete(ones[1])
    del ones[:]  # the rest collected by Python
    gc.collect()
    qtbot.waitUntil(lambda: srv.cancelled == 1, timeout=5000)
    assert client.remote_cache.stats().in_flight == 0 and srv.answered == 0
    assert client.store("tasks").get("t-1") is None


def test_one_fetch_fills_other_objects_and_sync_updates(remote_clients: Any, arun: Any, qtbot: Any) -> None:
    a, b = remote_clients("a.db", sync_options=None), remote_clients("b.db")
    t = b.store("tasks").add({"title": "remote"})
    arun(b.sync.wait_idle(10))
    watcher = LiveOne(a, "tasks", t.id, fetch_policy="cache-only")  # never fetches itself
    fetcher = LiveOne(a, "tasks", t.id)
    qtbot.waitUntil(lambda: watcher.value is not None and fetcher.value is not None, timeout=10_000)
    b.store("tasks").update(t.id, {"title": "changed on b"})
    arun(b.sync.wait_idle(10))
    arun(a.sync.pull())  # origin "sync"
    assert watcher.value.title == "changed on b" and fetcher.value.title == "changed on b"


def test_refetch_marks_stale_while_it_runs(gated: tuple[atoma.Client, GatedServer], qtbot: Any) -> None:
    client, srv = gated
    srv.gate.set()
    one = LiveOne(client, "tasks", "t-1")
    qtbot.waitUntil(lambda: one.value is not None and not one.loading, timeout=5000)
    srv.gate.clear()
    with qtbot.waitSignal(one.staleChanged, timeout=5000):
        one.refetch()
    assert one.stale and not one.loading
    srv.gate.set()
    qtbot.waitUntil(lambda: not one.stale, timeout=5000)
    assert len(srv.queries) == 2


def test_errors_show_in_the_error_property(gated: tuple[atoma.Client, GatedServer], qtbot: Any, arun: Any) -> None:
    client, srv = gated
    arun(client.sync.stop())  # no transport any more: the fetch fails with ClientClosed
    one = LiveOne(client, "tasks", "t-2")
    qtbot.waitUntil(lambda: one.error != "", timeout=5000)
    assert isinstance(one.last_error, atoma.ClientClosed) and not one.loading
