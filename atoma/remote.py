"""Remote reads: ``await store.query(...)`` and ``await store.fetch(id)`` (no Qt).

A remote read is a protocol ``query`` op sent through the running sync engine's transport.
It is *hydrating* by default: the server's entities are written into the local store the way a
pulled change is (origin ``sync``, no outbox intent; an entity with unsettled local intents
keeps the user's edit and only learns the new server base), and the result lists the **local**
entities for the ids the server returned, in the server's order. ``transient=True`` stores
nothing and returns the server's entities as they came.

Every remote read goes through ``client.remote_cache`` (:mod:`atoma.remote_cache`): identical
reads in flight share one request; with ``cache=True`` a fresh earlier answer is used without
a request. A fetch is a query with ``where={"id": id}``.

Without a server (``Client(..., server=None)``) remote reads raise
:class:`~atoma.errors.SyncError` with code ``NO_SERVER``; before ``await client.start()`` they
raise :class:`~atoma.errors.ClientClosed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from . import protocol as p
from . import query as q
from .errors import SyncError, ValidationError
from .events import StoreChanged
from .remote_cache import CacheKey
from .sync.pull import apply_snapshot, snapshot_changes


if TYPE_CHECKING:
    from .store import Page, Store

__all__ = ["RemoteResult", "query", "fetch", "key_for", "query_key", "hydrate"]

_enc = msgspec.json.Encoder(order="deterministic")


class RemoteResult(msgspec.Struct, frozen=True):
    """What the server answered to one query (the cached value): raw items and page info."""

    items: list[dict[str, Any]]
    cursor: str | None
    has_next: bool
    total: int | None


def _params(
    store: "Store[Any]",
    where: Mapping[str, Any] | None,
    order_by: Any,
    limit: int | None,
    after: str | None,
    before: str | None,
    fields: Sequence[str] | None,
    include_total: bool,
) -> p.QueryParams:
    """Validate a remote query against the resource (as a local find would) and build its params."""
    res = store.resource
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValidationError(f"{store.name}: limit must be a non-negative integer, got {limit!r}", path="limit", resource=store.name)
    if after is not None and before is not None:
        raise ValidationError(f"{store.name}: give after= or before=, not both", path="before", resource=store.name)
    q.parse_where(where, res.name, res.fields, res.text_fields)
    order = q.parse_order(order_by, res.name, res.fields)
    sparse = q.parse_fields(fields, res.name, res.fields)
    token = after if after is not None else before
    if token is not None:
        q.decode_keyset(token, order, "after" if after is not None else "before")
    return p.QueryParams(
        where=None if where is None else msgspec.to_builtins(where),
        order_by=[p.OrderBy(field=k.field, direction="desc" if k.desc else "asc") for k in order],
        limit=limit,
        after=after,
        before=before,
        include_total=include_total,
        fields=None if sparse is None else list(sparse),
    )


def query_key(resource: str, params: p.QueryParams, transient: bool) -> CacheKey:
    """The cache key of a remote query: resource, canonical JSON of its params, mode."""
    return CacheKey(resource, _enc.encode(params).decode(), "transient" if transient else "hydrate")


def key_for(
    store: "Store[Any]",
    where: Mapping[str, Any] | None = None,
    order_by: Any = None,
    limit: int | None = None,
    *,
    after: str | None = None,
    transient: bool = False,
) -> CacheKey:
    """The ``client.remote_cache`` key of the remote query these arguments describe
    (validated as :meth:`atoma.Store.query` validates them)."""
    return query_key(store.name, _params(store, where, order_by, limit, after, None, None, False), transient)


async def _request(store: "Store[Any]", params: p.QueryParams) -> RemoteResult:
    transport = store._client.sync.transport  # NO_SERVER / ClientClosed when it cannot be used
    op = p.QueryOp(op_id="q", resource=store.name, params=params)
    try:
        data = await transport.one(op)
    except SyncError as exc:
        raise SyncError(
            f"{store.name}: remote query failed: {exc.message}",
            code=exc.code, resource=store.name, retryable=exc.retryable, details=exc.details,
        ) from None
    assert isinstance(data, p.QueryResultData)
    info = data.page_info
    return RemoteResult(data.items, info.cursor, info.has_next, info.total)


def hydrate(store: "Store[Any]", items: Sequence[Mapping[str, Any]]) -> list[str]:
    """Write server entities into the local store as pulled changes are written (one
    transaction, no outbox intent, pending local edits kept); emits ``store.changed`` with
    origin ``sync`` for the entities whose local view changed, and returns their ids."""
    client = store._client
    conn = client._connection()
    name = store.name
    changes = snapshot_changes(name, items)
    with conn:
        changed = apply_snapshot(conn, changes)
    if changed and client.events.wants("store.changed"):
        client.events.emit(StoreChanged(resource=name, ids=tuple(changed), origin="sync"))
    return changed


def _page(store: "Store[Any]", result: RemoteResult, params: p.QueryParams, transient: bool) -> "Page[Any]":
    from .store import Page

    if transient:
        if params.fields is not None:
            items: list[Any] = [dict(i) for i in result.items]
        else:
            dec = store._decoder.decode
            items = [dec(msgspec.json.encode(i)) for i in result.items]
    else:
        items = [e for e in store.get_many([i["id"] for i in result.items]) if e is not None]
    return Page(items, result.cursor if result.has_next else None, None, result.total)


async def query(
    store: "Store[Any]",
    where: Mapping[str, Any] | None = None,
    order_by: Any = None,
    limit: int | None = None,
    *,
    after: str | None = None,
    before: str | None = None,
    fields: Sequence[str] | None = None,
    include_total: bool = False,
    transient: bool = False,
    cache: bool = False,
) -> "Page[Any]":
    """Query the server; see :meth:`atoma.Store.query`."""
    params = _params(store, where, order_by, limit, after, before, fields, include_total)
    if fields is not None and not transient:
        raise ValidationError(
            f"{store.name}: a sparse fieldset cannot be stored locally; use transient=True with fields=",
            path="fields",
            resource=store.name,
        )
    client = store._client
    if client.server is None:
        raise SyncError(f"{store.name}: no server configured; remote queries need Client(..., server=...)", code="NO_SERVER", resource=store.name)
    key = query_key(store.name, params, transient)

    async def load() -> RemoteResult:
        result = await _request(store, params)
        if not transient:
            hydrate(store, result.items)
        return result

    result = await client.remote_cache.load(key, load, refresh=not cache)
    return _page(store, result, params, transient)


async def fetch(store: "Store[Any]", entity_id: str, *, cache: bool = False) -> Any:
    """Fetch one entity from the server into the local store; see :meth:`atoma.Store.fetch`."""
    store._check_id(entity_id)
    page = await query(store, where={"id": entity_id}, limit=1, cache=cache)
    return page[0] if len(page) else None
