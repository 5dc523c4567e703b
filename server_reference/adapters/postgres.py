"""The PostgreSQL adapter (psycopg 3, async, with a connection pool).

Writes lock the entity row (``SELECT ... FOR UPDATE``), claim the idempotency key with
``INSERT ... ON CONFLICT`` (a concurrent duplicate waits for the first to commit, then
replays its outcome), and take their cursors from the ``atoma_feed`` counter at the end of
the transaction, together with the single ``NOTIFY`` of the transaction. Notifications arrive
through one LISTEN connection per process (:mod:`.pg_listen`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from atoma import protocol as p
from atoma.ids import new_id

from ..reads import PullRow, PullRows, PullSpec, QueryRows, QuerySpec
from ..writes import Apply, Stored, decide
from . import pg_sql
from .base import Adapter, AdapterError, NotifyCallback, WriteBatch, WriteOutcome
from .pg_listen import PgListener
from .pg_schema import migrate

__all__ = ["PostgresAdapter"]

log = logging.getLogger("server_reference.postgres")
_DECODE = msgspec.json.Decoder().decode
_OUTCOME = msgspec.json.Decoder(p.WriteItemResult).decode
_ENCODE = msgspec.json.Encoder().encode
_CHANNEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RETRIES = 5

_SQL_CLAIM = (
    "INSERT INTO atoma_idempotency(key, outcome, created_at, expires_at) VALUES (%s, NULL, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET outcome = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at "
    "WHERE atoma_idempotency.expires_at < excluded.created_at RETURNING 1"
)
_SQL_STORED = "SELECT outcome FROM atoma_idempotency WHERE key = %s"
_SQL_OUTCOME = "UPDATE atoma_idempotency SET outcome = %s WHERE key = %s"
_SQL_LOAD = "SELECT version, deleted, data::text FROM atoma_entities WHERE resource = %s AND id = %s FOR UPDATE"
_SQL_INSERT = (
    "INSERT INTO atoma_entities(resource, id, version, deleted, data, words) VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb) "
    "ON CONFLICT (resource, id) DO NOTHING RETURNING 1"
)
_SQL_UPDATE = (
    "UPDATE atoma_entities SET version = %s, deleted = %s, data = %s::jsonb, words = %s::jsonb WHERE resource = %s AND id = %s"
)
_SQL_FEED = "UPDATE atoma_feed SET head = head + %s RETURNING head"
_SQL_CHANGES = (
    "INSERT INTO atoma_changes(cursor, resource, entity_id, kind, version, changed_at_ms) "
    "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[])"
)
_SQL_PULL = """
WITH meta AS (
    SELECT (SELECT head FROM atoma_feed) AS head,
           (SELECT value FROM atoma_meta WHERE key = 'trimmed_through') AS trimmed
)
SELECT meta.head, meta.trimmed, c.cursor, c.resource, c.entity_id, c.kind, c.version, c.changed_at_ms,
       e.version, e.deleted, e.data::text
