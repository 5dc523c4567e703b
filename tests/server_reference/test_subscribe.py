"""GET /sync/subscribe: event-driven, filtered, coalesced, resumable, cleaned up on disconnect;
with PostgreSQL, a write through one server process wakes subscribers of another."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from server_reference import SubscribeSettings

from .conftest import Backend, pg_channel
from .live import LiveServer, ServerProcess, SSEReader, ops, write_op


def cursor_of(client: httpx.Client, resource: str, entity_id: str, action: str = "create", **item: Any) -> int:
    """Write one item and return the feed cursor of its change."""
    value = item.pop("value", {"title": "x"} if resource == "tasks" else {"name": "x"})
    ops(client, write_op(resource, action, [{"entityId": entity_id, "value": value, **item}]))
    (res,) = ops(client, {"opId": "p", "kind": "changes.pull", "cursor": 0, "limit": 1000})
    return res["data"]["nextCursor"]


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)


def test_notifies_followed_resources_only(live: LiveServer, client: httpx.Client) -> None:
    sse = SSEReader(live.url, params={"resources": "tasks"})
    try:
        first = sse.next()
        assert first.get("retry") == "3000"
        cursor_of(client, "projects", "p1")
        c = cursor_of(client, "tasks", "t1")
        frame = sse.next_event()
        assert frame["event"] == "sync.notify" and frame["id"] == str(c)
        assert json.loads(frame["data"]) == {"resources": ["tasks"], "cursor": c}
    finally:
        sse.close()
    wait_until(lambda: len(live.atoma.hub) == 0)  # cleaned up on disconnect


def test_unfiltered_stream_gets_every_resource(live: LiveServer, client: httpx.Client) -> None:
    sse = SSEReader(live.url)
    try:
        sse.next()
        c = cursor_of(client, "projects", "p1")
        assert json.loads(sse.next_event()["data"]) == {"resources": ["projects"], "cursor": c}
    finally:
        sse.close()


def test_last_event_id_resumes(live: LiveServer, client: httpx.Client) -> None:
    c1 = cursor_of(client, "tasks", "t1")
    cursor_of(client, "projects", "p1")
    # behind on tasks: one notify at once, for the followed resource only
    sse = SSEReader(live.url, headers={"Last-Event-ID": "0"}, params={"resources": "tasks"})
    try:
        sse.next()
        assert json.loads(sse.next_event()["data"]) == {"resources": ["tasks"], "cursor": c1}
    finally:
        sse.close()
    # up to date: nothing until the next write
    sse = SSEReader(live.url, headers={"Last-Event-ID": str(c1)}, params={"resources": "tasks"})
    try:
        sse.next()
        c3 = cursor_of(client, "tasks", "t2")
        assert json.loads(sse.next_event()["data"]) == {"resources": ["tasks"], "cursor": c3}
    finally:
        sse.close()


def test_heartbeats_and_coalescing(make_live: Any) -> None:
    live: LiveServer = make_live(subscribe=SubscribeSettings(heartbeat_s=0.2, min_notify_interval_ms=400, retry_ms=1500))
    with httpx.Client(base_url=live.url) as client:
        sse = SSEReader(live.url)
        try:
            assert sse.next()["retry"] == "1500"
            assert sse.next(5)["comments"] == ["ping"]
            c1 = cursor_of(client, "tasks", "t1")
            assert json.loads(sse.next_event()["data"])["cursor"] == c1
            # two writes inside the window arrive as one frame
            cursor_of(client, "tasks", "t2")
            c3 = cursor_of(client, "projects", "p1")
            assert json.loads(sse.next_event()["data"]) == {"resources": ["projects", "tasks"], "cursor": c3}
        finally:
            sse.close()


def test_unknown_resource_is_refused_before_the_stream(live: LiveServer) -> None:
    sse = SSEReader(live.url, params={"resources": "tasks,nope"})
    try:
        assert sse.status == 400
        assert json.loads(sse.body)["error"]["code"] == "UNKNOWN_RESOURCE"
    finally:
        sse.close()


def test_server_shutdown_ends_streams(make_live: Any) -> None:
    live: LiveServer = make_live()
    sse = SSEReader(live.url)
    try:
        sse.next()
        live.stop()  # must not hang on the open stream
        with pytest.raises(EOFError):
            while True:
                sse.next(10)
    finally:
        sse.close()


def test_two_server_processes_share_notifications(pg_schema_dsn: str) -> None:
    from server_reference import create_app

    backend = Backend("postgres", pg_schema_dsn)
    with LiveServer(create_app(backend.adapter())) as here, ServerProcess(
        ["--postgres", pg_schema_dsn, "--channel", pg_channel(pg_schema_dsn), "--schema", "tests.server_reference.schema:schema"]
    ) as other:
        sse = SSEReader(other.url, params={"resources": "tasks"})
        try:
            sse.next()
            with httpx.Client(base_url=here.url) as client:
                c = cursor_of(client, "tasks", "t1")
            assert json.loads(sse.next_event()["data"]) == {"resources": ["tasks"], "cursor": c}
        finally:
            sse.close()
