"""Read planning, pure: validated query and pull specs, and the pages built from their rows.

Field names, operators and values are validated by :mod:`atoma.query` against the resource
(the same functions the client uses), so adapters only ever compile a checked tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from atoma import protocol as p
from atoma import query as q
from atoma.errors import SyncError, ValidationError
from atoma.schema import Resource, Schema

from .limits import Limits, check

__all__ = ["QuerySpec", "PullSpec", "QueryRows", "PullRow", "PullRows", "plan_query", "plan_pull", "query_page", "pull_page", "resource_of"]

_DECODE = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A validated query: where tree, order (id last), page window and sparse fields."""

    resource: Resource
    where: q.Node
    order: tuple[q.OrderKey, ...]
    fields: tuple[str, ...] | None
    limit: int
    offset: int
    keyset: list[Any] | None
    before: bool
    include_total: bool


@dataclass(frozen=True, slots=True)
class QueryRows:
    """What an adapter returns for a query: up to ``limit + 1`` entity objects as JSON."""

    rows: list[bytes]
    total: int | None


@dataclass(frozen=True, slots=True)
class PullSpec:
    """A validated pull: changes after ``cursor``, at most ``limit``, of ``resources`` (None: all)."""

    cursor: int
    limit: int
    resources: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class PullRow:
    """One change joined with its entity's current row (``data`` None for tombstones)."""

    cursor: int
    resource: str
    entity_id: str
    kind: str
    version: int
    changed_at_ms: int
    data: bytes | None


@dataclass(frozen=True, slots=True)
class PullRows:
    """Up to ``limit + 1`` changes, the feed's head (newest cursor) and the trimmed-through cursor."""

    rows: list[PullRow]
    head: int
    trimmed_through: int


def resource_of(schema: Schema, name: str) -> Resource:
    """The resource named ``name``, or an UNKNOWN_RESOURCE error."""
    res = schema.resources.get(name)
    if res is None:
        raise ValidationError(
            f"unknown resource {name!r}; this server serves {sorted(schema.resources)}",
            code=p.UNKNOWN_RESOURCE,
            path="resource",
            details={"resource": name},
        )
    return res


def plan_query(resource: Resource, params: p.QueryParams, limits: Limits) -> QuerySpec:
    """Validate a query op's params against ``resource`` and ``limits``."""
    fields = resource.fields
    where = q.parse_where(params.where, resource.name, fields, resource.text_fields)
    order = q.parse_order(params.order_by, resource.name, fields)
    sparse = q.parse_fields(params.fields, resource.name, fields)
    limit = limits.default_query_limit if params.limit is None else params.limit
    check("a query's limit", limit, limits.max_query_limit)
    keyset = None
    if params.after is not None:
        keyset = q.decode_keyset(params.after, order, "after")
    elif params.before is not None:
        keyset = q.decode_keyset(params.before, order, "before")
    return QuerySpec(
        resource, where, order, sparse, limit, params.offset or 0, keyset, params.before is not None, params.include_total
    )


def plan_pull(schema: Schema, op: p.PullOp, limits: Limits) -> PullSpec:
    """Validate a pull op: known resources, limit within bounds."""
    limit = limits.default_pull_limit if op.limit is None else op.limit
    check("a pull's limit", limit, limits.max_pull_limit)
    resources = None
    if op.resources is not None:
        for name in op.resources:
            resource_of(schema, name)
        resources = tuple(sorted(set(op.resources)))
    return PullSpec(op.cursor, limit, resources)


def _token(order: Sequence[q.OrderKey], record: dict[str, Any]) -> str:
    return q.encode_keyset(order, [q.field_value(record, k.field) for k in order])


def query_page(spec: QuerySpec, found: QueryRows) -> p.QueryResultData:
    """The result data of a query from the rows the adapter read (in the order it read them)."""
    rows = found.rows
    has_next = len(rows) > spec.limit
    if has_next:
        del rows[spec.limit :]
    if spec.before:
        rows.reverse()
    cursor = None
    if rows:
        edge = rows[0] if spec.before else rows[-1]
        cursor = _token(spec.order, _DECODE(edge))
    if spec.fields is None:
        items: list[Any] = [msgspec.Raw(r) for r in rows]
    else:
        names = spec.fields
        items = []
        for r in rows:
            record = _DECODE(r)
            items.append({n: record.get(n) for n in names})
    return p.QueryResultData(items=items, page_info=p.PageInfo(cursor=cursor, has_next=has_next, total=found.total))


def pull_page(spec: PullSpec, found: PullRows) -> p.PullResultData:
    """The result data of a pull; raises CURSOR_EXPIRED if history before the cursor was trimmed."""
    if spec.cursor < found.trimmed_through:
        raise SyncError(
            f"cursor {spec.cursor} is older than the retained history (minCursor {found.trimmed_through})",
            code=p.CURSOR_EXPIRED,
            retryable=False,
            details={"minCursor": found.trimmed_through},
        )
    rows = found.rows
    has_more = len(rows) > spec.limit
    if has_more:
        del rows[spec.limit :]
        next_cursor = rows[-1].cursor
    else:
        next_cursor = max(spec.cursor, found.head, rows[-1].cursor if rows else 0)
    changes: list[p.Change] = []
    seen: set[tuple[str, str]] = set()
    for r in rows:
        key = (r.resource, r.entity_id)
        if key in seen:  # every row carries the entity's current state: once per page is enough
            continue
        seen.add(key)
        value = msgspec.Raw(r.data) if r.data is not None else None
        changes.append(
            p.Change(
                resource=r.resource,
                entity_id=r.entity_id,
                kind="delete" if r.data is None else "upsert",
                version=r.version,
                changed_at_ms=r.changed_at_ms,
                value=value,  # type: ignore[arg-type]
            )
        )
    return p.PullResultData(next_cursor=next_cursor, has_more=has_more, changes=changes)
