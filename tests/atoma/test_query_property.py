"""Property test: every operator, combinator and ordering of the local store gives the same rows,
in the same order, as the plain-Python reference evaluator of :mod:`atoma.query`."""

from __future__ import annotations

import string

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atoma
from atoma import query as q


class Rec(atoma.Entity):
    s: str | None = None
    n: int | None = None
    f: float | None = None
    b: bool | None = None
    m: int | float | str | None = None  # a mixed-type field
    t: str = ""  # full-text indexed


SCHEMA = atoma.Schema([atoma.Resource("recs", Rec, indexes=[atoma.Index("s"), atoma.Index("n", "m"), atoma.TextIndex("t")])])

# Strings chosen to stress case folding, unicode and ties; plus arbitrary text.
SPECIAL = ["", "a", "A", "ab", "AB", "abc", "ß", "SS", "straße", "İ", "i", "Σ", "σ", "ΑΣ", "ǅ", "ä", "Ä", "é", "1", "10", "2", " ", "%", "_", "'", '"']
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
texts = st.one_of(st.sampled_from(SPECIAL), any_text)
ints = st.one_of(st.sampled_from([0, 1, -1, 2, 10]), st.integers(min_value=-(2**63), max_value=2**63 - 1))
floats = st.one_of(st.sampled_from([0.0, 1.0, -0.5, 2.5, 1e300]), st.floats(allow_nan=False, allow_infinity=False))
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
    "version": st.just(0),
}

record = st.fixed_dictionaries(
    {"id": st.text(alphabet="abcxyzAÄ0", min_size=1, max_size=3)},
    optional={k: v for k, v in FIELD_VALUES.items() if k not in ("id", "version")} | {"t": words_text},
)
records = st.lists(record, max_size=25, unique_by=lambda r: r["id"])


def comparison(field: str) -> st.SearchStrategy:
    values = FIELD_VALUES[field]
    non_null = values.filter(lambda v: v is not None)
    ops = [
        st.tuples(st.just("eq"), values),
        st.tuples(st.just("ne"), values),
        st.tuples(st.just("in"), st.lists(values, max_size=3)),
        st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), non_null),
        st.tuples(st.just("isNull"), st.booleans()),
    ]
    if field in ("s", "m", "id"):
        ops.append(st.tuples(st.sampled_from(["startsWith", "endsWith", "contains"]), texts))
    return st.one_of(ops).map(lambda ov: {field: {ov[0]: ov[1]}})


def leaf() -> st.SearchStrategy:
    fields = ["s", "n", "f", "b", "m", "id"]
    literal = st.sampled_from(fields).flatmap(lambda f: FIELD_VALUES[f].map(lambda v: {f: v}))
    text = match_query.map(lambda w: {"t": {"match": w}})
    return st.one_of(st.sampled_from(fields).flatmap(comparison), literal, text)


wheres = st.recursive(
    leaf(),
    lambda sub: st.one_of(
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
        st.lists(sub, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
        sub.map(lambda x: {"not": x}),
    ),
    max_leaves=5,
)
orders = st.lists(st.tuples(st.sampled_from(["s", "n", "f", "b", "m", "t", "id"]), st.sampled_from(["asc", "desc"])), max_size=3)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    c = atoma.Client(str(tmp_path_factory.mktemp("prop") / "p.db"), SCHEMA).open()
    yield c
    c.close_sync()


def _reset(client: atoma.Client, recs: list[dict]) -> atoma.Store:
    conn = client._connection()
    with conn:
        conn.execute("DELETE FROM r_recs")
        conn.execute("DELETE FROM atoma_outbox")
    store = client.store("recs")
    store.add_many(recs)
    return store


def _expected(store: atoma.Store, recs: list[dict], where: dict, order_by: list) -> list[str]:
    node = q.parse_where(where, "recs", store.resource.fields, ["t"])
    order = q.parse_order(order_by, "recs", store.resource.fields)
    stored = [msgspec.to_builtins(store.get(r["id"])) for r in recs]
    hits = [r for r in stored if q.matches(node, r)]
    return [r["id"] for r in sorted(hits, key=lambda r: q.sort_key(order, r))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=records, where=wheres, order_by=orders)
def test_find_matches_reference(client: atoma.Client, recs: list[dict], where: dict, order_by: list) -> None:
    store = _reset(client, recs)
    expected = _expected(store, recs, where, order_by)
    got = [e.id for e in store.find(where=where, order_by=order_by)]
    assert got == expected
    assert store.count(where) == len(expected)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recs=records, where=st.one_of(st.none(), wheres), order_by=orders, size=st.integers(1, 4))
def test_keyset_pages_walk_the_same_rows(client: atoma.Client, recs: list[dict], where: dict | None, order_by: list, size: int) -> None:
    store = _reset(client, recs)
    expected = _expected(store, recs, where or {}, order_by)
    seen: list[str] = []
    page = store.find(where=where, order_by=order_by, limit=size)
    pages = [page]
    while True:
        seen += [e.id for e in page]
        if page.next_cursor is None:
            break
        page = store.find(where=where, order_by=order_by, limit=size, after=page.next_cursor)
        pages.append(page)
        assert len(pages) <= len(recs) + 1
    assert seen == expected
    # walking back with before= from the last page gives the earlier pages again
    back = pages[-1]
    for earlier in reversed(pages[:-1]):
        assert back.prev_cursor is not None
        back = store.find(where=where, order_by=order_by, limit=size, before=back.prev_cursor)
        assert [e.id for e in back] == [e.id for e in earlier]
    assert back.prev_cursor is None or len(pages) == 1
