"""Property test: the server's query results over HTTP equal the reference evaluator of
:mod:`atoma.query` (filter with ``matches``, sort with ``sort_key``), on every backend.

Strings are drawn from a realistic alphabet (ASCII, accented Latin, a little Greek, and the
case-folding troublemakers) so that ICU's and Python's Unicode tables agree.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoma import query as q

from .conftest import Backend
from .live import LiveServer, ops, query_op, write_op
from .schema import schema as SCHEMA

ALPHABET = string.ascii_letters + string.digits + " -_%'.,äöüÄÖÜßéèêÉçñøåæœÆŒİıΣσςΑΩ"
SPECIAL = ["", "a", "A", "ab", "AB", "ß", "SS", "straße", "İ", "i", "Σ", "σ", "ΑΣ", "ä", "Ä", "é", "1", "10", "2", " ", "%", "_", "'"]
texts = st.one_of(st.sampled_from(SPECIAL), st.text(alphabet=ALPHABET, max_size=6))
ints = st.one_of(st.sampled_from([0, 1, -1, 2, 10, 2**53 + 1, -(2**63), 2**63 - 1]), st.integers(-(2**63), 2**63 - 1))
floats = st.one_of(
    st.sampled_from([0.0, 1.0, -0.5, 2.5, 1e300, 2.0**63, -(2.0**63), 1e16, 0.1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
WORD_ALPHABET = string.ascii_letters + string.digits + "äöüéßÄÖÜÉ"
words_text = st.lists(st.text(alphabet=WORD_ALPHABET, min_size=1, max_size=5), max_size=4).map(" ".join)
match_query = st.lists(st.text(alphabet=WORD_ALPHABET, min_size=1, max_size=3), min_size=1, max_size=2).map(" - ".join)

FIELD_VALUES = {
    "s": st.one_of(st.none(), texts),
    "n": st.one_of(st.none(), ints),
    "f": st.one_of(st.none(), floats),
    "b": st.one_of(st.none(), st.booleans()),
    "m": st.one_of(st.none(), ints, floats, texts),
    "id": st.sampled_from(["a", "b", "c", "A", "ä", "a1", "z"]),
}
record = st.fixed_dictionaries(
    {"id": st.text(alphabet="abcxyzAÄ0", min_size=1, max_size=3)},
    optional={k: v for k, v in FIELD_VALUES.items() if k != "id"} | {"t": words_text},
)
records = st.lists(record, max_size=20, unique_by=lambda r: r["id"])


def comparison(field: str) -> st.SearchStrategy[dict[str, Any]]:
    values = FIELD_VALUES[field]
    ops_ = [
        st.tuples(st.just("eq"), values),
        st.tuples(st.just("ne"), values),
        st.tuples(st.just("in"), st.lists(values, max_size=3)),
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), values.filter(lambda v: v is not None)),
        st.tuples(st.just("isNull"), st.booleans()),
    ]
    if field in ("s", "m", "id"):
        ops_.append(st.tuples(st.sampled_from(["startsWith", "endsWith", "contains"]), texts))
    return st.one_of(ops_).map(lambda ov: {field: {ov[0]: ov[1]}})


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    fields = ["s", "n", "f", "b", "m", "id"]
    literal = st.sampled_from(fields).flatmap(lambda f: FIELD_VALUES[f].map(lambda v: {f: v}))
    return st.one_of(st.sampled_from(fields).flatmap(comparison), literal, match_query.map(lambda w: {"t": {"match": w}}))


wheres = st.recursive(
    leaf(),
    lambda sub: st.one_of(
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        sub.map(lambda x: {"not": x}),
    ),
    max_leaves=5,
)
orders = st.lists(
    st.tuples(st.sampled_from(["s", "n", "f", "b", "m", "t", "id", "version"]), st.sampled_from(["asc", "desc"])), max_size=3
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def prop_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Backend, httpx.Client]]:
    """One live server per backend for the whole module (examples reset the data)."""
    cleanup = None
    if request.param == "sqlite":
        backend = Backend("sqlite", str(tmp_path_factory.mktemp("prop") / "server.db"))
    else:
        import psycopg
        from psycopg.conninfo import make_conninfo

        base = request.getfixturevalue("pg_dsn")
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')

        def cleanup() -> None:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')

        backend = Backend("postgres", make_conninfo(base, options=f"-csearch_path={name}"))
    from server_reference import NullSink, create_app

    live = LiveServer(create_app(backend.adapter(), sink=NullSink())).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            yield backend, client
    finally:
        live.stop()
        if cleanup is not None:
            cleanup()


def _load(backend: Backend, client: httpx.Client, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace every rec with ``recs`` (through /ops) and return them as the server stores them."""
    backend.sql("DELETE FROM atoma_entities WHERE resource = 'recs'")
    if recs:
        (res,) = ops(client, write_op("recs", "create", [{"entityId": r["id"], "value": r} for r in recs]))
        assert all(r["ok"] for r in res["data"]["results"]), res
    (got,) = ops(client, query_op("recs", limit=1000))
    return got["data"]["items"]


