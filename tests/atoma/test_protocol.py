"""Tests of atoma.protocol: round trips, wire naming, strict decoding, semantic validation."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoma import protocol as p
from atoma.errors import AtomaError, ValidationError

# --------------------------------------------------------------------------- fixtures


def full_request() -> p.OpsRequest:
    """A request that sets every optional field of every op."""
    return p.OpsRequest(
        meta=p.RequestMeta(v=1, device_id="dev-1", client_time_ms=1_700_000_000_000),
        ops=[
            p.QueryOp(
                op_id="q1",
                resource="tasks",
                params=p.QueryParams(
                    where={"done": False, "title": {"contains": "milk"}},
                    order_by=[p.OrderBy(field="title", direction="desc"), p.OrderBy(field="rank")],
                    limit=50,
                    after="opaque-token",
                    include_total=True,
                    fields=["title", "done"],
                ),
            ),
            p.WriteOp(
                op_id="w1",
                resource="tasks",
                action="update",
                items=[
                    p.WriteItem(
                        entity_id="t1",
                        base_version=3,
                        value={"done": True},
                        meta=p.ItemMeta(idempotency_key="k-1", client_time_ms=1_700_000_000_001),
                    )
                ],
                options=p.WriteOptions(
                    returning=False, merge=False, upsert=p.UpsertOptions(mode="loose")
                ),
            ),
            p.PullOp(op_id="c1", cursor=42, limit=200, resources=["tasks", "projects"]),
        ],
    )


def full_response() -> p.OpsResponse:
    return p.OpsResponse(
        ok=True,
        data=p.ResultsData(
            results=[
                p.OpResult(
                    op_id="q1",
                    ok=True,
                    data=p.QueryResultData(
                        items=[{"id": "t2", "version": 1, "title": "Buy milk", "done": False}],
                        page_info=p.PageInfo(cursor="tok", has_next=True, total=7),
                    ),
                ),
                p.OpResult(
                    op_id="w1",
                    ok=True,
                    data=p.WriteResultData(
                        results=[
                            p.WriteItemResult(
                                index=0,
                                ok=True,
                                entity_id="t1",
                                version=4,
                                data={"id": "t1", "version": 4, "title": "x", "done": True},
                                replay=True,
                            ),
                            p.WriteItemResult(
                                index=1,
                                ok=False,
                                error=p.standard_error(p.CONFLICT, "version moved"),
                                current=p.CurrentValue(value=None, version=9),
                            ),
                        ]
                    ),
                ),
                p.OpResult(
                    op_id="c1",
                    ok=True,
                    data=p.PullResultData(
                        next_cursor=44,
                        has_more=False,
                        changes=[
                            p.Change(
                                resource="tasks",
                                entity_id="t1",
                                kind="upsert",
                                version=4,
                                changed_at_ms=1_700_000_000_500,
                                value={"id": "t1", "version": 4, "title": "x", "done": True},
                            ),
                            p.Change(
                                resource="tasks",
                                entity_id="t9",
                                kind="delete",
                                version=2,
                                changed_at_ms=1_700_000_000_600,
                            ),
                        ],
                    ),
                ),
            ]
        ),
        meta=p.ResponseMeta(v=1, server_time_ms=1_700_000_000_700),
    )


def wire(obj: Any) -> Any:
    """The plain JSON structure of a message."""
    return msgspec.json.decode(p.encode(obj))


def body(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def simple_request(**op: Any) -> dict[str, Any]:
    base = {"opId": "o1", "kind": "query", "resource": "tasks"}
    base.update(op)
    return {"meta": {"v": 1}, "ops": [base]}


def write_request(action: str, **item: Any) -> dict[str, Any]:
    it: dict[str, Any] = {"meta": {"idempotencyKey": "k1"}}
    it.update(item)
    return {
        "meta": {"v": 1},
        "ops": [
            {"opId": "w", "kind": "write", "resource": "tasks", "action": action, "items": [it]}
        ],
    }


def expect_error(raw: Any, path: str, *, code: str = "VALIDATION") -> ValidationError:
    data = raw if isinstance(raw, bytes) else body(raw)
    with pytest.raises(ValidationError) as info:
        p.decode_request(data)
    err = info.value
    assert err.path == path
    assert f"`{path}`" in err.message
    assert err.code == code
    assert err.details is not None and err.details["path"] == path
    return err


# --------------------------------------------------------------------------- round trips


def test_request_round_trip() -> None:
    req = full_request()
    assert p.decode_request(p.encode(req)) == req


def test_minimal_request_round_trip_and_defaults() -> None:
    req = p.OpsRequest(
        ops=[
            p.QueryOp(op_id="a", resource="tasks"),
            p.PullOp(op_id="b"),
            p.WriteOp(
                op_id="c",
                resource="tasks",
                action="create",
                items=[p.WriteItem(value={"title": "t"}, meta=p.ItemMeta(idempotency_key="k"))],
            ),
        ]
    )
    decoded = p.decode_request(p.encode(req))
    assert decoded == req
    assert decoded.meta.v == p.PROTOCOL_VERSION == 1
    q, pull, w = decoded.ops
    assert isinstance(q, p.QueryOp) and q.params == p.QueryParams()
    assert isinstance(pull, p.PullOp) and pull.cursor == 0 and pull.limit is None
    assert isinstance(w, p.WriteOp)
    assert w.options.returning is True and w.options.merge is True
    assert w.options.upsert.mode == "strict"


def test_request_meta_is_optional_on_the_wire() -> None:
    req = p.decode_request(b'{"ops": [{"opId": "a", "kind": "changes.pull"}]}')
    assert req.meta == p.RequestMeta()


def test_response_round_trip() -> None:
    resp = full_response()
    assert p.decode_response(p.encode(resp), ["query", "write", "changes.pull"]) == resp


def test_error_response_round_trip() -> None:
    resp = p.OpsResponse(
        ok=False,
        error=p.standard_error(
            p.LIMIT_EXCEEDED, "too many ops", details={"max": 100, "actual": 101}
        ),
        meta=p.ResponseMeta(server_time_ms=5),
    )
    assert p.decode_response(p.encode(resp), []) == resp
    assert p.decode_response(p.encode(resp), ["query"]) == resp  # kinds do not matter here


def test_op_level_error_result_round_trip() -> None:
    resp = p.OpsResponse(
        ok=True,
        data=p.ResultsData(
            results=[
                p.OpResult(
                    op_id="c1",
                    ok=False,
                    error=p.standard_error(
                        p.CURSOR_EXPIRED, "cursor too old", details={"minCursor": 120}
                    ),
                )
            ]
        ),
        meta=p.ResponseMeta(server_time_ms=1),
    )
    assert p.decode_response(p.encode(resp), ["changes.pull"]) == resp


@pytest.mark.parametrize(
    "msg",
    [
        p.RequestMeta(v=1, device_id="d", client_time_ms=3),
        p.OrderBy(field="title", direction="desc"),
        p.QueryParams(where={"a": {"in": [1, 2]}}, offset=5, limit=0, include_total=True),
        p.ItemMeta(idempotency_key="k", client_time_ms=1),
        p.WriteItem(entity_id="e", base_version=0, meta=p.ItemMeta(idempotency_key="k")),
        p.UpsertOptions(mode="loose"),
        p.WriteOptions(returning=False),
        p.StandardError(code="X", message="m", kind="sync", retryable=True, details={"a": 1}),
        p.CurrentValue(value={"a": 1}, version=2),
        p.CurrentValue(value=None, version=2),
        p.WriteItemResult(index=3, ok=True, entity_id="e", version=1),
        p.PageInfo(),
        p.PageInfo(cursor="c", has_next=True, total=0),
        p.QueryResultData(items=[], page_info=p.PageInfo()),
        p.Change(resource="r", entity_id="e", kind="delete", version=3, changed_at_ms=9),
        p.PullResultData(next_cursor=0, has_more=False, changes=[]),
        p.ResponseMeta(server_time_ms=1),
        p.NotifyPayload(resources=["tasks"], cursor=12),
        p.QueryOp(op_id="a", resource="r"),
        p.WriteOp(op_id="a", resource="r", action="delete", items=[]),
        p.PullOp(op_id="a", cursor=1),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_struct_round_trips(msg: msgspec.Struct) -> None:
    assert msgspec.json.decode(p.encode(msg), type=type(msg)) == msg


def test_notify_and_change_round_trip() -> None:
    n = p.NotifyPayload(resources=["tasks", "projects"], cursor=77)
    assert p.decode_notify(p.encode(n)) == n
    assert p.decode_notify(p.encode(n).decode()) == n  # SSE data arrives as text
    c = p.Change(
        resource="tasks", entity_id="t1", kind="upsert", version=2, changed_at_ms=1, value={"a": 1}
    )
    assert p.decode_change(p.encode(c)) == c


_ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=10)
)
_value = st.dictionaries(_ident, _json_scalar, max_size=4)
_nonneg = st.integers(0, 2**62)
_item_meta = st.builds(
    p.ItemMeta, idempotency_key=_ident, client_time_ms=st.none() | st.integers(0, 2**50)
)


@st.composite
def _write_ops(draw: st.DrawFn) -> p.WriteOp:
    action = draw(st.sampled_from(["create", "update", "upsert", "delete"]))
    items = []
    for _ in range(draw(st.integers(1, 3))):
        items.append(
            p.WriteItem(
                entity_id=draw(_ident) if action != "create" else draw(st.none() | _ident),
                base_version=(
                    draw(_nonneg) if action in ("update", "delete") else draw(st.none() | _nonneg)
                ),
                value=draw(_value) if action != "delete" else draw(st.none() | _value),
                meta=draw(_item_meta),
            )
        )
    return p.WriteOp(
        op_id="x",
        resource=draw(_ident),
        action=action,
        items=items,
        options=draw(
            st.builds(
                p.WriteOptions,
                returning=st.booleans(),
                merge=st.booleans(),
                upsert=st.builds(p.UpsertOptions, mode=st.sampled_from(["strict", "loose"])),
            )
        ),
    )


_query_ops = st.builds(
    p.QueryOp,
    op_id=st.just("x"),
    resource=_ident,
    params=st.builds(
        p.QueryParams,
        where=st.none() | _value,
        order_by=st.lists(
            st.builds(p.OrderBy, field=_ident, direction=st.sampled_from(["asc", "desc"])),
            max_size=3,
        ),
        limit=st.none() | _nonneg,
        offset=st.none() | _nonneg,
        include_total=st.booleans(),
        fields=st.none() | st.lists(_ident, max_size=3),
    ),
)
_pull_ops = st.builds(
    p.PullOp,
    op_id=st.just("x"),
    cursor=_nonneg,
    limit=st.none() | _nonneg,
    resources=st.none() | st.lists(_ident, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(st.one_of(_query_ops, _write_ops(), _pull_ops), max_size=5),
    device=st.none() | _ident,
)
def test_any_valid_request_round_trips(ops: list[p.Op], device: str | None) -> None:
    for i, op in enumerate(ops):
        op.op_id = f"op-{i}"
    req = p.OpsRequest(meta=p.RequestMeta(device_id=device), ops=ops)
    assert p.decode_request(p.encode(req)) == req


# --------------------------------------------------------------------------- wire naming


def _keys(obj: Any, skip: frozenset[str] = frozenset()) -> set[str]:
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            if k not in skip:
                out |= _keys(v, skip)
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys(v, skip)
    return out


def test_request_keys_are_camel_case_on_the_wire() -> None:
    w = wire(full_request())
    keys = _keys(w, skip=frozenset({"value", "where"}))
    for k in (
        "meta", "deviceId", "clientTimeMs", "opId", "kind", "orderBy", "includeTotal",
        "baseVersion", "entityId", "idempotencyKey", "returning", "merge", "upsert", "mode",
        "cursor", "resources",
    ):  # fmt: skip
        assert k in keys, k
    assert not [k for k in keys if "_" in k]
    assert [op["kind"] for op in w["ops"]] == ["query", "write", "changes.pull"]


def test_response_keys_are_camel_case_on_the_wire() -> None:
    w = wire(full_response())
    keys = _keys(w, skip=frozenset({"value", "items"}))
    for k in (
        "opId", "pageInfo", "hasNext", "total", "entityId", "version", "replay", "current",
        "nextCursor", "hasMore", "changedAtMs", "serverTimeMs",
    ):  # fmt: skip
        assert k in keys, k
    assert not [k for k in keys if "_" in k]


def test_entity_values_pass_through_untouched() -> None:
    req = p.OpsRequest(
        ops=[
            p.WriteOp(
                op_id="w",
                resource="tasks",
                action="create",
                items=[
                    p.WriteItem(
                        entity_id="t1",
                        value={"project_id": "p1", "due_at": None},
                        meta=p.ItemMeta(idempotency_key="k"),
                    )
                ],
            )
        ]
    )
    assert wire(req)["ops"][0]["items"][0]["value"] == {"project_id": "p1", "due_at": None}
    op = p.decode_request(p.encode(req)).ops[0]
    assert isinstance(op, p.WriteOp)
    assert op.items[0].value == {"project_id": "p1", "due_at": None}


def test_optional_fields_are_omitted_but_meaningful_ones_are_not() -> None:
    w = wire(
        p.OpsRequest(
            ops=[
                p.WriteOp(
                    op_id="w",
                    resource="tasks",
                    action="create",
                    items=[p.WriteItem(value={"a": 1}, meta=p.ItemMeta(idempotency_key="k"))],
                )
            ]
        )
    )
    assert w["meta"]["v"] == 1  # the version is always explicit
    assert w["ops"][0]["items"][0] == {"value": {"a": 1}, "meta": {"idempotencyKey": "k"}}
    r = wire(p.WriteItemResult(index=0, ok=True, entity_id="e", version=1))
    assert r == {"index": 0, "ok": True, "entityId": "e", "version": 1}
    assert wire(p.PageInfo())["hasNext"] is False
    assert wire(p.CurrentValue(value=None, version=3)) == {"value": None, "version": 3}
    change = p.Change(resource="r", entity_id="e", kind="delete", version=1, changed_at_ms=2)
    assert wire(change) == {
        "resource": "r", "entityId": "e", "kind": "delete", "version": 1, "changedAtMs": 2,
    }  # fmt: skip


# --------------------------------------------------------------------------- strict decoding


def test_wrong_type_for_base_version_names_the_path() -> None:
    err = expect_error(write_request("update", entityId="t1", baseVersion="3", value={}),
                       "$.ops[0].items[0].baseVersion")  # fmt: skip
    assert "Expected `int" in err.message and "got `str`" in err.message


def test_bool_is_not_an_int() -> None:
    expect_error(write_request("update", entityId="t1", baseVersion=True, value={}),
                 "$.ops[0].items[0].baseVersion")  # fmt: skip


def test_unknown_op_kind() -> None:
    err = expect_error(simple_request(kind="query.all"), "$.ops[0].kind")
    assert "query.all" in err.message and "changes.pull" in err.message


def test_missing_op_kind() -> None:
    req = simple_request()
    del req["ops"][0]["kind"]
    expect_error(req, "$.ops[0].kind")


def test_missing_op_id() -> None:
    req = simple_request()
    del req["ops"][0]["opId"]
    err = expect_error(req, "$.ops[0].opId")
    assert "opId" in err.message and "missing" in err.message


def test_empty_op_id() -> None:
    expect_error(simple_request(opId=""), "$.ops[0].opId")


def test_missing_idempotency_key() -> None:
    req = write_request("create", value={"a": 1})
    req["ops"][0]["items"][0]["meta"] = {}
    expect_error(req, "$.ops[0].items[0].meta.idempotencyKey")


def test_negative_query_limit() -> None:
    err = expect_error(simple_request(params={"limit": -1}), "$.ops[0].params.limit")
    assert ">= 0" in err.message


def test_negative_offset() -> None:
    expect_error(simple_request(params={"offset": -5}), "$.ops[0].params.offset")


def test_negative_pull_cursor_and_limit() -> None:
    expect_error(simple_request(kind="changes.pull", cursor=-1), "$.ops[0].cursor")
    expect_error(simple_request(kind="changes.pull", limit=-1), "$.ops[0].limit")


def test_negative_base_version() -> None:
    expect_error(write_request("update", entityId="t", baseVersion=-1, value={}),
                 "$.ops[0].items[0].baseVersion")  # fmt: skip


def test_bad_enum_values() -> None:
    expect_error(write_request("patch", entityId="t", value={}), "$.ops[0].action")
    expect_error(simple_request(params={"orderBy": [{"field": "a", "direction": "up"}]}),
                 "$.ops[0].params.orderBy[0].direction")  # fmt: skip
    req = write_request("upsert", entityId="t", value={})
    req["ops"][0]["options"] = {"upsert": {"mode": "lenient"}}
    expect_error(req, "$.ops[0].options.upsert.mode")


def test_where_must_be_an_object() -> None:
    expect_error(simple_request(params={"where": ["done", False]}), "$.ops[0].params.where")


def test_value_must_be_an_object() -> None:
    expect_error(write_request("create", value="title"), "$.ops[0].items[0].value")


def test_ops_must_be_a_list_and_body_an_object() -> None:
    expect_error({"ops": {"a": 1}}, "$.ops")
    expect_error({"meta": {"v": 1}}, "$.ops")
    expect_error([1, 2], "$")
    expect_error(b"null", "$")


@pytest.mark.parametrize("raw", [b"{", b"", b"{'ops': []}", b'{"ops": []} trailing', b"\xff"])
def test_invalid_json(raw: bytes) -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_request(raw)
    assert info.value.message.startswith("body is not valid JSON: ")
    assert info.value.path == "$"
    assert info.value.code == "VALIDATION"


def test_validation_error_is_an_atoma_error() -> None:
    with pytest.raises(AtomaError):
        p.decode_request(b"{")


def test_unknown_extra_fields_are_ignored() -> None:
    req = {
        "meta": {"v": 1, "traceId": "t-1", "future": {"x": 1}},
        "extra": [1, 2, 3],
        "ops": [
            {"opId": "q", "kind": "query", "resource": "tasks", "hint": "fast",
             "params": {"limit": 1, "select": {"a": True}}},
            {"opId": "w", "kind": "write", "resource": "tasks", "action": "create",
             "items": [{"value": {"a": 1}, "patch": [], "meta": {"idempotencyKey": "k", "x": 1}}],
             "options": {"conflictStrategy": "manual", "upsert": {"mode": "loose", "y": 2}}},
            {"opId": "c", "kind": "changes.pull", "cursor": 3, "since": "yesterday"},
        ],
    }  # fmt: skip
    decoded = p.decode_request(body(req))
    assert [op.op_id for op in decoded.ops] == ["q", "w", "c"]
    assert decoded.ops[1].options.upsert.mode == "loose"  # type: ignore[union-attr]

    resp = wire(full_response())
    resp["debug"] = True
    resp["data"]["results"][0]["timingMs"] = 3
    resp["data"]["results"][0]["data"]["pageInfo"]["estimate"] = 10
    resp["data"]["results"][1]["data"]["transactionApplied"] = True
    resp["data"]["results"][2]["data"]["changes"][0]["actor"] = "someone"
    decoded_resp = p.decode_response(body(resp), ["query", "write", "changes.pull"])
    assert decoded_resp == full_response()
    assert p.decode_notify(b'{"resources": ["a"], "cursor": 1, "reason": "x"}').cursor == 1


# --------------------------------------------------------------------------- semantic validation


def test_unsupported_version() -> None:
    req = simple_request()
    req["meta"]["v"] = 2
    err = expect_error(req, "$.meta.v", code=p.UNSUPPORTED_VERSION)
    assert "2" in err.message
    assert err.details is not None and err.details["supported"] == [1]
    assert p.error_kind(err.code) == "validation"


def test_duplicate_op_ids() -> None:
    req = {
        "ops": [
            {"opId": "a", "kind": "query", "resource": "tasks"},
            {"opId": "b", "kind": "changes.pull"},
            {"opId": "a", "kind": "changes.pull"},
        ]
    }
    err = expect_error(req, "$.ops[2].opId")
    assert "duplicate" in err.message and "'a'" in err.message and "$.ops[0]" in err.message


def test_empty_ops_list_is_accepted() -> None:
    assert p.decode_request(b'{"meta": {"v": 1}, "ops": []}').ops == []


def test_write_needs_items() -> None:
    req = write_request("create", value={})
    req["ops"][0]["items"] = []
    err = expect_error(req, "$.ops[0].items")
    assert "at least one item" in err.message


@pytest.mark.parametrize(
    ("action", "item", "path"),
    [
        ("update", {"baseVersion": 1, "value": {}}, "entityId"),
        ("delete", {"baseVersion": 1}, "entityId"),
        ("upsert", {"value": {}}, "entityId"),
        ("update", {"entityId": "t", "value": {}}, "baseVersion"),
        ("delete", {"entityId": "t"}, "baseVersion"),
        ("create", {"entityId": "t"}, "value"),
        ("update", {"entityId": "t", "baseVersion": 1}, "value"),
        ("upsert", {"entityId": "t", "baseVersion": 1}, "value"),
        ("create", {"entityId": "t", "value": None}, "value"),
    ],
)
def test_item_requirements_per_action(action: str, item: dict[str, Any], path: str) -> None:
    err = expect_error(write_request(action, **item), f"$.ops[0].items[0].{path}")
    assert action in err.message and path in err.message


@pytest.mark.parametrize(
    ("action", "item"),
    [
        ("create", {"value": {"a": 1}}),
        ("create", {"entityId": "t", "value": {"a": 1}}),
        ("upsert", {"entityId": "t", "value": {"a": 1}}),
        ("upsert", {"entityId": "t", "baseVersion": 2, "value": {"a": 1}}),
        ("update", {"entityId": "t", "baseVersion": 2, "value": {}}),
        ("delete", {"entityId": "t", "baseVersion": 2}),
    ],
)
def test_valid_items_per_action(action: str, item: dict[str, Any]) -> None:
    req = p.decode_request(body(write_request(action, **item)))
    assert isinstance(req.ops[0], p.WriteOp) and req.ops[0].action == action


def test_second_bad_item_is_named() -> None:
    req = write_request("delete", entityId="a", baseVersion=1)
    req["ops"][0]["items"].append({"entityId": "b", "meta": {"idempotencyKey": "k2"}})
    expect_error(req, "$.ops[0].items[1].baseVersion")


def test_offset_after_before_are_exclusive() -> None:
    expect_error(simple_request(params={"offset": 1, "after": "x"}), "$.ops[0].params.after")
    expect_error(simple_request(params={"after": "x", "before": "y"}), "$.ops[0].params.before")
    assert p.decode_request(body(simple_request(params={"before": "y", "limit": 0})))


def test_validate_request_on_built_objects() -> None:
    req = full_request()
    p.validate_request(req)
    req.ops.append(p.PullOp(op_id="q1"))
    with pytest.raises(ValidationError) as info:
        p.validate_request(req)
    assert info.value.path == "$.ops[3].opId"


# --------------------------------------------------------------------------- decode_response


def test_decode_response_types_data_by_op_kind() -> None:
    resp = p.decode_response(p.encode(full_response()), ["query", "write", "changes.pull"])
    assert resp.ok and resp.data is not None and resp.meta is not None
    q, w, c = resp.data.results
    assert isinstance(q.data, p.QueryResultData)
    assert isinstance(q.data.page_info, p.PageInfo) and q.data.page_info.has_next is True
    assert isinstance(w.data, p.WriteResultData)
    assert isinstance(w.data.results[1].error, p.StandardError)
    assert isinstance(w.data.results[1].current, p.CurrentValue)
    assert w.data.results[0].replay is True and w.data.results[1].replay is False
    assert isinstance(c.data, p.PullResultData) and c.data.next_cursor == 44
    assert isinstance(c.data.changes[0], p.Change) and c.data.changes[1].value is None
    assert resp.meta.server_time_ms == 1_700_000_000_700


def test_decode_response_accepts_the_request_and_checks_op_ids() -> None:
    req = full_request()
    resp = p.decode_response(p.encode(full_response()), req)
    assert resp == full_response()
    assert p.decode_response(p.encode(full_response()), req.ops) == full_response()

    bad = wire(full_response())
    bad["data"]["results"][1]["opId"] = "other"
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(bad), req)
    assert info.value.path == "$.data.results[1].opId"
    # with bare kinds, op ids cannot be checked
    assert p.decode_response(body(bad), ["query", "write", "changes.pull"]).ok


def test_decode_response_kind_decides_the_type() -> None:
    """The same bytes decode under the kind given; a mismatching kind is an error."""
    payload = wire(full_response())
    payload["data"]["results"] = payload["data"]["results"][:1]  # a query result
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(payload), ["changes.pull"])
    assert info.value.path == "$.data.results[0].data.nextCursor"


def test_decode_response_bad_nested_type_names_the_path() -> None:
    payload = wire(full_response())
    payload["data"]["results"][0]["data"]["pageInfo"]["hasNext"] = "yes"
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(payload), ["query", "write", "changes.pull"])
    assert info.value.path == "$.data.results[0].data.pageInfo.hasNext"
    assert "`$.data.results[0].data.pageInfo.hasNext`" in info.value.message

    payload = wire(full_response())
    payload["data"]["results"][1]["data"]["results"][0]["version"] = "4"
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(payload), ["query", "write", "changes.pull"])
    assert info.value.path == "$.data.results[1].data.results[0].version"

    payload = wire(full_response())
    payload["data"]["results"][2]["data"] = [1]
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(payload), ["query", "write", "changes.pull"])
    assert info.value.path == "$.data.results[2].data"


def test_decode_response_result_count_must_match() -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_response(p.encode(full_response()), ["query", "write"])
    assert info.value.path == "$.data.results"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda w: w.pop("data"), "$.data"),
        (lambda w: w["data"]["results"][0].pop("data"), "$.data.results[0].data"),
        (lambda w: w["data"]["results"][0].__setitem__("data", None), "$.data.results[0].data"),
        (lambda w: w["data"]["results"][0].__setitem__("ok", False), "$.data.results[0].error"),
        (lambda w: w["data"]["results"][1]["data"]["results"][0].pop("version"),
         "$.data.results[1].data.results[0].version"),
        (lambda w: w["data"]["results"][1]["data"]["results"][0].pop("entityId"),
         "$.data.results[1].data.results[0].entityId"),
        (lambda w: w["data"]["results"][1]["data"]["results"][1].pop("error"),
         "$.data.results[1].data.results[1].error"),
        (lambda w: w["data"]["results"][1]["data"]["results"][1].pop("current"),
         "$.data.results[1].data.results[1].current"),
        (lambda w: w.__setitem__("ok", "true"), "$.ok"),
        (lambda w: w["data"]["results"][0].pop("opId"), "$.data.results[0].opId"),
    ],
)  # fmt: skip
def test_decode_response_invariants(mutate: Any, path: str) -> None:
    w = wire(full_response())
    mutate(w)
    with pytest.raises(ValidationError) as info:
        p.decode_response(body(w), ["query", "write", "changes.pull"])
    assert info.value.path == path
    assert f"`{path}`" in info.value.message


def test_decode_response_error_envelope_needs_error() -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_response(b'{"ok": false}', [])
    assert info.value.path == "$.error"


def test_decode_response_invalid_json_and_unknown_kind() -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_response(b"<html>502 Bad Gateway</html>", ["query"])
    assert info.value.message.startswith("body is not valid JSON")
    with pytest.raises(ValidationError):
        p.decode_response(p.encode(full_response()), ["query", "write", "pull"])
    with pytest.raises(TypeError):
        p.decode_response(p.encode(full_response()), "query")  # type: ignore[arg-type]


def test_ops_response_is_not_directly_decodable() -> None:
    """Documented limitation: OpResult.data is an untagged union; use decode_response."""
    with pytest.raises(TypeError):
        msgspec.json.decode(p.encode(full_response()), type=p.OpsResponse)


def test_result_data_type() -> None:
    assert p.result_data_type("query") is p.QueryResultData
    assert p.result_data_type("write") is p.WriteResultData
    assert p.result_data_type("changes.pull") is p.PullResultData
    assert set(p.OP_KINDS) == {"query", "write", "changes.pull"}
    with pytest.raises(ValidationError):
        p.result_data_type("nope")


# --------------------------------------------------------------------------- other decoders


def test_decode_notify_errors() -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_notify('{"resources": "tasks", "cursor": 1}')
    assert info.value.path == "$.resources"
    with pytest.raises(ValidationError) as info:
        p.decode_notify('{"resources": []}')
    assert info.value.path == "$.cursor"
    with pytest.raises(ValidationError) as info:
        p.decode_notify("ping")
    assert info.value.message.startswith("body is not valid JSON")


def test_decode_change_errors() -> None:
    with pytest.raises(ValidationError) as info:
        p.decode_change(b'{"resource": "r", "entityId": "e", "kind": "patch", "version": 1, '
                        b'"changedAtMs": 1}')  # fmt: skip
    assert info.value.path == "$.kind"


# --------------------------------------------------------------------------- errors


def test_error_kinds() -> None:
    expected = {
        p.VALIDATION: "validation",
        p.UNSUPPORTED_VERSION: "validation",
        p.UNKNOWN_RESOURCE: "validation",
        p.NOT_FOUND: "not_found",
        p.CONFLICT: "conflict",
        p.CURSOR_EXPIRED: "sync",
        p.LIMIT_EXCEEDED: "limits",
        p.UNAUTHORIZED: "auth",
        p.FORBIDDEN: "auth",
        p.INTERNAL: "internal",
        p.ADAPTER: "adapter",
    }
    for code, kind in expected.items():
        assert p.error_kind(code) == kind
        assert p.standard_error(code, "m").kind == kind
    assert p.error_kind("SOMETHING_NEW") == "internal"


def test_to_standard_error() -> None:
    try:
        p.decode_request(b'{"ops": [{"kind": "query"}]}')
    except ValidationError as exc:
        err = p.to_standard_error(exc)
    assert err.code == "VALIDATION" and err.kind == "validation"
    assert err.details == {"path": "$.ops[0].opId"}
    assert "opId" in err.message

    leak = p.to_standard_error(RuntimeError("UNIQUE constraint failed: entities.secret_col"))
    assert leak.code == p.INTERNAL and leak.kind == "internal"
    assert "secret" not in p.encode(leak).decode()


def test_module_exports() -> None:
    for name in p.__all__:
        assert hasattr(p, name), name
    assert p.Op is not None and p.ResultData is not None
