"""Local entity stores: synchronous, durable writes with their outbox intents, and local queries.

Every write commits the entity change and its intent in one SQLite transaction; events
are emitted after the commit. Reads never touch the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar, overload

import apsw
import msgspec

from . import query as q
from .database import fts_name, index_name, table_of
from .errors import NotFound, ValidationError
from .events import OutboxEnqueued, StoreChanged
from .ids import new_id, new_key
from .outbox import INSERT_SQL as _INTENT_SQL
from .schema import BelongsTo, Entity, HasOne, Resource
from .sqlite_sql import compile_where, field_expr, keyset_sql, order_sql

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Store", "Page", "QueryPlan"]

T = TypeVar("T", bound=Entity)
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
_MAX_ID = 256
# An index named in a plan line: a b-tree index, a full-text index (an FTS5 virtual table
# that answers MATCH), or the rowid itself.
# (Only fts_ tables: json_each, which `in` filters use, is a virtual table too.)
_INDEX_RE = re.compile(r"USING (?:COVERING )?INDEX (\S+)|SCAN (fts_\S+) VIRTUAL TABLE INDEX|USING (INTEGER PRIMARY KEY)")


class Page(Sequence[T]):
    """One page of a :meth:`Store.find`: a sequence of entities (or dicts with ``fields``).

    ``next_cursor`` / ``prev_cursor`` are keyset tokens for ``after=`` / ``before=``
    (``None`` when there is no such page); ``total`` is set when ``include_total=True``.
    """

    __slots__ = ("items", "next_cursor", "prev_cursor", "total")

    def __init__(self, items: list[Any], next_cursor: str | None, prev_cursor: str | None, total: int | None) -> None:
        self.items = items
        self.next_cursor = next_cursor
        self.prev_cursor = prev_cursor
        self.total = total

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> Any:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Page({len(self.items)} items, next_cursor={self.next_cursor!r}, total={self.total!r})"


class QueryPlan(msgspec.Struct, frozen=True):
    """What SQLite will do for a query: the SQL, its plan lines and the indexes it uses."""

    sql: str
    params: list[Any]
    plan: list[str]
    indexes: list[str]

    @property
    def uses_index(self) -> bool:
        return bool(self.indexes)

    def __str__(self) -> str:
        return "\n".join(self.plan)


class Change(NamedTuple):
    """One entity change made by a local write, as history records it (JSON texts; None = absent)."""

    resource: str
    entity_id: str
    before: str | None
    after: str | None
    changed: tuple[str, ...] | None
    seq: int


class _Select(msgspec.Struct):
    sql: str
    params: list[Any]
    order: tuple[q.OrderKey, ...]
    fields: tuple[str, ...] | None
    limit: int | None
    before: bool
    paged: bool  # after/before/offset given: there may be rows before this page


class Store(Generic[T]):
    """The entities of one resource in a client's local database (``client.store("tasks")``)."""

    def __init__(self, client: "Client", resource: Resource) -> None:
        self._client = client
        self.resource = resource
        self.name = resource.name
        self.entity: type[T] = resource.entity  # type: ignore[assignment]
        self._table = table_of(resource.name)
        self._fields = resource.fields
        self._field_names = frozenset(resource.fields)
        self._decoder = msgspec.json.Decoder(self.entity)
        self._fts = {f: fts_name(resource.name, n) for f, n in resource.text_fields.items()}
        t = self._table
        self._sql_insert = f'INSERT INTO "{t}"(id, version, data, pending) VALUES (?, 0, ?, 1)'
        self._sql_row = f'SELECT rid, version, data, pending, base, deleted FROM "{t}" WHERE id = ?'
        self._sql_get = f'SELECT data FROM "{t}" WHERE id = ? AND deleted = 0'
        self._sql_update = f'UPDATE "{t}" SET data = ?, deleted = 0, pending = pending + 1, base = ? WHERE rid = ?'
        self._sql_delete = f'UPDATE "{t}" SET deleted = 1, pending = pending + 1, base = ? WHERE rid = ?'

    # -- validation helpers ----------------------------------------------------------------

    def _error(self, message: str, *, path: str | None = None, entity_id: str | None = None, code: str | None = None) -> ValidationError:
        return ValidationError(f"{self.name}: {message}", path=path, resource=self.name, entity_id=entity_id, code=code)

    def _convert(self, value: Mapping[str, Any], entity_id: str | None) -> T:
        try:
            return msgspec.convert(value, self.entity)
        except msgspec.ValidationError as exc:
            text = str(exc)
            path = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
            raise self._error(f"invalid value: {text}", path=path, entity_id=entity_id) from None

    def _check_keys(self, value: Mapping[str, Any], entity_id: str | None) -> None:
        unknown = value.keys() - self._field_names
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise self._error(
                f"unknown field {name!r}; fields are {sorted(self._field_names)}", path=name, entity_id=entity_id
            )

    def _check_id(self, entity_id: Any) -> str:
        if not isinstance(entity_id, str) or not 0 < len(entity_id) <= _MAX_ID:
            raise self._error(f"entity id must be a non-empty string of at most {_MAX_ID} characters, got {entity_id!r}", path="id")
        return entity_id

    def _new(self, value: Mapping[str, Any] | T) -> tuple[T, str]:
        """Validate a new entity; returns it (version 0) and its JSON text."""
        if isinstance(value, self.entity):
            eid = self._check_id(value.id)
            ent = self._convert(msgspec.to_builtins(value), eid)
            if ent.version:
                ent = msgspec.structs.replace(ent, version=0)
        elif isinstance(value, Mapping):
            self._check_keys(value, None)
            eid = value.get("id")
            if eid is None:
                value = {**value, "id": new_id(), "version": 0}
            else:
                self._check_id(eid)
                value = {**value, "version": 0}
            ent = self._convert(value, eid)
        else:
            raise self._error(f"expected a dict or a {self.entity.__name__}, got {type(value).__name__}")
        return ent, _enc.encode(ent).decode()

    def _unique_error(self, exc: apsw.ConstraintError, entity_id: str) -> ValidationError:
        """A unique Index refused the value: say which fields collided."""
        for ix in self.resource.indexes:
            if ix.unique and index_name(self.name, ix) in str(exc):
                return self._error(
                    f"an entity with the same {', '.join(ix.fields)} already exists (unique index)",
                    entity_id=entity_id,
                    code="ALREADY_EXISTS",
                )
        return self._error(f"constraint failed: {exc}", entity_id=entity_id)

    def _conn(self) -> apsw.Connection:
        return self._client._connection()

    @contextmanager
    def _tx(self, conn: apsw.Connection) -> Iterator[None]:
        """A write transaction; on rollback, history forgets what it cached about it."""
        try:
            with conn:
                yield
        except BaseException:
            self._client.history._forget()
            raise

    # -- writes ------------------------------------------------------------------------------

    def add(self, value: Mapping[str, Any] | T) -> T:
        """Create an entity locally (an id is generated when absent); durable on return.

        Raises :class:`ValidationError` for bad values or an id that already exists.
        """
        ent, data = self._new(value)
        conn = self._conn()
        now = self._client._now_ms()
        with self._tx(conn):
            change = self._insert_one(conn, ent, data, now)
            self._client.history._record(conn, [change])
        self._emitted([ent.id], [change.seq], "create")
        return ent

    def add_many(self, values: Iterable[Mapping[str, Any] | T]) -> list[T]:
        """Create many entities in one transaction: all are written, or none (on any error)."""
        prepared = [self._new(v) for v in values]
        if not prepared:
            return []
        ids = [e.id for e, _ in prepared]
        if len(set(ids)) != len(ids):
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise self._error(f"id {dup!r} appears twice in add_many", entity_id=dup, code="ALREADY_EXISTS")
        conn = self._conn()
        now = self._client._now_ms()
        name = self.name
        try:
            with self._tx(conn):
                conn.executemany(self._sql_insert, [(e.id, d) for e, d in prepared])
                conn.executemany(
                    _INTENT_SQL, [(name, e.id, "create", d, None, 0, None, new_key(), now, now, "local") for e, d in prepared]
                )
                last = conn.last_insert_rowid()
                seqs = list(range(last - len(prepared) + 1, last + 1))
                history = self._client.history
                if history.enabled:
                    history._record(conn, [Change(name, e.id, None, d, None, q) for (e, d), q in zip(prepared, seqs)])
        except apsw.ConstraintError:
            # Some ids exist already (live, or tombstones to recreate): take the careful path.
            with self._tx(conn):
                changes = [self._insert_one(conn, e, d, now) for e, d in prepared]
                self._client.history._record(conn, changes)
            seqs = [c.seq for c in changes]
        self._emitted(ids, seqs, "create")
        return [e for e, _ in prepared]

    def _insert_one(self, conn: apsw.Connection, ent: T, data: str, now: int, origin: str = "local") -> "Change":
        base_version = 0
        try:
            conn.execute(self._sql_insert, (ent.id, data))
        except apsw.ConstraintError as exc:
            row = conn.execute(self._sql_row, (ent.id,)).fetchone()
            if row is None:
                raise self._unique_error(exc, ent.id) from None
            rid, version, _old, pending, base, deleted = row
            if not deleted:
                raise self._error(f"entity {ent.id!r} already exists", entity_id=ent.id, code="ALREADY_EXISTS") from None
            # Recreating a tombstone continues from its version (no ABA on the server).
            base_version = version
            ent = msgspec.structs.replace(ent, version=version)
            data = _enc.encode(ent).decode()
            # A settled tombstone means the server deleted it: there is no server value to keep.
            conn.execute(self._sql_update, (data, base if pending else None, rid))
        conn.execute(_INTENT_SQL, (self.name, ent.id, "create", data, None, base_version, None, new_key(), now, now, origin))
        return Change(self.name, ent.id, None, data, None, conn.last_insert_rowid())

    def update(self, entity_id: str, patch: Mapping[str, Any] | Callable[[T], T | Mapping[str, Any]]) -> T:
        """Change fields of an entity: a patch dict, or a callable given the current entity that
        returns a new entity or a patch. Records only the fields that really changed (no
        intent at all if nothing did). Raises :class:`NotFound` if there is no such entity.
        """
        conn = self._conn()
        now = self._client._now_ms()
        with self._tx(conn):
            result, change = self._update_one(conn, entity_id, patch, now)
            if change is not None:
                self._client.history._record(conn, [change])
        if change is not None:
            self._emitted([entity_id], [change.seq], "update")
        return result

    def update_many(
        self,
        patches: Mapping[str, Mapping[str, Any] | Callable[[T], Any]] | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        patch: Mapping[str, Any] | Callable[[T], Any] | None = None,
    ) -> list[T]:
        """Update many entities in one transaction: ``{id: patch}``, or ``where=`` with one ``patch``.

        All succeed or nothing is written.
        """
        if patches is None:
            if patch is None:
                raise self._error("update_many needs {id: patch} or where= with patch=")
            ids = [e.id for e in self.find(where=where)]
            patches = dict.fromkeys(ids, patch)
        elif where is not None or patch is not None:
            raise self._error("update_many takes {id: patch} or where=/patch=, not both")
        conn = self._conn()
        now = self._client._now_ms()
        out: list[T] = []
        changes: list[Change] = []
        with self._tx(conn):
            for eid, p in patches.items():
                ent, change = self._update_one(conn, eid, p, now)
                out.append(ent)
                if change is not None:
                    changes.append(change)
            self._client.history._record(conn, changes)
        if changes:
            self._emitted([c.entity_id for c in changes], [c.seq for c in changes], "update")
        return out

    def _update_one(
        self, conn: apsw.Connection, entity_id: str, patch: Any, now: int, origin: str = "local"
    ) -> tuple[T, "Change | None"]:
        row = conn.execute(self._sql_row, (self._check_id(entity_id),)).fetchone()
        if row is None or row[5]:
            raise NotFound(f"{self.name}: no entity {entity_id!r}", resource=self.name, entity_id=entity_id)
        rid, version, data, pending, base, _ = row
        raw: dict[str, Any] = _dec.decode(data)
        old: T = self._decoder.decode(data)
        if callable(patch):
            produced = patch(old)
            if isinstance(produced, self.entity):
                patch = {f: getattr(produced, f) for f in self._field_names if getattr(produced, f) != getattr(old, f)}
            elif isinstance(produced, Mapping):
                patch = produced
            else:
                raise self._error(
                    f"update callable must return a {self.entity.__name__} or a dict, got {type(produced).__name__}",
                    entity_id=entity_id,
                )
        if not isinstance(patch, Mapping):
            raise self._error(f"update takes a patch dict or a callable, got {type(patch).__name__}", entity_id=entity_id)
        self._check_keys(patch, entity_id)
        if "id" in patch and patch["id"] != entity_id:
            raise self._error("the id of an entity cannot change", path="id", entity_id=entity_id)
        if "version" in patch and patch["version"] != version:
            raise self._error("version is assigned by the server and cannot be written", path="version", entity_id=entity_id)
        new = self._convert({**raw, **patch}, entity_id)
        changed = tuple(f for f in patch if getattr(new, f) != getattr(old, f))
        if not changed:
            return old, None
        built = msgspec.to_builtins(new)
        if raw.keys() - built.keys():  # fields this app version does not know: keep them
            built = {**raw, **built}
        new_data = _enc.encode(built).decode()
        new_base = base if pending else (data if version else None)
        try:
            conn.execute(self._sql_update, (new_data, new_base, rid))
        except apsw.ConstraintError as exc:
            raise self._unique_error(exc, entity_id) from None
        conn.execute(
            _INTENT_SQL,
            (self.name, entity_id, "update", new_data, _enc.encode(changed).decode(), version, new_base, new_key(), now, now, origin),
        )
        return new, Change(self.name, entity_id, data, new_data, changed, conn.last_insert_rowid())

    def upsert(self, value: Mapping[str, Any] | T) -> T:
        """Create the entity, or update the given fields if an entity with its id exists."""
        eid = value.get("id") if isinstance(value, Mapping) else getattr(value, "id", None)
        if eid is not None:
            conn = self._conn()
            row = conn.execute(self._sql_get, (self._check_id(eid),)).fetchone()
            if row is not None:
                if isinstance(value, Mapping):
                    patch = {k: v for k, v in value.items() if k not in ("id", "version")}
                else:
                    patch = {f: getattr(value, f) for f in self._field_names if f not in ("id", "version")}
                return self.update(eid, patch)
        ent, data = self._new(value)
        conn = self._conn()
        now = self._client._now_ms()
        with self._tx(conn):
            change = self._insert_one(conn, ent, data, now)
            conn.execute("UPDATE atoma_outbox SET action = 'upsert' WHERE seq = ?", (change.seq,))
            self._client.history._record(conn, [change])
        self._emitted([ent.id], [change.seq], "upsert")
        return ent

    def delete(self, entity_id: str) -> None:
        """Delete an entity locally (a tombstone keeps its version until sync). Raises :class:`NotFound`."""
        self.delete_many([entity_id])

    def delete_many(self, ids: Iterable[str]) -> None:
        """Delete several entities in one transaction; if any is missing nothing is deleted."""
        ids = list(dict.fromkeys(ids))
        conn = self._conn()
        now = self._client._now_ms()
        with self._tx(conn):
            changes = [self._delete_one(conn, eid, now) for eid in ids]
            self._client.history._record(conn, changes)
        if changes:
            self._emitted(ids, [c.seq for c in changes], "delete", deleted=True)

    def _delete_one(self, conn: apsw.Connection, entity_id: str, now: int, origin: str = "local") -> "Change":
        row = conn.execute(self._sql_row, (self._check_id(entity_id),)).fetchone()
        if row is None or row[5]:
            raise NotFound(f"{self.name}: no entity {entity_id!r}", resource=self.name, entity_id=entity_id)
        rid, version, data, pending, base, _ = row
        new_base = base if pending else (data if version else None)
        conn.execute(self._sql_delete, (new_base, rid))
        conn.execute(_INTENT_SQL, (self.name, entity_id, "delete", None, None, version, new_base, new_key(), now, now, origin))
        return Change(self.name, entity_id, data, None, None, conn.last_insert_rowid())

    def _emitted(self, ids: list[str], seqs: list[int], action: str, deleted: bool = False, origin: str = "local") -> None:
        bus = self._client.events
        # Stamped here rather than by the bus: one struct per event on the write path.
        if bus.wants("store.changed"):
            t = tuple(ids)
            at = self._client._now_ms()
            bus.emit(StoreChanged(resource=self.name, ids=t, origin=origin, deleted=t if deleted else (), at_ms=at))  # type: ignore[arg-type]
        if bus.wants("outbox.enqueued"):
            at = self._client._now_ms()
            bus.emit(OutboxEnqueued(resource=self.name, entity_ids=tuple(ids), seqs=tuple(seqs), action=action, at_ms=at))
        self._client.history._flush()

    # -- reads -------------------------------------------------------------------------------

    def get(self, entity_id: str) -> T | None:
        """The entity with this id, or ``None`` (a local read)."""
        row = self._conn().execute(self._sql_get, (entity_id,)).fetchone()
        return None if row is None else self._decoder.decode(row[0])

    def get_many(self, ids: Iterable[str]) -> list[T | None]:
        """Entities for ``ids`` in the same order (``None`` where absent), in one query."""
        ids = list(ids)
        rows = self._conn().execute(
            f'SELECT id, data FROM "{self._table}" WHERE deleted = 0 AND id IN (SELECT value FROM json_each(?))',
            (_enc.encode(ids).decode(),),
        )
        found = {eid: data for eid, data in rows}
        return [self._decoder.decode(found[i]) if i in found else None for i in ids]

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        """How many live entities match ``where``."""
        params: list[Any] = []
        cond = self._where_sql(where, params)
        return self._conn().execute(f'SELECT count(*) FROM "{self._table}" WHERE {cond}', params).fetchone()[0]

    def _where_sql(self, where: Mapping[str, Any] | None, params: list[Any]) -> str:
        node = q.parse_where(where, self.name, self._fields, self._fts)
        w = compile_where(node, self._fields, params, fts=self._fts)
        return "deleted = 0" if w == "1" else f"deleted = 0 AND {w}"

    def _select(
        self,
        where: Mapping[str, Any] | None,
        order_by: Any,
        limit: int | None,
        offset: int | None,
        after: str | None,
        before: str | None,
        fields: Sequence[str] | None,
    ) -> _Select:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise self._error(f"limit must be a non-negative integer, got {limit!r}", path="limit")
        if offset is not None and (not isinstance(offset, int) or isinstance(offset, bool) or offset < 0):
            raise self._error(f"offset must be a non-negative integer, got {offset!r}", path="offset")
        if after is not None and before is not None:
            raise self._error("give after= or before=, not both", path="before")
        order = q.parse_order(order_by, self.name, self._fields)
        sparse = q.parse_fields(fields, self.name, self._fields)
        params: list[Any] = []
        cond = self._where_sql(where, params)
        token = after if after is not None else before
        if token is not None:
            values = q.decode_keyset(token, order, "after" if after is not None else "before")
            cond += " AND " + keyset_sql(order, self._fields, values, params, before=before is not None)
        if sparse is None:
            cols = "data"
        else:
            cols = ", ".join(field_expr(f, self._fields) for f in sparse)
        sql = f'SELECT {cols} FROM "{self._table}" WHERE {cond} ORDER BY {order_sql(order, self._fields, reverse=before is not None)}'
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit + 1)
        if offset:
            if limit is None:
                sql += " LIMIT -1"
            sql += " OFFSET ?"
            params.append(offset)
        return _Select(sql, params, order, sparse, limit, before is not None, bool(token is not None or offset))

    def find(
        self,
        where: Mapping[str, Any] | None = None,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        after: str | None = None,
        before: str | None = None,
        fields: Sequence[str] | None = None,
        include: Mapping[str, Any] | None = None,
        include_total: bool = False,
    ) -> Page[T]:
        """Query the local store.

        ``where`` uses literal equality and the operators of :mod:`atoma.query`;
        ``order_by`` is ``[("field", "asc"|"desc"), ...]`` (the id breaks ties); ``after`` /
        ``before`` take ``next_cursor`` / ``prev_cursor`` of an earlier page; ``fields``
        returns dicts with just those fields (plus id and version); ``include`` prefetches
        relations (``{"project": True, "tasks": {"limit": 5, "order_by": [...], "include": {...}}}``)
        with one query per relation.
        """
        sel = self._select(where, order_by, limit, offset, after, before, fields)
        conn = self._conn()
        if sel.fields is None:
            dec = self._decoder.decode
            items: list[Any] = [dec(r[0]) for r in conn.execute(sel.sql, sel.params)]
        else:
            names = sel.fields
            items = [dict(zip(names, r)) for r in conn.execute(sel.sql, sel.params)]
        has_more = sel.limit is not None and len(items) > sel.limit
        if has_more:
            del items[sel.limit :]
        if sel.before:
            items.reverse()
        next_cursor = prev_cursor = None
        if items:
            if (has_more and not sel.before) or sel.before:
                next_cursor = self._token(sel.order, items[-1])
            if (sel.paged and not sel.before) or (sel.before and has_more):
                prev_cursor = self._token(sel.order, items[0])
        total = None
        if include_total:
            total = self.count(where)
        if include:
            self._client._includes.attach(self.resource, items, include, "include")
        return Page(items, next_cursor, prev_cursor, total)

    def _token(self, order: Sequence[q.OrderKey], item: Any) -> str:
        record = item if isinstance(item, dict) else msgspec.to_builtins(item)
        return q.encode_keyset(order, [q.field_value(record, k.field) for k in order])

    # -- remote reads (atoma.remote) ------------------------------------------------------

    async def fetch(self, entity_id: str, *, cache: bool = False) -> T | None:
        """Fetch one entity from the server and store it locally (hydrate); returns the local
        view (which keeps unsent local edits), or ``None`` if the server does not have it.
        ``cache=True`` accepts a fresh earlier answer from ``client.remote_cache``."""
        from .remote import fetch

        return await fetch(self, entity_id, cache=cache)

    async def query(
        self,
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
    ) -> Page[T]:
        """Query the server (same arguments as :meth:`find`). The results are stored locally
        and returned as local entities, unless ``transient=True`` (nothing stored; the server's
        entities, or dicts with ``fields``). ``page.next_cursor`` continues on the server.
        Raises :class:`~atoma.errors.SyncError` (``NO_SERVER`` without a server)."""
        from .remote import query

        return await query(
            self, where, order_by, limit, after=after, before=before, fields=fields,
            include_total=include_total, transient=transient, cache=cache,
        )

    def explain(
        self,
        where: Mapping[str, Any] | None = None,
        order_by: Any = None,
        limit: int | None = None,
        offset: int | None = None,
        *,
        after: str | None = None,
        before: str | None = None,
    ) -> QueryPlan:
        """SQLite's plan for this ``find``, with the names of the indexes it uses: declared
        and full-text indexes first, then ``INTEGER PRIMARY KEY`` if rows are looked up by
        rowid (as a full-text match does)."""
        sel = self._select(where, order_by, limit, offset, after, before, None)
        rows = list(self._conn().execute("EXPLAIN QUERY PLAN " + sel.sql, sel.params))
        plan = [r[3] for r in rows]
        named: list[str] = []
        rowid = False
        for line in plan:
            for m in _INDEX_RE.finditer(line):
                name = m.group(1) or m.group(2)
                if name is None:
                    rowid = True
                elif name not in named:
                    named.append(name)
        return QueryPlan(sel.sql, list(sel.params), plan, named + (["INTEGER PRIMARY KEY"] if rowid else []))

    def __repr__(self) -> str:
        return f"Store({self.name!r})"


