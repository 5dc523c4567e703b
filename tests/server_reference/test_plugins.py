"""Plugins (bearer auth, resource allow-list, custom middleware at three layers) and the
observability events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from atoma import protocol as p
from server_reference import BearerAuth, MemorySink, OpContext, Plugin, Principal, RequestContext, ResourceAllowList, forbidden

from .conftest import Backend
from .live import LiveServer, SSEReader, ops, pull_op, query_op, write_op

TOKENS = {
    "admin": Principal("admin"),
    "reader": Principal("reader", scopes=frozenset({"read"})),
    "tasks-only": Principal("tasks-only", resources=frozenset({"tasks"})),
}


@pytest.fixture
def secured(make_live: Any) -> LiveServer:
    allow = ResourceAllowList(lambda who: who.resources if isinstance(who, Principal) else None)
    return make_live(plugins=[BearerAuth(TOKENS), allow])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_missing_or_bad_tokens_are_401(secured: LiveServer, backend: Backend) -> None:
    with httpx.Client(base_url=secured.url) as c:
        before = backend.snapshot()
        for headers in ({}, auth("wrong"), {"Authorization": "Basic abc"}):
            r = c.post("/ops", json={"ops": [write_op("tasks", "create", [{"value": {"title": "x"}}])]}, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            err = r.json()["error"]
            assert err["code"] == "UNAUTHORIZED" and err["kind"] == "auth"
        # auth runs before the body is read: garbage from a stranger is still a 401
        assert c.post("/ops", content=b"{garbage").status_code == 401
        sse = SSEReader(secured.url)
        try:
            assert sse.status == 401
        finally:
            sse.close()
        assert backend.snapshot() == before


def test_scopes_and_allow_list(secured: LiveServer) -> None:
    with httpx.Client(base_url=secured.url) as c:
        (w,) = ops(c, write_op("projects", "create", [{"entityId": "p1", "value": {"name": "Home"}}]), headers=auth("admin"))
        assert w["ok"]
        (w,) = ops(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "x"}}]), headers=auth("reader"))
        assert w["error"]["code"] == "FORBIDDEN" and w["error"]["kind"] == "auth"
        q, = ops(c, query_op("tasks"), headers=auth("reader"))
        assert q["ok"]
        res = ops(c, query_op("projects", "q1"), query_op("tasks", "q2"), headers=auth("tasks-only"))
        assert res[0]["error"]["code"] == "FORBIDDEN" and res[1]["ok"]
        # an unfiltered pull is narrowed to what the principal may read
        (pl,) = ops(c, pull_op(0), headers=auth("tasks-only"))
        assert pl["ok"] and pl["data"]["changes"] == []
        (pl,) = ops(c, pull_op(0, resources=["projects"]), headers=auth("tasks-only"))
        assert pl["error"]["code"] == "FORBIDDEN"
    sse = SSEReader(secured.url, headers=auth("tasks-only"), params={"resources": "projects"})
    try:
        assert sse.status == 403
    finally:
        sse.close()


def test_custom_plugin_sees_all_three_layers(make_live: Any) -> None:
    seen: list[tuple[str, Any]] = []

    class Audit(Plugin):
        async def ops_request(self, ctx: RequestContext, call_next: Any) -> Any:
            ctx.principal = "alice"
            seen.append(("request", ctx.endpoint))
            return await call_next(ctx)

        async def subscribe_request(self, ctx: RequestContext, call_next: Any) -> Any:
            seen.append(("subscribe", ctx.resources))
            return await call_next(ctx)

        async def op(self, ctx: OpContext, call_next: Any) -> p.OpResult:
            seen.append(("op", (ctx.kind, ctx.resource, ctx.principal)))
            if ctx.resource == "projects" and ctx.kind == "write":
                raise forbidden("projects are read-only today")
            result = await call_next(ctx)
            if ctx.kind == "query" and result.ok:  # field trimming on the way out
                for item in result.data.items:  # type: ignore[union-attr]
                    item.pop("priority", None)
            return result

    live: LiveServer = make_live(plugins=[Audit()])
    with httpx.Client(base_url=live.url) as c:
        res = ops(
            c,
            write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}]),
            write_op("projects", "create", [{"value": {"name": "x"}}], op_id="w2"),
            query_op("tasks", fields=["title", "priority"]),
        )
        assert res[0]["ok"] and res[1]["error"]["code"] == "FORBIDDEN"
        assert res[2]["data"]["items"] == [{"id": "t1", "version": 1, "title": "a"}]
    sse = SSEReader(live.url, params={"resources": "tasks"})
    sse.close()
    assert seen == [
        ("request", "ops"),
        ("op", ("write", "tasks", "alice")),
        ("op", ("write", "projects", "alice")),
        ("op", ("query", "tasks", "alice")),
        ("subscribe", ["tasks"]),
    ]


def test_events_for_requests_ops_and_items(make_live: Any) -> None:
    sink = MemorySink()
    live: LiveServer = make_live(sink=sink)
    with httpx.Client(base_url=live.url) as c:
        key = {"idempotencyKey": "k1"}
        ops(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}, "meta": key}, {"entityId": "t2", "value": {"title": "b"}}]))
        ops(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}, "meta": key}, {"entityId": "t2", "value": {"title": "c"}}]))
        c.post("/ops", content=b"nope")
    items = sink.of("item")
    assert [(e.entity_id, e.path, e.replay, e.conflict, e.error) for e in items] == [
        ("t1", "bulk", False, False, None),
        ("t2", "bulk", False, False, None),
        ("t1", "bulk", True, False, None),
        ("t2", "bulk", False, True, "CONFLICT"),
    ]
    assert all(e.resource == "tasks" and e.name == "create" and e.duration_ms >= 0 for e in items)
    assert [(e.name, e.resource) for e in sink.of("op")] == [("write", "tasks"), ("write", "tasks")]
    assert [(e.status, e.error) for e in sink.of("request")] == [(200, None), (200, None), (400, "VALIDATION")]


def test_log_sink_writes_json_lines(caplog: pytest.LogCaptureFixture) -> None:
    from server_reference import Event, LogSink

    with caplog.at_level("INFO", logger="server_reference.events"):
        LogSink().emit(Event(kind="item", name="create", resource="tasks", path="bulk", conflict=True, error="CONFLICT"))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "server_reference.events"]
    assert json.loads(line) == {"kind": "item", "name": "create", "resource": "tasks", "path": "bulk", "conflict": True, "error": "CONFLICT"}
