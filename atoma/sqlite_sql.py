"""Compiles parsed queries (:mod:`atoma.query`) to SQLite SQL over Atoma's JSON entity tables.

Shared by the client store and the reference server's SQLite adapter. Field names reach
the SQL text only after validation against the schema (they are identifiers); every value
is a bound parameter.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import msgspec

from .query import COMPARISONS, And, Cmp, Node, Not, Or, OrderKey, fold

__all__ = ["field_expr", "compile_where", "order_sql", "keyset_sql", "fts_query", "fold_sql_function"]

FOLD_FUNCTION = "atoma_fold"
_SQL_OP = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_FLIP = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}


def field_expr(name: str, fields: Mapping[str, Any], data_column: str = "data") -> str:
    """The SQL expression of a field: a real column for id/version, json_extract otherwise.

    The text must stay byte-for-byte the same as in the index DDL so SQLite matches
    expression indexes.
    """
    spec = fields[name]
    if spec.column:
        return spec.column
    return f"json_extract({data_column}, '$.{spec.encode_name}')"


def fold_sql_function(value: Any) -> Any:
    """SQLite scalar function ``atoma_fold``: the case folding of the string operators."""
    return fold(value) if isinstance(value, str) else None


def fts_query(terms: Sequence[str], column: str) -> str:
    """An FTS5 query in which every term must prefix a word of ``column`` (terms are quoted)."""
    quoted = " AND ".join('"' + t.replace('"', '""') + '"*' for t in terms)
    return f"{column} : ({quoted})"


def compile_where(
    node: Node,
    fields: Mapping[str, Any],
    params: list[Any],
    *,
    fts: Mapping[str, str] | None = None,
    rowid: str = "rid",
    match_sql: Callable[[str, Sequence[str], list[Any]], str] | None = None,
) -> str:
    """SQL for a where tree; appends bound values to ``params``.

    ``fts`` maps a text-indexed field to its FTS5 table name. ``match_sql``, when given,
    compiles ``match`` instead: it gets the field name, the query words and ``params``
    (the reference server keeps its own word lists rather than FTS5 tables).
    """
    if isinstance(node, And):
        if not node.items:
            return "1"
        return "(" + " AND ".join(compile_where(n, fields, params, fts=fts, rowid=rowid, match_sql=match_sql) for n in node.items) + ")"
    if isinstance(node, Or):
        if not node.items:
            return "0"
        return "(" + " OR ".join(compile_where(n, fields, params, fts=fts, rowid=rowid, match_sql=match_sql) for n in node.items) + ")"
    if isinstance(node, Not):
        return "(NOT " + compile_where(node.item, fields, params, fts=fts, rowid=rowid, match_sql=match_sql) + ")"
    assert isinstance(node, Cmp)
    e = field_expr(node.field, fields)
    op, v = node.op, node.value
    if op == "isNull":
        return f"({e} IS NULL)" if v else f"({e} IS NOT NULL)"
    # Every leaf is two-valued (never NULL), so that NOT means "does not match".
    if op == "eq":
        params.append(v)
        return f"({e} IS ?)"
    if op == "ne":
        params.append(v)
        return f"({e} IS NOT ?)"
    if op == "in":
        non_null = [x for x in v if x is not None]
        parts = []
        if non_null:
            params.append(msgspec.json.encode(non_null).decode())
            parts.append(f"({e} IS NOT NULL AND {e} IN (SELECT value FROM json_each(?)))")
        if len(non_null) != len(v):
            parts.append(f"{e} IS NULL")
        return "(" + (" OR ".join(parts) or "0") + ")"
    if op in COMPARISONS:
        params.append(v)
        return f"({e} IS NOT NULL AND {e} {_SQL_OP[op]} ?)"
    if op == "match":
        if match_sql is not None:
            return match_sql(node.field, v, params)
        assert fts is not None and node.field in fts
        table = fts[node.field]
        params.append(fts_query(v, fields[node.field].encode_name))
        return f'({rowid} IN (SELECT rowid FROM "{table}" WHERE "{table}" MATCH ?))'
    # case-insensitive string operators over the folded value
    f = f"{FOLD_FUNCTION}({e})"
    if v == "":
        return f"({f} IS NOT NULL)"
    if op == "contains":
        params.append(v)
        return f"({f} IS NOT NULL AND instr({f}, ?) > 0)"
    if op == "startsWith":
        params.extend((v, v))
        return f"({f} IS NOT NULL AND substr({f}, 1, length(?)) = ?)"
    if op == "endsWith":
        params.extend((v, v))
        return f"({f} IS NOT NULL AND substr({f}, -length(?)) = ?)"
    raise AssertionError(op)


def order_sql(order: Sequence[OrderKey], fields: Mapping[str, Any], *, reverse: bool = False) -> str:
    """ORDER BY text for ``order`` (reversed for ``before`` paging)."""
    parts = []
    for k in order:
        desc = k.desc != reverse
        parts.append(f"{field_expr(k.field, fields)} {'DESC' if desc else 'ASC'}")
    return ", ".join(parts)


def keyset_sql(
    order: Sequence[OrderKey], fields: Mapping[str, Any], values: Sequence[Any], params: list[Any], *, before: bool = False
) -> str:
    """Rows strictly after (or before) the row whose sort values are ``values``, null-aware.

    SQLite orders NULL < numbers < text, which is the order :mod:`atoma.query` defines,
    so plain comparisons do the work once NULLs are handled explicitly.
    """
    ors = []
    for i, k in enumerate(order):
        eqs = []
        for j in range(i):
            eqs.append(f"{field_expr(order[j].field, fields)} IS ?")
            params.append(values[j])
        forward = k.desc == before  # True: need value greater than the cursor's in ascending terms
        e = field_expr(k.field, fields)
        v = values[i]
        if forward:
            cond = f"{e} IS NOT NULL" if v is None else f"{e} > ?"
        else:
            cond = "0" if v is None else f"({e} IS NULL OR {e} < ?)"
        if v is not None:
            params.append(v)
        ors.append("(" + " AND ".join(eqs + [cond]) + ")")
    return "(" + " OR ".join(ors) + ")"
