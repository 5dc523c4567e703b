"""The row diff (pure): it reaches the new order, never touches the longest in-order run,
and its moves are what Qt's beginMoveRows accepts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atoma.qt.diff import Insert, Move, Remove, apply, plan, _increasing_run

ids = st.lists(st.integers(0, 40), unique=True, max_size=30)


@given(ids, ids)
def test_plan_reaches_the_new_list(old: list[int], new: list[int]) -> None:
    ops = plan(old, new)
    assert apply(old, ops) == new
    cur = list(old)
    for op in ops:  # every op is valid in the list as it is at that moment
        if isinstance(op, Remove):
            assert 0 <= op.first <= op.last < len(cur)
        elif isinstance(op, Move):
            assert 0 <= op.row < len(cur) and 0 <= op.dest <= len(cur) and op.dest not in (op.row, op.row + 1)
        else:
            assert 0 <= op.row <= len(cur) and op.ids
        cur = apply(cur, [op])


@given(st.permutations(list(range(12))))
def test_moves_are_minimal(new: list[int]) -> None:
    old = list(range(12))
    moves = [op for op in plan(old, new) if isinstance(op, Move)]
    assert len(moves) == len(old) - len(_increasing_run(new))


def test_examples() -> None:
    assert plan([1, 2, 3], [1, 2, 3]) == []
    assert plan([1, 2, 3, 4], [2, 3, 4, 1]) == [Move(0, 4)]  # one move, not three
    assert plan([1, 2, 3], [1, 9, 8, 3]) == [Remove(1, 1), Insert(1, (9, 8))]