FROM meta
LEFT JOIN LATERAL (
    SELECT * FROM atoma_changes WHERE cursor > %s {filter} ORDER BY cursor LIMIT %s
) c ON true
LEFT JOIN atoma_entities e ON e.resource = c.resource AND e.id = c.entity_id
ORDER BY c.cursor
"""
_SQL_HEADS = (
    "SELECT r, coalesce((SELECT max(cursor) FROM atoma_changes WHERE resource = r), 0) FROM unnest(%s::text[]) AS r"
)
# Errors after which the same transaction may succeed when simply run again.
_TRANSIENT = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UniqueViolation,
    psycopg.errors.LockNotAvailable,
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Retry(Exception):
    """An entity row appeared between our read and our insert (a concurrent create)."""


class PostgresAdapter(Adapter):
    """Serve ``schema`` from the PostgreSQL database at ``dsn``.

    ``channel`` is the LISTEN/NOTIFY channel (database-wide: give each deployment sharing a
    database, or each test, its own); ``pool_size`` bounds the connection pool.
    """

    name = "postgres"
    transient_error: type[Exception] = psycopg.errors.SerializationFailure
    """What a failing transaction raises here (tests inject it at the fault point)."""

    def __init__(
        self,
        dsn: str,
        schema: Any,
        *,
        channel: str = "atoma_changes",
        pool_size: int = 10,
        idempotency_ttl_ms: int | None = None,
    ) -> None:
        if not _CHANNEL.match(channel):
            raise ValueError(f"channel must be an identifier of at most 63 characters, got {channel!r}")
        self.dsn = dsn
        self.schema = schema
        self.channel = channel
        self.pool_size = max(2, pool_size)
        if idempotency_ttl_ms is not None:
            self.idempotency_ttl_ms = idempotency_ttl_ms
        self._pool: AsyncConnectionPool | None = None
        self._listener: PgListener | None = None
        self._devices: dict[str, tuple[int, int]] = {}
        self._open_lock = asyncio.Lock()

    def describe(self) -> str:
        try:
            info = conninfo_to_dict(self.dsn)
        except psycopg.Error:
            info = {}
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"
        return f"postgres {where} (channel {self.channel})"

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is not None:
                return

            def setup() -> list[str]:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    return migrate(conn, self.schema, _now_ms)

            for line in await asyncio.to_thread(setup):
                log.info("%s: %s", self.describe(), line)
            pool = AsyncConnectionPool(
                self.dsn, min_size=2, max_size=self.pool_size, kwargs={"autocommit": True}, open=False, name="atoma"
            )
            await pool.open(wait=True, timeout=30)
            self._pool = pool

    async def close(self) -> None:
        async with self._open_lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                await listener.stop()
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()

    def _get_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise AdapterError("the PostgreSQL adapter is not open")
        return self._pool

    # -- reads --------------------------------------------------------------------------------

    async def query(self, spec: QuerySpec) -> QueryRows:
        res = spec.resource
        fields = res.fields
        params: list[Any] = []
        cond = pg_sql.compile_where(spec.where, fields, params)
        # The resource name comes from the schema (a checked identifier), never from the request.
        where = f"resource = '{res.name}' AND NOT deleted AND {cond}"
        count_sql = f"SELECT count(*) FROM atoma_entities WHERE {where}"
        count_params = list(params)
        if spec.keyset is not None:
            where += " AND " + pg_sql.keyset_sql(spec.order, fields, spec.keyset, params, before=spec.before)
        order = pg_sql.order_sql(spec.order, fields, reverse=spec.before)
        sql = f"SELECT data::text FROM atoma_entities WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        params += [spec.limit + 1, spec.offset]
        try:
            async with self._get_pool().connection() as conn:
                cur = await conn.execute(sql, params)  # type: ignore[arg-type]
                rows = [r[0] for r in await cur.fetchall()]
                total = None
                if spec.include_total:
                    row = await (await conn.execute(count_sql, count_params)).fetchone()  # type: ignore[arg-type]
                    total = row[0] if row else 0
        except psycopg.Error as exc:
            log.warning("query failed: %s", exc)
            raise AdapterError() from None
        return QueryRows(rows, total)

    async def pull(self, spec: PullSpec) -> PullRows:
        params: list[Any] = [spec.cursor]
        flt = ""
        if spec.resources is not None:
            flt = "AND resource = ANY(%s::text[])"
            params.append(list(spec.resources))
        params.append(spec.limit + 1)
        sql = _SQL_PULL.format(filter=flt)
        try:
            async with self._get_pool().connection() as conn:
                found = await (await conn.execute(sql, params)).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as exc:
            log.warning("pull failed: %s", exc)
            raise AdapterError() from None
        head, trimmed = found[0][0], found[0][1]
        rows = []
        for _, _, cur, res, eid, kind, version, at, e_version, e_deleted, data in found:
            if cur is None:
                continue
            if e_version is None:
                if kind != "delete":
                    continue
                rows.append(PullRow(cur, res, eid, kind, version, at, None))
            else:
                rows.append(PullRow(cur, res, eid, kind, e_version, at, None if e_deleted else data))
        return PullRows(rows, head, int(trimmed) if trimmed else 0)

    async def head_cursors(self, resources: Sequence[str]) -> dict[str, int]:
        try:
            async with self._get_pool().connection() as conn:
                found = await (await conn.execute(_SQL_HEADS, (list(resources),))).fetchall()
        except psycopg.Error as exc:
            log.warning("head query failed: %s", exc)
            raise AdapterError() from None
        return {r: c for r, c in found}

    async def touch_device(self, device_id: str, cursor: int, now_ms: int) -> None:
        seen = self._devices.get(device_id)
        if seen is not None and seen[0] == cursor and now_ms - seen[1] < 60_000:
            return
        if len(self._devices) > 10_000:
            self._devices.clear()
        self._devices[device_id] = (cursor, now_ms)
        try:
            async with self._get_pool().connection() as conn:
                await conn.execute(
                    "INSERT INTO atoma_devices(device_id, last_cursor, seen_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (device_id) DO UPDATE SET last_cursor = excluded.last_cursor, seen_at = excluded.seen_at",
                    (device_id, cursor, now_ms),
                )
        except psycopg.Error as exc:
            log.warning("device update failed: %s", exc)
            raise AdapterError() from None

    # -- writes -------------------------------------------------------------------------------

    def _fault(self, stage: str) -> None:
        """Fault-injection point for tests (``stage`` is ``"bulk"``); does nothing here."""

    async def write(self, batch: WriteBatch) -> WriteOutcome:
        pool = self._get_pool()
        n = len(batch.items)
        try:
            async with pool.connection() as conn:
                async with conn.transaction():
                    results = await self._apply(conn, batch, range(n))
                    self._fault("bulk")
            return WriteOutcome(results, "bulk")
        except (psycopg.Error, _Retry) as exc:
            log.warning("bulk write of %d %s items failed (%s); retrying item by item", n, batch.resource.name, type(exc).__name__)
        out = []
        for i in range(n):
            out.append(await self._write_one(pool, batch, i))
        return WriteOutcome(out, "per_item")

    async def _write_one(self, pool: AsyncConnectionPool, batch: WriteBatch, i: int) -> p.WriteItemResult:
        for attempt in range(_RETRIES):
            try:
                async with pool.connection() as conn:
                    async with conn.transaction():
                        (result,) = await self._apply(conn, batch, (i,))
                return result
            except (_TRANSIENT + (_Retry,)) as exc:
                log.info("write of %s item %d: %s, attempt %d", batch.resource.name, i, type(exc).__name__, attempt + 1)
            except psycopg.Error as exc:
                log.warning("write of %s item %d failed: %s", batch.resource.name, i, exc)
                break
        return p.WriteItemResult(
            index=i, ok=False, error=p.standard_error(p.ADAPTER, "the storage backend failed; try again later", retryable=True)
        )

    async def _apply(self, conn: psycopg.AsyncConnection, batch: WriteBatch, indices: Sequence[int]) -> list[p.WriteItemResult]:
        res = batch.resource
        name = res.name
        now = batch.now_ms
        expires = now + self.idempotency_ttl_ms
        results: list[p.WriteItemResult] = []
        changes: list[tuple[str, str, int]] = []
        for i in indices:
            item = batch.items[i]
            key = item.meta.idempotency_key
            # Claimed inside this transaction: a concurrent duplicate blocks here until we commit.
            claimed = await (await conn.execute(_SQL_CLAIM, (key, now, expires))).fetchone()
            if claimed is None:
                row = await (await conn.execute(_SQL_STORED, (key,))).fetchone()
                if row is None or row[0] is None:
                    raise _Retry()
                results.append(msgspec.structs.replace(_OUTCOME(row[0]), index=i, replay=True))
                continue
            eid = item.entity_id or new_id()
            d = None
            for _ in range(3):
                found = await (await conn.execute(_SQL_LOAD, (name, eid))).fetchone()
                current = None
                if found is not None:
                    current = Stored(found[0], found[1], None if found[1] else _DECODE(found[2]))
                d = decide(res, batch.action, item, i, batch.options, eid, current, pg_sql.encode_value)
                if not isinstance(d, Apply):
                    break
                words = None if d.words is None else d.words.decode()
                if d.insert:
                    inserted = await (
                        await conn.execute(_SQL_INSERT, (name, eid, d.version, d.deleted, d.data.decode(), words))
                    ).fetchone()
                    if inserted is None:  # created concurrently since we looked: decide again on it
                        continue
                else:
                    await conn.execute(_SQL_UPDATE, (d.version, d.deleted, d.data.decode(), words, name, eid))
                changes.append((eid, d.change_kind, d.version))
                break
            else:
                raise _Retry()
            assert d is not None
            await conn.execute(_SQL_OUTCOME, (_ENCODE(d.result).decode(), key))
            results.append(d.result)
        if changes:
            # Cursors are taken last, under the feed row's lock, so they follow commit order.
            row = await (await conn.execute(_SQL_FEED, (len(changes),))).fetchone()
            assert row is not None
            head = row[0]
            first = head - len(changes) + 1
            await conn.execute(
                _SQL_CHANGES,
                (
                    list(range(first, head + 1)),
                    [name] * len(changes),
                    [c[0] for c in changes],
                    [c[1] for c in changes],
                    [c[2] for c in changes],
                    [now] * len(changes),
                ),
            )
            payload = _ENCODE({"r": [name], "c": head}).decode()
            await conn.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
        return results

    # -- notifications ------------------------------------------------------------------------

    async def start_notifications(self, callback: NotifyCallback) -> None:
        if self._listener is not None:
            await self._listener.stop()
        listener = PgListener(self.dsn, self.channel, callback, lambda: self.head_cursors(sorted(self.schema.resources)))
        await listener.start()
        self._listener = listener