class Includes:
    """Prefetches relations for a list of entities: one ``IN`` query per relation and level."""

    def __init__(self, client: "Client") -> None:
        self._client = client

    def attach(self, resource: Resource, items: list[Any], include: Mapping[str, Any], path: str) -> None:
        if not isinstance(include, Mapping):
            raise ValidationError(f"{path}: expected {{relation: True | options}}, got {type(include).__name__}", path=path)
        for rname, opts in include.items():
            p = f"{path}.{rname}"
            rel = resource.relations.get(rname)
            if rel is None:
                raise ValidationError(
                    f"{p}: resource {resource.name!r} has no relation {rname!r}; relations are {sorted(resource.relations)}",
                    path=p,
                    resource=resource.name,
                )
            if opts is False or opts is None:
                continue
            if opts is True:
                opts = {}
            if not isinstance(opts, Mapping):
                raise ValidationError(f"{p}: expected True or an options dict, got {opts!r}", path=p)
            unknown = opts.keys() - {"where", "order_by", "limit", "include"}
            if unknown:
                raise ValidationError(f"{p}: unknown include option {sorted(unknown)[0]!r}", path=p)
            self._one(resource, rname, rel, items, opts, p)

    def _one(self, resource: Resource, rname: str, rel: Any, items: list[Any], opts: Mapping[str, Any], path: str) -> None:
        target_store = self._client.store(rel.target)
        target = target_store.resource
        tf = target.fields
        params: list[Any] = []
        where = target_store._where_sql(opts.get("where"), params)
        get = (lambda o, k: o.get(k)) if items and isinstance(items[0], dict) else getattr
        limit = opts.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise ValidationError(f"{path}.limit: must be a non-negative integer, got {limit!r}", path=f"{path}.limit")
        order = q.parse_order(opts.get("order_by"), target.name, tf)
        table = target_store._table
        conn = self._client._connection()
        if isinstance(rel, BelongsTo):
            keys = sorted({k for k in (get(o, rel.foreign_key) for o in items) if k is not None})
            params.insert(0, _enc.encode(keys).decode())
            rows = conn.execute(
                f'SELECT data FROM "{table}" WHERE id IN (SELECT value FROM json_each(?)) AND {where}', params
            )
            found = {e.id: e for e in (target_store._decoder.decode(r[0]) for r in rows)}
            children = list(found.values())
            for o in items:
                self._set(o, rname, found.get(get(o, rel.foreign_key)))
        else:
            fk = field_expr(rel.foreign_key, tf)
            keys = sorted({get(o, "id") for o in items})
            params.insert(0, _enc.encode(keys).decode())
            order_text = order_sql(order, tf)
            if isinstance(rel, HasOne):
                limit = 1
            if limit is None:
                sql = f'SELECT data, {fk} FROM "{table}" WHERE {fk} IN (SELECT value FROM json_each(?)) AND {where} ORDER BY {fk}, {order_text}'
            else:
                sql = (
                    f'SELECT data, _fk FROM (SELECT data, {fk} AS _fk, row_number() OVER (PARTITION BY {fk} ORDER BY {order_text}) AS _rn '
                    f'FROM "{table}" WHERE {fk} IN (SELECT value FROM json_each(?)) AND {where}) WHERE _rn <= ? ORDER BY _fk, _rn'
                )
                params.append(limit)
            groups: dict[Any, list[Any]] = {}
            children = []
            dec = target_store._decoder.decode
            for data, key in conn.execute(sql, params):
                child = dec(data)
                children.append(child)
                groups.setdefault(key, []).append(child)
            for o in items:
                group = groups.get(get(o, "id"), [])
                self._set(o, rname, (group[0] if group else None) if isinstance(rel, HasOne) else group)
        nested = opts.get("include")
        if nested and children:
            self.attach(target, children, nested, f"{path}.include")

    @staticmethod
    def _set(o: Any, name: str, value: Any) -> None:
        if isinstance(o, dict):
            o[name] = value
        else:
            setattr(o, name, value)
