"""Malformed input gets a clear StandardError (4xx for the request, or an op/item error) and
leaves the database exactly as it was."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import Backend
from .live import LiveServer, ops, pull_op, query_op, write_op


@pytest.fixture
def seeded(client: httpx.Client, backend: Backend) -> dict[str, Any]:
    ops(client, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "Buy milk"}}]))
    return backend.snapshot()


def post(client: httpx.Client, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/ops", content=content, headers={"content-type": "application/json"}, **kw)


REQUEST_ERRORS = [
    pytest.param(b"{not json", 400, "VALIDATION", "$", id="invalid-json"),
    pytest.param(b"[]", 400, "VALIDATION", "$", id="not-an-object"),
    pytest.param({"ops": [{"opId": "a", "kind": "drop", "resource": "tasks"}]}, 400, "VALIDATION", "$.ops[0].kind", id="unknown-kind"),
    pytest.param(
        {"ops": [{"opId": "w", "kind": "write", "resource": "tasks", "action": "update",
                  "items": [{"entityId": "t1", "baseVersion": "1", "value": {}, "meta": {"idempotencyKey": "k"}}]}]},
        400, "VALIDATION", "$.ops[0].items[0].baseVersion", id="wrong-type",
    ),
    pytest.param({"ops": [{"opId": "w", "kind": "write", "resource": "tasks", "action": "truncate", "items": []}]}, 400, "VALIDATION", "$.ops[0].action", id="unknown-action"),
    pytest.param({"meta": {"v": 2}, "ops": []}, 400, "UNSUPPORTED_VERSION", "$.meta.v", id="version"),
    pytest.param({"ops": [{"opId": "a", "kind": "query", "resource": "tasks"}, {"opId": "a", "kind": "query", "resource": "tasks"}]}, 400, "VALIDATION", "$.ops[1].opId", id="duplicate-opid"),
    pytest.param({"ops": "DROP TABLE atoma_entities"}, 400, "VALIDATION", "$.ops", id="sql-as-ops"),
]


@pytest.mark.parametrize(("body", "status", "code", "path"), REQUEST_ERRORS)
def test_request_level_errors(client: httpx.Client, backend: Backend, seeded: Any, body: Any, status: int, code: str, path: str) -> None:
    r = post(client, body)
    assert r.status_code == status
    data = r.json()
    assert data["ok"] is False and data["error"]["code"] == code and data["error"]["kind"] == "validation"
    assert data["error"]["details"]["path"] == path
    assert backend.snapshot() == seeded


OP_ERRORS = [
    pytest.param(query_op("nope"), "UNKNOWN_RESOURCE", id="unknown-resource"),
    pytest.param(query_op("tasks; DROP TABLE atoma_entities; --"), "UNKNOWN_RESOURCE", id="sql-resource"),
    pytest.param(query_op("tasks", where={"colour": "red"}), "VALIDATION", id="unknown-field"),
    pytest.param(query_op("tasks", where={"title'); DROP TABLE atoma_entities; --": 1}), "VALIDATION", id="sql-field"),
    pytest.param(query_op("tasks", where={"title": {"like": "%"}}), "VALIDATION", id="unknown-operator"),
    pytest.param(query_op("tasks", where={"priority": {"gt": "x"}}), "VALIDATION", id="wrong-value-kind"),
    pytest.param(query_op("tasks", orderBy=[{"field": "data", "direction": "asc"}]), "VALIDATION", id="unknown-order-field"),
    pytest.param(query_op("tasks", fields=["title", "secret"]), "VALIDATION", id="unknown-sparse-field"),
    pytest.param(query_op("tasks", after="not-a-token"), "VALIDATION", id="bad-token"),
    pytest.param(query_op("tasks", where={"title": {"match": "x"}, "done": {"match": "y"}}), "VALIDATION", id="match-without-index"),
    pytest.param(write_op("nope", "create", [{"value": {}}]), "UNKNOWN_RESOURCE", id="write-unknown-resource"),
    pytest.param(pull_op(0, resources=["tasks", "x' OR 1=1 --"]), "UNKNOWN_RESOURCE", id="pull-sql-resource"),
]


@pytest.mark.parametrize(("op", "code"), OP_ERRORS)
def test_malformed_ops_refuse_the_whole_request(client: httpx.Client, backend: Backend, seeded: Any, op: dict[str, Any], code: str) -> None:
    # A valid write placed before the bad op must not run either: ops are checked before any runs.
    good = write_op("tasks", "create", [{"entityId": "must-not-exist", "value": {"title": "x"}}], op_id="first")
    r = post(client, {"ops": [good, op]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == code and err["kind"] == "validation" and err["details"]["path"] == "$.ops[1]"
    assert backend.snapshot() == seeded


def test_sql_shaped_values_are_just_values(client: httpx.Client, backend: Backend, seeded: Any) -> None:
    evil = "x'); DROP TABLE atoma_entities; --"
    (res,) = ops(client, query_op("tasks", where={"title": {"contains": evil}, "or": [{"title": evil}, {"project_id": {"in": [evil]}}]}))
    assert res["ok"] and res["data"]["items"] == []
    (w,) = ops(client, write_op("tasks", "create", [{"entityId": evil, "value": {"title": evil}}]))
    assert w["data"]["results"][0]["ok"]
    (res,) = ops(client, query_op("tasks", where={"title": evil}))
    assert [t["id"] for t in res["data"]["items"]] == [evil]


def test_invalid_items_are_refused_without_effect(client: httpx.Client, backend: Backend, seeded: Any) -> None:
    bad_items = [
        {"entityId": "t9", "value": {"title": ["not", "a", "string"]}},
        {"entityId": "t9", "value": {"priority": 1}},  # title is required
        {"entityId": "x" * 300, "value": {"title": "long id"}},
        {"entityId": "t9", "value": {"title": "nul \u0000 byte"}},
    ]
    (res,) = ops(client, write_op("tasks", "create", bad_items))
    assert [r["error"]["code"] for r in res["data"]["results"]] == ["VALIDATION"] * 4
    after = backend.snapshot()
    assert after["atoma_entities"] == seeded["atoma_entities"] and after["atoma_changes"] == seeded["atoma_changes"]


def test_oversized_body_and_too_many_ops(make_live: Any, backend: Backend) -> None:
    from server_reference import Limits

    live: LiveServer = make_live(limits=Limits(max_body_bytes=2000, max_ops=3, max_items_per_write=2, max_query_limit=10, default_query_limit=5, max_pull_limit=10, default_pull_limit=5))
    with httpx.Client(base_url=live.url) as c:
        ops(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}]))
        before = backend.snapshot()
        r = post(c, {"ops": [write_op("tasks", "create", [{"entityId": "big", "value": {"title": "x" * 5000}}])]})
        assert r.status_code == 413
        err = r.json()["error"]
        assert err["code"] == "LIMIT_EXCEEDED" and err["kind"] == "limits" and err["details"]["max"] == 2000 and err["details"]["actual"] > 2000
        # a chunked body without content-length is counted as it streams
        r = c.post("/ops", content=iter([b'{"ops": [', b" " * 3000, b"]}"]))
        assert r.status_code == 413 and r.json()["error"]["details"]["max"] == 2000
        r = post(c, {"ops": [query_op("tasks", f"q{i}") for i in range(4)]})
        assert r.status_code == 413 and r.json()["error"]["details"] == {"max": 3, "actual": 4}
        res = ops(
            c,
            write_op("tasks", "create", [{"value": {"title": str(i)}} for i in range(3)]),
            query_op("tasks", limit=11),
            pull_op(0, limit=11),
        )
        assert [r["error"]["details"] for r in res] == [{"max": 2, "actual": 3}, {"max": 10, "actual": 11}, {"max": 10, "actual": 11}]
        assert all(r["error"]["code"] == "LIMIT_EXCEEDED" for r in res)
        assert backend.snapshot() == before


def test_internal_errors_never_leak(make_live: Any, backend: Backend) -> None:
    adapter = backend.adapter()

    async def broken(spec: Any) -> Any:
        raise RuntimeError("relation atoma_entities: password=hunter2")

    adapter.query = broken  # type: ignore[method-assign]
    live: LiveServer = make_live(adapter=adapter)
    with httpx.Client(base_url=live.url) as c:
        (res,) = ops(c, query_op("tasks"))
    assert res["error"] == {"code": "INTERNAL", "message": "internal server error", "kind": "internal"}
