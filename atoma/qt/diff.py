"""Row diffs for item models, pure (no Qt): from an old id list to a new one with the
fewest moves, as operations that map one-to-one onto Qt's begin/end row signals.

:func:`plan` returns operations to apply in order, each in the coordinates of the list as it
is at that moment: removals first (contiguous runs, from the end), then moves of the rows that
are not in the longest run already in the right relative order, and insertions (contiguous
blocks). Rows in that longest increasing run never move, so a view keeps its selection and
scroll position.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Hashable, NamedTuple, Union

__all__ = ["Remove", "Move", "Insert", "Op", "plan", "apply"]


class Remove(NamedTuple):
    """Remove rows ``first..last`` (inclusive)."""

    first: int
    last: int


class Move(NamedTuple):
    """Move row ``row`` before row ``dest`` (Qt's ``destinationChild``: old coordinates)."""

    row: int
    dest: int


class Insert(NamedTuple):
    """Insert ``ids`` at ``row``."""

    row: int
    ids: tuple[Hashable, ...]


Op = Union[Remove, Move, Insert]


def _increasing_run(seq: Sequence[int]) -> set[int]:
    """Indexes into ``seq`` of one longest strictly increasing subsequence."""
    tails: list[int] = []  # tails[k]: smallest tail value of an increasing run of length k+1
    tail_at: list[int] = []  # index in seq of that tail
    prev = [-1] * len(seq)
    for i, v in enumerate(seq):
        k = bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k] = v
            tail_at[k] = i
        prev[i] = tail_at[k - 1] if k else -1
    out: set[int] = set()
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out


def plan(old: Sequence[Hashable], new: Sequence[Hashable]) -> list[Op]:
    """Operations turning ``old`` into ``new`` (both without duplicates)."""
    ops: list[Op] = []
    keep_set = set(new)
    cur = list(old)
    i = len(cur) - 1
    while i >= 0:
        if cur[i] in keep_set:
            i -= 1
            continue
        j = i
        while j > 0 and cur[j - 1] not in keep_set:
            j -= 1
        ops.append(Remove(j, i))
        del cur[j : i + 1]
        i = j - 1
    if cur == list(new):
        return ops
    where = {k: n for n, k in enumerate(new)}
    run = _increasing_run([where[k] for k in cur])
    stay = {cur[n] for n in run}
    present = set(cur)
    j = 0
    while j < len(new):
        k = new[j]
        if k in stay:
            j += 1
            continue
        t = cur.index(new[j - 1]) + 1 if j else 0
        if k in present:
            at = cur.index(k)
            if at != t:
                ops.append(Move(at, t))
                cur.pop(at)
                cur.insert(t if t < at else t - 1, k)
            j += 1
        else:
            m = j
            while m < len(new) and new[m] not in present:
                m += 1
            block = tuple(new[j:m])
            ops.append(Insert(t, block))
            cur[t:t] = block
            present.update(block)
            j = m
    return ops


def apply(old: Sequence[Hashable], ops: Sequence[Op]) -> list[Hashable]:
    """``old`` with ``ops`` applied (the reference for tests and for the models)."""
    cur = list(old)
    for op in ops:
        if isinstance(op, Remove):
            del cur[op.first : op.last + 1]
        elif isinstance(op, Move):
            item = cur.pop(op.row)
            cur.insert(op.dest if op.dest < op.row else op.dest - 1, item)
        else:
            cur[op.row : op.row] = op.ids
    return cur
