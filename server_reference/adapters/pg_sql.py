"""Compiles parsed queries (:mod:`atoma.query`) to PostgreSQL over a JSONB ``data`` column.

Every field is compared through three non-null expressions that reproduce the order of
:mod:`atoma.query`: a rank (0 null or missing, 1 number or boolean, 2 string, 3 object/array),
a numeric value (booleans as 0/1) and a text value compared by code point (``COLLATE "C"``).
The helper functions ``atoma_rank`` / ``atoma_num`` / ``atoma_txt`` are created by the
migrations; they are inlinable SQL functions, so expression indexes on them are used.

* every leaf is two-valued, so ``NOT`` is plain negation (``ne`` is ``NOT eq``);
* string operators fold with ``lower(... COLLATE "und-x-icu")``, which is Unicode's full
  lower-case mapping like Python's ``str.lower``, and match strings only;
* ``match`` tests the stored word lists (computed by :func:`atoma.query.words` on write);
* numbers are bound as exact decimals (:func:`exact_number`), and stored values keep large
  integral floats exact (:func:`encode_value`), so ints and floats compare as Python does.

Field names reach the SQL text only after validation against the schema; every value is a
bound parameter (``%s``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from atoma.query import COMPARISONS, And, Cmp, Node, Not, Or, OrderKey

__all__ = ["field_sql", "compile_where", "order_sql", "keyset_sql", "exact_number", "encode_value", "FOLD_COLLATION"]

FOLD_COLLATION = "und-x-icu"
_EXACT_FROM = 2.0**53
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def exact_number(v: int | float) -> Decimal:
    """A number as the exact decimal PostgreSQL holds for it (see :func:`encode_value`)."""
    if isinstance(v, bool):
        return Decimal(int(v))
    if isinstance(v, int):
        return Decimal(v)
    if v.is_integer() and abs(v) >= _EXACT_FROM:
        return Decimal(int(v))
    return Decimal(repr(v))


def encode_value(value: dict[str, Any]) -> bytes:
    """JSON for a stored value in which large integral floats are written out exactly.

    ``1e+19`` would become the integer 10000000000000000000 in JSONB, while Python compares
    the float by its exact binary value; writing ``10000000000000000000.0`` keeps both the
    exact value and the float type. Other floats keep their shortest form (no integer lies
    between it and the exact value, so comparisons with integers agree).
    """
    out = value
    for k, v in value.items():
        if isinstance(v, float) and v.is_integer() and abs(v) >= _EXACT_FROM:
            if out is value:
                out = dict(value)
            out[k] = Decimal(f"{int(v)}.0")
    return _ENCODER.encode(out)


def field_sql(name: str, fields: Mapping[str, Any]) -> tuple[str, str, str]:
    """(rank, number, text) SQL expressions of a field; none is ever NULL."""
    spec = fields[name]
    if spec.column == "id":
        return "2", "0", 'id COLLATE "C"'
    if spec.column == "version":
        return "1", "version", "''"
    j = f"(data->'{spec.encode_name}')"
    return f"atoma_rank({j})", f"atoma_num({j})", f'(atoma_txt({j}) COLLATE "C")'


def _value(v: Any) -> tuple[int, Decimal, str]:
    """(rank, number, text) of a query or keyset value."""
    if v is None:
        return 0, Decimal(0), ""
    if isinstance(v, (bool, int, float)):
        return 1, exact_number(v), ""
    return 2, Decimal(0), str(v)


def _eq(r: str, n: str, t: str, v: Any, params: list[Any]) -> str:
    rank, num, txt = _value(v)
    if rank == 0:
        return f"({r} = 0)"
    if rank == 1:
        params.append(num)
        return f"({r} = 1 AND {n} = %s)"
    params.append(txt)
    return f"({r} = 2 AND {t} = %s)"


def compile_where(node: Node, fields: Mapping[str, Any], params: list[Any]) -> str:
    """SQL for a where tree; appends bound values to ``params``."""
    if isinstance(node, And):
        if not node.items:
            return "TRUE"
        return "(" + " AND ".join(compile_where(n, fields, params) for n in node.items) + ")"
    if isinstance(node, Or):
        if not node.items:
            return "FALSE"
        return "(" + " OR ".join(compile_where(n, fields, params) for n in node.items) + ")"
    if isinstance(node, Not):
        return "(NOT " + compile_where(node.item, fields, params) + ")"
    assert isinstance(node, Cmp)
    r, n, t = field_sql(node.field, fields)
    op, v = node.op, node.value
    if op == "isNull":
        return f"({r} = 0)" if v else f"({r} <> 0)"
    if op == "eq":
        return _eq(r, n, t, v, params)
    if op == "ne":
        return "(NOT " + _eq(r, n, t, v, params) + ")"
    if op == "in":
        nums = [exact_number(x) for x in v if x is not None and not isinstance(x, str)]
        strs = [x for x in v if isinstance(x, str)]
        parts = []
        if nums:
            params.append(nums)
            parts.append(f"({r} = 1 AND {n} = ANY(%s::numeric[]))")
        if strs:
            params.append(strs)
            parts.append(f"({r} = 2 AND {t} = ANY(%s::text[]))")
        if any(x is None for x in v):
            parts.append(f"({r} = 0)")
        return "(" + (" OR ".join(parts) or "FALSE") + ")"
    if op in COMPARISONS:
        rank, num, txt = _value(v)
        x = n if rank == 1 else t
        params.append(num if rank == 1 else txt)
        sym = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        if op in ("gt", "gte"):
            return f"({r} > {rank} OR ({r} = {rank} AND {x} {sym} %s))"
        return f"(({r} > 0 AND {r} < {rank}) OR ({r} = {rank} AND {x} {sym} %s))"
    if op == "match":
        spec = fields[node.field]
        parts = []
        for term in v:
            params.append(term)
            parts.append(
                f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(words->'{spec.encode_name}') w(word) "
                "WHERE starts_with(w.word, %s))"
            )
        return "(" + " AND ".join(parts) + ")"
    # case-insensitive string operators: strings only, folded like str.lower()
    folded = f'lower({t} COLLATE "{FOLD_COLLATION}")'
    if v == "":
        return f"({r} = 2)"
    if op == "contains":
        params.append(v)
        return f"({r} = 2 AND strpos({folded}, %s) > 0)"
    if op == "startsWith":
        params.append(v)
        return f"({r} = 2 AND starts_with({folded}, %s))"
    if op == "endsWith":
        params.extend((v, v))
        return f"({r} = 2 AND right({folded}, char_length(%s)) = %s)"
    raise AssertionError(op)


def _columns(order: Sequence[OrderKey], fields: Mapping[str, Any]) -> list[tuple[str, bool, int]]:
    """(expression, descending, which part of the value triple) per sort column."""
    cols: list[tuple[str, bool, int]] = []
    for k in order:
        r, n, t = field_sql(k.field, fields)
        spec = fields[k.field]
        if spec.column == "id":
            cols.append((t, k.desc, 2))
        elif spec.column == "version":
            cols.append((n, k.desc, 1))
        else:
            cols += [(r, k.desc, 0), (n, k.desc, 1), (t, k.desc, 2)]
    return cols


def order_sql(order: Sequence[OrderKey], fields: Mapping[str, Any], *, reverse: bool = False) -> str:
    """ORDER BY text for ``order`` (reversed for ``before`` paging)."""
    return ", ".join(f"{e} {'DESC' if desc != reverse else 'ASC'}" for e, desc, _ in _columns(order, fields))


def keyset_sql(
    order: Sequence[OrderKey], fields: Mapping[str, Any], values: Sequence[Any], params: list[Any], *, before: bool = False
) -> str:
    """Rows strictly after (or before) the row whose sort values are ``values``."""
    cols = _columns(order, fields)
    vals: list[Any] = []
    for k, v in zip(order, values):
        triple = _value(v)
        spec = fields[k.field]
        if spec.column == "id":
            vals.append(str(v))
        elif spec.column == "version":
            vals.append(triple[1])
        else:
            vals += list(triple)
    ors = []
    for i, (expr, desc, _) in enumerate(cols):
        terms = []
        for j in range(i):
            terms.append(f"{cols[j][0]} = %s")
            params.append(vals[j])
        terms.append(f"{expr} {'>' if desc == before else '<'} %s")
        params.append(vals[i])
        ors.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(ors) + ")"
