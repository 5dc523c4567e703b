"""The adapter conformance suite: ops semantics over real HTTP, run unchanged on every backend."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import Backend
from .live import LiveServer, ops, pull_op, query_op, write_op


def one(client: httpx.Client, op: dict[str, Any], **kw: Any) -> dict[str, Any]:
    (result,) = ops(client, op, **kw)
    return result


def items(client: httpx.Client, op: dict[str, Any]) -> list[dict[str, Any]]:
    result = one(client, op)
    assert result["ok"], result
    return result["data"]["results"]


def create(client: httpx.Client, value: dict[str, Any], entity_id: str | None = "t1", resource: str = "tasks") -> dict[str, Any]:
    item: dict[str, Any] = {"value": value}
    if entity_id is not None:
        item["entityId"] = entity_id
    (r,) = items(client, write_op(resource, "create", [item]))
    return r


def test_create_assigns_version_1_and_returns_the_stored_entity(client: httpx.Client) -> None:
    r = create(client, {"title": "Buy milk"})
    assert r == {"index": 0, "ok": True, "entityId": "t1", "version": 1,
                 "data": {"id": "t1", "version": 1, "title": "Buy milk", "done": False, "priority": 0, "project_id": None}}
    got = one(client, query_op("tasks"))["data"]
    assert got["items"] == [r["data"]]
    assert got["pageInfo"] == {"cursor": got["pageInfo"]["cursor"], "hasNext": False, "total": None}


def test_create_without_id_generates_one(client: httpx.Client) -> None:
    r = create(client, {"title": "x"}, entity_id=None)
    assert r["ok"] and len(r["entityId"]) == 36 and r["data"]["id"] == r["entityId"]


def test_update_is_compare_and_set_and_merges(client: httpx.Client) -> None:
    create(client, {"title": "Buy milk", "priority": 2})
    (r,) = items(client, write_op("tasks", "update", [{"entityId": "t1", "baseVersion": 1, "value": {"done": True}}]))
    assert r["version"] == 2 and r["data"]["done"] is True and r["data"]["priority"] == 2
    (stale,) = items(client, write_op("tasks", "update", [{"entityId": "t1", "baseVersion": 1, "value": {"title": "late"}}]))
    assert stale["ok"] is False and stale["error"]["code"] == "CONFLICT" and stale["error"]["kind"] == "conflict"
    assert stale["current"] == {"value": r["data"], "version": 2}


def test_update_without_merge_replaces(client: httpx.Client) -> None:
    create(client, {"title": "Buy milk", "priority": 2, "done": True})
    (r,) = items(client, write_op("tasks", "update", [{"entityId": "t1", "baseVersion": 1, "value": {"title": "New"}}], merge=False))
    assert r["data"] == {"id": "t1", "version": 2, "title": "New", "done": False, "priority": 0, "project_id": None}


def test_missing_entities_are_not_found(client: httpx.Client) -> None:
    res = ops(
        client,
        write_op("tasks", "update", [{"entityId": "nope", "baseVersion": 1, "value": {"done": True}}], op_id="u"),
        write_op("tasks", "delete", [{"entityId": "nope", "baseVersion": 1}], op_id="d"),
    )
    for result in res:
        (r,) = result["data"]["results"]
        assert r["ok"] is False and r["error"]["code"] == "NOT_FOUND" and r["error"]["kind"] == "not_found"


def test_delete_leaves_a_tombstone_and_recreating_continues_its_version(client: httpx.Client) -> None:
    create(client, {"title": "a"})
    (d,) = items(client, write_op("tasks", "delete", [{"entityId": "t1", "baseVersion": 1}]))
    assert d == {"index": 0, "ok": True, "entityId": "t1", "version": 2}
    assert one(client, query_op("tasks", includeTotal=True))["data"]["pageInfo"]["total"] == 0
    for action, item in (("update", {"value": {"done": True}, "baseVersion": 1}), ("delete", {"baseVersion": 2})):
        (r,) = items(client, write_op("tasks", action, [{"entityId": "t1", **item}]))
        assert r["error"]["code"] == "CONFLICT" and r["current"] == {"value": None, "version": 2}
    r = create(client, {"title": "again"})
    assert r["version"] == 3 and r["data"]["title"] == "again"


def test_create_on_a_live_id_conflicts_with_the_current_value(client: httpx.Client) -> None:
    first = create(client, {"title": "a"})
    r = create(client, {"title": "b"})
    assert r["error"]["code"] == "CONFLICT" and r["current"] == {"value": first["data"], "version": 1}


def test_strict_upsert(client: httpx.Client) -> None:
    up = lambda item: items(client, write_op("tasks", "upsert", [{"entityId": "t1", **item}]))[0]  # noqa: E731
    assert up({"value": {"title": "a"}})["version"] == 1  # absent, no baseVersion: created
    assert up({"value": {"title": "b"}})["error"]["code"] == "CONFLICT"  # exists, no baseVersion
    assert up({"value": {"title": "b"}, "baseVersion": 5})["current"]["version"] == 1
    r = up({"value": {"done": True}, "baseVersion": 1})
    assert r["version"] == 2 and r["data"]["title"] == "a" and r["data"]["done"] is True
    absent = items(client, write_op("tasks", "upsert", [{"entityId": "t2", "value": {"title": "x"}, "baseVersion": 3}]))[0]
    assert absent["error"]["code"] == "CONFLICT" and absent["current"] == {"value": None, "version": 0}
    items(client, write_op("tasks", "delete", [{"entityId": "t1", "baseVersion": 2}]))
    assert up({"value": {"title": "c"}, "baseVersion": 0})["version"] == 4


def test_loose_upsert_is_last_writer_wins(client: httpx.Client) -> None:
    create(client, {"title": "a"})
    (r,) = items(client, write_op("tasks", "upsert", [{"entityId": "t1", "value": {"title": "z"}, "baseVersion": 9}], upsert={"mode": "loose"}))
    assert r["ok"] and r["version"] == 2 and r["data"]["title"] == "z"


def test_unknown_fields_are_kept(client: httpx.Client) -> None:
    create(client, {"title": "a", "color": "red"})
    (r,) = items(client, write_op("tasks", "update", [{"entityId": "t1", "baseVersion": 1, "value": {"done": True}}]))
    assert r["data"]["color"] == "red"
    assert one(client, query_op("tasks"))["data"]["items"][0]["color"] == "red"


def test_invalid_values_are_item_errors_and_replay(client: httpx.Client) -> None:
    bad = write_op("tasks", "create", [{"entityId": "t1", "value": {"title": 5}}, {"entityId": "t2", "value": {"done": True}}, {"entityId": "t3", "value": {"title": "ok"}}])
    first = items(client, bad)
    assert [r["ok"] for r in first] == [False, False, True]
    assert all(r["error"]["code"] == "VALIDATION" for r in first[:2])
    again = items(client, bad)
    assert [r.pop("replay") for r in again] == [True, True, True]
    assert again == first


def test_returning_false_omits_data(client: httpx.Client) -> None:
    (r,) = items(client, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}], returning=False))
    assert r == {"index": 0, "ok": True, "entityId": "t1", "version": 1}


def test_idempotent_items_apply_once(client: httpx.Client, backend: Backend) -> None:
    op = write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}, {"value": {"title": "generated"}}])
    first = items(client, op)
    second = items(client, op)
    assert all(r.pop("replay") for r in second)
    assert second == first  # the generated id too
    assert len(backend.sql("SELECT * FROM atoma_changes")) == 2
    assert len(one(client, pull_op())["data"]["changes"]) == 2
    expires = backend.sql("SELECT created_at, expires_at FROM atoma_idempotency")
    assert all(e - c == 7 * 24 * 3600 * 1000 for c, e in expires)


def test_same_key_twice_in_one_op_applies_once(client: httpx.Client) -> None:
    meta = {"idempotencyKey": "same"}
    res = items(client, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}, "meta": meta}, {"entityId": "t1", "value": {"title": "b"}, "meta": meta}]))
    assert res[0]["ok"] and res[1] == {**res[0], "index": 1, "replay": True}


def test_ops_run_in_request_order(client: httpx.Client) -> None:
    res = ops(client, query_op("tasks", "q0"), write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}]), query_op("tasks", "q1"))
    assert [r["opId"] for r in res] == ["q0", "w", "q1"]
    assert res[0]["data"]["items"] == [] and len(res[2]["data"]["items"]) == 1


def test_bulk_failure_falls_back_to_one_transaction_per_item(make_live: Any, backend: Backend) -> None:
    adapter = backend.adapter()
    boom = adapter.transient_error

    def fail(stage: str) -> None:
        raise boom("injected")

    adapter._fault = fail  # type: ignore[method-assign]
    live: LiveServer = make_live(adapter=adapter)
    with httpx.Client(base_url=live.url) as c:
        op = write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "a"}}, {"entityId": "t1", "value": {"title": "b"}}, {"entityId": "t2", "value": {"title": 1}}])
        res = items(c, op)
        assert [r["ok"] for r in res] == [True, False, False]
        assert res[1]["error"]["code"] == "CONFLICT" and res[1]["current"]["value"]["title"] == "a"
        assert res[2]["error"]["code"] == "VALIDATION"
        replay = items(c, op)
        assert [r.pop("replay") for r in replay] == [True] * 3 and replay == res
    paths = {e.path for e in live.atoma.sink.of("item")}
    assert paths == {"per_item"}
    assert len(backend.sql("SELECT * FROM atoma_changes")) == 1


def test_pull_pages_filters_and_carries_values(client: httpx.Client) -> None:
    items(client, write_op("tasks", "create", [{"entityId": f"t{i}", "value": {"title": f"task {i}"}} for i in range(5)]))
    items(client, write_op("projects", "create", [{"entityId": "p1", "value": {"name": "Home"}}]))
    items(client, write_op("tasks", "delete", [{"entityId": "t0", "baseVersion": 1}]))
    everything = one(client, pull_op(0, limit=100))["data"]
    assert everything["hasMore"] is False
    kinds = {(c["resource"], c["entityId"]): c for c in everything["changes"]}
    assert kinds[("tasks", "t0")]["kind"] == "delete" and "value" not in kinds[("tasks", "t0")]
    assert kinds[("projects", "p1")]["value"] == {"id": "p1", "version": 1, "name": "Home", "owner": None}
    assert kinds[("tasks", "t1")]["value"]["title"] == "task 1"
    # paging
    seen, cursor = [], 0
    while True:
        page = one(client, pull_op(cursor, limit=2))["data"]
        seen += [(c["resource"], c["entityId"]) for c in page["changes"]]
        assert page["nextCursor"] >= cursor
        cursor = page["nextCursor"]
        if not page["hasMore"]:
            break
    assert set(seen) == set(kinds)
    assert cursor == everything["nextCursor"]
    # resource filter, in the database
    only = one(client, pull_op(0, resources=["projects"]))["data"]
    assert [c["entityId"] for c in only["changes"]] == ["p1"] and only["nextCursor"] == everything["nextCursor"]
    assert one(client, pull_op(everything["nextCursor"]))["data"] == {"nextCursor": everything["nextCursor"], "hasMore": False, "changes": []}


def test_pull_records_the_device_cursor(client: httpx.Client, backend: Backend) -> None:
    create(client, {"title": "a"})
    ops(client, pull_op(0), meta={"v": 1, "deviceId": "laptop"})
    ops(client, pull_op(1), meta={"v": 1, "deviceId": "laptop"})
    assert [r[:2] for r in backend.sql("SELECT device_id, last_cursor FROM atoma_devices")] == [("laptop", 1)]


def test_pull_of_unknown_resource_refuses_the_request(client: httpx.Client) -> None:
    r = client.post("/ops", json={"ops": [pull_op(0, resources=["nope"])]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "UNKNOWN_RESOURCE"


def test_query_paging_fields_and_total(client: httpx.Client) -> None:
    items(client, write_op("tasks", "create", [{"entityId": f"t{i}", "value": {"title": f"T{i % 3}", "priority": i}} for i in range(7)]))
    order = [{"field": "title", "direction": "asc"}, {"field": "priority", "direction": "desc"}]
    everything = one(client, query_op("tasks", orderBy=order))["data"]["items"]
    assert [t["id"] for t in everything] == ["t6", "t3", "t0", "t4", "t1", "t5", "t2"]
    seen, after, pages = [], None, []
    while True:
        params: dict[str, Any] = {"orderBy": order, "limit": 3, "includeTotal": True}
        if after:
            params["after"] = after
        data = one(client, query_op("tasks", **params))["data"]
        assert data["pageInfo"]["total"] == 7
        pages.append(data)
        seen += [t["id"] for t in data["items"]]
        after = data["pageInfo"]["cursor"]
        if not data["pageInfo"]["hasNext"]:
            break
    assert seen == [t["id"] for t in everything]
    back = one(client, query_op("tasks", orderBy=order, limit=3, before=pages[1]["items"][0] and pages[1]["pageInfo"]["cursor"]))["data"]
    assert [t["id"] for t in back["items"]] == seen[2:5]
    off = one(client, query_op("tasks", orderBy=order, limit=2, offset=5))["data"]
    assert [t["id"] for t in off["items"]] == seen[5:7] and off["pageInfo"]["hasNext"] is False
    sparse = one(client, query_op("tasks", where={"priority": {"gte": 5}}, fields=["title"]))["data"]["items"]
    assert sparse == [{"id": "t5", "version": 1, "title": "T2"}, {"id": "t6", "version": 1, "title": "T0"}]


def test_text_match_and_case_insensitive_operators(client: httpx.Client) -> None:
    titles = {"a": "Buy MILK today", "b": "Milchstraße", "c": "Ärger im Büro", "d": "buy-bread"}
    items(client, write_op("tasks", "create", [{"entityId": k, "value": {"title": v}} for k, v in titles.items()]))

    def ids(where: dict[str, Any]) -> list[str]:
        return [t["id"] for t in one(client, query_op("tasks", where=where))["data"]["items"]]

    assert ids({"title": {"match": "mil"}}) == ["a", "b"]
    assert ids({"title": {"match": "buy tod"}}) == ["a"]
    assert ids({"title": {"match": "BÜR är"}}) == ["c"]
    assert ids({"title": {"contains": "STRASSE"}}) == []
    assert ids({"title": {"contains": "STRAßE"}}) == ["b"]
    assert ids({"title": {"startsWith": "äRG"}}) == ["c"]
    assert ids({"title": {"endsWith": "BREAD"}}) == ["d"]


def test_pull_before_trimmed_history_is_cursor_expired(client: httpx.Client, backend: Backend) -> None:
    items(client, write_op("tasks", "create", [{"entityId": f"t{i}", "value": {"title": "x"}} for i in range(3)]))
    backend.sql("INSERT INTO atoma_meta(key, value) VALUES ('trimmed_through', '2')")
    r = one(client, pull_op(1))
    assert r["ok"] is False
    assert r["error"] == {"code": "CURSOR_EXPIRED", "message": r["error"]["message"], "kind": "sync", "retryable": False, "details": {"minCursor": 2}}
    assert one(client, pull_op(2))["ok"]


def test_app_mounts_inside_a_host_app(backend: Backend) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from server_reference import create_app

    atoma_app = create_app(backend.adapter())
    host = Starlette(routes=[Mount("/atoma", app=atoma_app)])
    with LiveServer(host) as live, httpx.Client(base_url=live.url + "/atoma") as c:
        (r,) = items(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "mounted"}}]))
        assert r["ok"]
        import asyncio

        asyncio.run_coroutine_threadsafe(atoma_app.state.atoma.close(), live.server_loop()).result(10)
