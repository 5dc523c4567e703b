"""EventBus routing: typed and wildcard subscribers, order, unsubscribe, wants, clock stamping."""

from __future__ import annotations

import logging

import msgspec
import pytest

from atoma.events import Event, EventBus, OutboxEnqueued, StoreChanged, SyncStatusChanged


def _changed(at_ms: int = 0) -> StoreChanged:
    return StoreChanged(resource="todos", ids=("a",), at_ms=at_ms)


def _enqueued() -> OutboxEnqueued:
    return OutboxEnqueued(resource="todos", entity_ids=("a",), seqs=(1,), action="put")


def test_typed_and_wildcard_subscribers_are_called_in_subscription_order() -> None:
    bus = EventBus()
    calls: list[tuple[str, str]] = []
    bus.subscribe(lambda e: calls.append(("typed-1", e.__struct_config__.tag)), ["store.changed"])
    bus.subscribe(lambda e: calls.append(("all", e.__struct_config__.tag)))
    bus.subscribe(lambda e: calls.append(("typed-2", e.__struct_config__.tag)), ["store.changed", "outbox.enqueued"])

    bus.emit(_changed())
    bus.emit(_enqueued())

    assert calls == [
        ("typed-1", "store.changed"),
        ("all", "store.changed"),
        ("typed-2", "store.changed"),
        ("all", "outbox.enqueued"),
        ("typed-2", "outbox.enqueued"),
    ]


def test_wants_follows_subscriptions() -> None:
    bus = EventBus()
    assert not bus.wants("store.changed")
    off = bus.subscribe(lambda e: None, ["store.changed"])
    assert bus.wants("store.changed")
    assert not bus.wants("outbox.enqueued")
    off_all = bus.subscribe(lambda e: None)
    assert bus.wants("outbox.enqueued")
    off_all()
    assert not bus.wants("outbox.enqueued")
    off()
    assert not bus.wants("store.changed")


def test_unsubscribe_during_emit_takes_effect_from_the_next_event() -> None:
    bus = EventBus()
    seen: list[str] = []
    offs: list = []

    def first(e: Event) -> None:
        seen.append("first")
        offs[0]()  # removes `second`; the event being delivered still reaches it

    offs.append(lambda: None)
    bus.subscribe(first, ["store.changed"])
    offs[0] = bus.subscribe(lambda e: seen.append("second"), ["store.changed"])

    bus.emit(_changed())
    assert seen == ["first", "second"]
    seen.clear()
    bus.emit(_changed())
    assert seen == ["first"]


def test_a_failing_listener_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(e: Event) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    with caplog.at_level(logging.ERROR, logger="atoma.events"):
        bus.emit(_changed())
    assert len(seen) == 1
    assert "listener bug" in caplog.text


def test_clock_stamps_only_unstamped_events() -> None:
    bus = EventBus(clock=lambda: 1234)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    bus.emit(_changed())
    bus.emit(_changed(at_ms=7))
    assert [e.at_ms for e in seen] == [1234, 7]


def test_emit_with_no_listener_for_the_type_calls_nobody() -> None:
    bus = EventBus(clock=lambda: pytest.fail("clock read although nobody listens"))
    seen: list[Event] = []
    bus.subscribe(seen.append, ["store.changed"])
    bus.emit(SyncStatusChanged(status=None))
    assert seen == []


def test_events_are_not_tracked_by_the_garbage_collector() -> None:
    # An inspector or an event log keeps thousands alive; untracked, they cost the cyclic
    # collector nothing. Every event class inherits it, including ones defined elsewhere.
    import gc

    from atoma.history import HistoryChanged
    from atoma.remote_cache import CacheHit

    assert not gc.is_tracked(_changed())
    assert not gc.is_tracked(SyncStatusChanged(status={"state": "live"}))
    assert all(cls.__struct_config__.gc is False for cls in (Event, StoreChanged, OutboxEnqueued, HistoryChanged, CacheHit))
    # Still plain data: they serialise as before.
    assert msgspec.json.decode(msgspec.json.encode(_changed(5))) == {"type": "store.changed", "resource": "todos", "ids": ["a"], "origin": "local", "deleted": [], "at_ms": 5}
