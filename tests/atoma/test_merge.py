"""Three-way merge, property-tested: disjoint edits merge cleanly, overlapping ones always surface."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atoma.merge import three_way

FIELDS = ["a", "b", "c", "d", "e"]
values = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.booleans())
records = st.fixed_dictionaries({f: values for f in FIELDS})


@st.composite
def edits(draw, base):
    """A copy of ``base`` with some fields changed (to values that really differ)."""
    out = dict(base)
    changed = draw(st.sets(st.sampled_from(FIELDS)))
    for f in changed:
        out[f] = draw(values.filter(lambda v, old=base[f]: v != old))
    return out, changed


@given(st.data())
def test_disjoint_edits_merge_without_conflict(data) -> None:
    base = data.draw(records)
    local, lc = data.draw(edits(base))
    server, sc = data.draw(edits(base))
    server = {f: (base[f] if f in lc else v) for f, v in server.items()}  # make the edits disjoint
    result = three_way(base, local, server, lc)
    assert result.clean
    for f in FIELDS:
        expected = local[f] if f in lc else server[f]
        assert result.value[f] == expected


@given(st.data())
def test_overlapping_different_edits_always_surface(data) -> None:
    base = data.draw(records)
    local, lc = data.draw(edits(base))
    server, _ = data.draw(edits(base))
    result = three_way(base, local, server, lc)
    both = {f for f in FIELDS if f in lc and server[f] != base[f]}
    assert set(result.conflicts) == {f for f in both if local[f] != server[f]}
    for f in both - set(result.conflicts):
        assert result.sides[f] == "both" and result.value[f] == local[f]
    for f in result.conflicts:
        assert result.value[f] == server[f]  # undecided fields keep the server's value


def test_without_changed_set_and_without_base() -> None:
    r = three_way({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3})
    assert r.clean and r.value == {"a": 2, "b": 3} and r.sides == {"a": "local", "b": "server"}
    r = three_way(None, {"a": 2}, {"a": 3})
    assert r.conflicts == ("a",)
    r = three_way({"id": "x", "version": 1, "a": 1}, {"id": "x", "version": 1, "a": 1, "new": 5}, {"id": "x", "version": 2, "a": 1})
    assert r.value == {"a": 1, "new": 5} and r.sides == {"new": "local"}