def _expected(stored: list[dict[str, Any]], where: dict[str, Any] | None, order_by: list[Any]) -> list[str]:
    res = SCHEMA["recs"]
    node = q.parse_where(where, "recs", res.fields, res.text_fields)
    order = q.parse_order(order_by, "recs", res.fields)
    return [r["id"] for r in sorted((r for r in stored if q.matches(node, r)), key=lambda r: q.sort_key(order, r))]


def _order(order_by: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": f, "direction": d} for f, d in order_by]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=records, where=wheres, order_by=orders)
def test_query_matches_reference(prop_server: tuple[Backend, httpx.Client], recs: list[dict[str, Any]], where: dict[str, Any], order_by: list[Any]) -> None:
    backend, client = prop_server
    stored = _load(backend, client, recs)
    expected = _expected(stored, where, order_by)
    (res,) = ops(client, query_op("recs", where=where, orderBy=_order(order_by), limit=1000, includeTotal=True))
    assert res["ok"], res
    assert [r["id"] for r in res["data"]["items"]] == expected
    assert res["data"]["pageInfo"]["total"] == len(expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=records, where=st.one_of(st.none(), wheres), order_by=orders, size=st.integers(1, 4))
def test_keyset_pages_walk_the_same_rows(
    prop_server: tuple[Backend, httpx.Client], recs: list[dict[str, Any]], where: dict[str, Any] | None, order_by: list[Any], size: int
) -> None:
    backend, client = prop_server
    stored = _load(backend, client, recs)
    expected = _expected(stored, where, order_by)
    params: dict[str, Any] = {"orderBy": _order(order_by), "limit": size}
    if where is not None:
        params["where"] = where
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        (res,) = ops(client, query_op("recs", **params, **({"after": after} if after else {})))
        data = res["data"]
        pages.append(data)
        seen += [r["id"] for r in data["items"]]
        after = data["pageInfo"]["cursor"]
        if not data["pageInfo"]["hasNext"]:
            break
        assert len(pages) <= len(recs) + 1
    assert seen == expected
    # walking back with before= from the last page's first row gives the earlier rows again
    if len(pages) > 1 and pages[-1]["items"]:
        first = pages[-1]["items"][0]
        back_token = q.encode_keyset(
            q.parse_order(order_by, "recs", SCHEMA["recs"].fields),
            [q.field_value(first, k.field) for k in q.parse_order(order_by, "recs", SCHEMA["recs"].fields)],
        )
        (res,) = ops(client, query_op("recs", **params, before=back_token))
        n = len(seen) - len(pages[-1]["items"])
        assert [r["id"] for r in res["data"]["items"]] == seen[max(0, n - size) : n]
