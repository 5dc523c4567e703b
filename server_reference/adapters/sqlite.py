"""The embedded SQLite adapter (apsw): one writer thread, a few reader threads, WAL.

Writes run on a single thread that owns the write connection, so transactions never contend
inside the process (``BEGIN IMMEDIATE`` still guards against other processes). Queries and
pulls run on reader connections, each in a snapshot of its own. Notifications are in-process:
after a commit that appended changes, the registered callback is called on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import apsw
import msgspec

from atoma import protocol as p
from atoma.ids import new_id
from atoma.sqlite_sql import (
    FOLD_FUNCTION,
    compile_where,
    fold_sql_function,
    keyset_sql,
    order_sql,
)

from ..reads import PullRow, PullRows, PullSpec, QueryRows, QuerySpec
from ..writes import Apply, Stored, decide
from .base import Adapter, AdapterError, NotifyCallback, WriteBatch, WriteOutcome
from .sqlite_schema import ENTITIES, migrate

__all__ = ["SQLiteAdapter"]

log = logging.getLogger("server_reference.sqlite")
T = TypeVar("T")
_DECODE = msgspec.json.Decoder().decode
_OUTCOME = msgspec.json.Decoder(p.WriteItemResult).decode
_ENCODE = msgspec.json.Encoder().encode

_SQL_KEY = "SELECT outcome, expires_at FROM atoma_idempotency WHERE key = ?"
_SQL_CLAIM = "INSERT OR REPLACE INTO atoma_idempotency(key, outcome, created_at, expires_at) VALUES (?, ?, ?, ?)"
_SQL_LOAD = f"SELECT version, deleted, data FROM {ENTITIES} WHERE resource = ? AND id = ?"
_SQL_PUT = (
    f"INSERT INTO {ENTITIES}(resource, id, version, deleted, data, words) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(resource, id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, "
    "data = excluded.data, words = excluded.words"
)
_SQL_CHANGE = "INSERT INTO atoma_changes(resource, entity_id, kind, version, changed_at_ms) VALUES (?, ?, ?, ?, ?)"
_SQL_PULL = (
    "SELECT c.cursor, c.resource, c.entity_id, c.kind, c.version, c.changed_at_ms, e.version, e.deleted, e.data "
    f"FROM atoma_changes c LEFT JOIN {ENTITIES} e ON e.resource = c.resource AND e.id = c.entity_id "
    "WHERE c.cursor > ? {filter} ORDER BY c.cursor LIMIT ?"
)
_SQL_HEAD = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'atoma_changes'), 0)"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _match_sql(field: str, terms: Sequence[str], params: list[Any]) -> str:
    """Every term prefixes a word of the field's stored word list (see writes.text_words)."""
    parts = []
    for t in terms:
        params.extend((t, t))
        parts.append(
            f"EXISTS (SELECT 1 FROM json_each(words, '$.{field}') w WHERE substr(w.value, 1, length(?)) = ?)"
        )
    return "(" + " AND ".join(parts) + ")"


class SQLiteAdapter(Adapter):
    """Serve ``schema`` from the SQLite file at ``path`` (created if missing).

    ``synchronous`` is SQLite's durability (``normal``: survives a process crash; ``full``: also
    a power loss). ``readers`` is the number of reader connections. ``on_statement``, if given,
    is called with the SQL text of every statement (for measuring; it slows the adapter down).
    """

    name = "sqlite"
    transient_error: type[Exception] = apsw.BusyError
    """What a failing transaction raises here (tests inject it at the fault point)."""

    def __init__(
        self,
        path: str,
        schema: Any,
        *,
        synchronous: Literal["normal", "full"] = "normal",
        readers: int = 4,
        idempotency_ttl_ms: int | None = None,
        on_statement: Callable[[str], None] | None = None,
    ) -> None:
        if path == ":memory:":
            raise ValueError("the server's SQLite adapter needs a file (readers use connections of their own)")
        self.path = os.path.abspath(path)
        self.schema = schema
        self.synchronous = synchronous
        self._reader_count = max(1, readers)
        if idempotency_ttl_ms is not None:
            self.idempotency_ttl_ms = idempotency_ttl_ms
        self._on_statement = on_statement
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._wconn: apsw.Connection | None = None
        self._local = threading.local()
        self._rconns: list[apsw.Connection] = []
        self._rlock = threading.Lock()
        self._callback: NotifyCallback | None = None
        self._devices: dict[str, tuple[int, int]] = {}
        self._open_lock = asyncio.Lock()

    def describe(self) -> str:
        return f"sqlite {self.path}"

    # -- lifecycle ----------------------------------------------------------------------------

    def _connect(self) -> apsw.Connection:
        conn = apsw.Connection(self.path, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
        conn.set_busy_timeout(5000)
        conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", self.synchronous.upper())
        conn.create_scalar_function(FOLD_FUNCTION, fold_sql_function, 1, deterministic=True)
        if self._on_statement is not None:
            hook = self._on_statement

            def trace(cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
                hook(sql)
                return True

            conn.exec_trace = trace
        return conn

    async def open(self) -> None:
        async with self._open_lock:
            if self._writer is not None:
                return
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="atoma-sqlite-writer")
            self._readers = ThreadPoolExecutor(self._reader_count, thread_name_prefix="atoma-sqlite-reader")

            def setup() -> list[str]:
                self._wconn = self._connect()
                return migrate(self._wconn, self.schema, _now_ms)

            for line in await self._on_writer(setup):
                log.info("%s: %s", self.path, line)

    async def close(self) -> None:
        async with self._open_lock:
            self._callback = None
            writer, readers = self._writer, self._readers
            self._writer = self._readers = None
            if readers is not None:
                readers.shutdown(wait=True)
            if writer is not None:
                conn = self._wconn
                self._wconn = None
                if conn is not None:
                    writer.submit(conn.close).result()
                writer.shutdown(wait=True)
            with self._rlock:
                conns, self._rconns = self._rconns, []
            for c in conns:
                c.close()

    async def _on_writer(self, fn: Callable[[], T]) -> T:
        if self._writer is None:
            raise AdapterError("the SQLite adapter is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, fn)
        except apsw.Error as exc:
            log.warning("sqlite write failed: %s", exc)
            raise AdapterError() from None

    async def _on_reader(self, fn: Callable[[apsw.Connection], T]) -> T:
        if self._readers is None:
            raise AdapterError("the SQLite adapter is not open")
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._with_reader, fn)

    def _with_reader(self, fn: Callable[[apsw.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._rlock:
                self._rconns.append(conn)
        try:
            conn.execute("BEGIN")  # one snapshot for every statement of this read
            try:
                return fn(conn)
            finally:
                conn.execute("COMMIT")
        except apsw.Error as exc:
            log.warning("sqlite read failed: %s", exc)
            raise AdapterError() from None

    # -- queries ------------------------------------------------------------------------------

    async def query(self, spec: QuerySpec) -> QueryRows:
        res = spec.resource
        fields = res.fields
        params: list[Any] = []
        cond = compile_where(spec.where, fields, params, match_sql=_match_sql)
        # The resource name comes from the schema (a checked identifier), never from the request.
        base = f"resource = '{res.name}' AND deleted = 0"
        where = base if cond == "1" else f"{base} AND {cond}"
        count_sql = f"SELECT count(*) FROM {ENTITIES} WHERE {where}"
        count_params = list(params)
        if spec.keyset is not None:
            where += " AND " + keyset_sql(spec.order, fields, spec.keyset, params, before=spec.before)
        sql = f"SELECT data FROM {ENTITIES} WHERE {where} ORDER BY {order_sql(spec.order, fields, reverse=spec.before)} LIMIT ?"
        params.append(spec.limit + 1)
        if spec.offset:
            sql += " OFFSET ?"
            params.append(spec.offset)

        def run(conn: apsw.Connection) -> QueryRows:
            rows = [r[0] for r in conn.execute(sql, params)]
            total = conn.execute(count_sql, count_params).fetchone()[0] if spec.include_total else None
            return QueryRows(rows, total)

        return await self._on_reader(run)

    async def pull(self, spec: PullSpec) -> PullRows:
        params: list[Any] = [spec.cursor]
        flt = ""
        if spec.resources is not None:
            flt = "AND c.resource IN (SELECT value FROM json_each(?))"
            params.append(_ENCODE(list(spec.resources)).decode())
        params.append(spec.limit + 1)
        sql = _SQL_PULL.format(filter=flt)

        def run(conn: apsw.Connection) -> PullRows:
            trimmed = conn.execute("SELECT value FROM atoma_meta WHERE key = 'trimmed_through'").fetchone()
            head = conn.execute(_SQL_HEAD).fetchone()[0]
            rows = []
            for cur, res, eid, kind, version, at, e_version, e_deleted, data in conn.execute(sql, params):
                if e_version is None:  # the entity row is gone: describe the change itself
                    if kind != "delete":
                        continue
                    rows.append(PullRow(cur, res, eid, kind, version, at, None))
                else:
                    rows.append(PullRow(cur, res, eid, kind, e_version, at, None if e_deleted else data))
            return PullRows(rows, head, int(trimmed[0]) if trimmed else 0)

        return await self._on_reader(run)

    async def head_cursors(self, resources: Sequence[str]) -> dict[str, int]:
        names = list(resources)

        def run(conn: apsw.Connection) -> dict[str, int]:
            sql = "SELECT coalesce(max(cursor), 0) FROM atoma_changes WHERE resource = ?"
            return {r: conn.execute(sql, (r,)).fetchone()[0] for r in names}

        return await self._on_reader(run)

    # -- writes -------------------------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> WriteOutcome:
        outcome, cursor = await self._on_writer(lambda: self._write_sync(batch))
        if cursor is not None and self._callback is not None:
            self._callback((batch.resource.name,), cursor)
        return outcome

    def _fault(self, stage: str) -> None:
        """Fault-injection point for tests (``stage`` is ``"bulk"``); does nothing here."""

    def _write_sync(self, batch: WriteBatch) -> tuple[WriteOutcome, int | None]:
        conn = self._wconn
        assert conn is not None
        n = len(batch.items)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                results, cursor = self._apply(conn, batch, range(n))
                self._fault("bulk")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return WriteOutcome(results, "bulk"), cursor
        except apsw.Error as exc:
            log.warning("bulk write of %d %s items failed (%s); retrying item by item", n, batch.resource.name, exc)
        results = []
        last: int | None = None
        for i in range(n):
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    (result,), cursor = self._apply(conn, batch, (i,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except apsw.Error as exc:
                log.warning("write of %s item %d failed: %s", batch.resource.name, i, exc)
                result = p.WriteItemResult(
                    index=i, ok=False, error=p.standard_error(p.ADAPTER, "the storage backend failed; try again later", retryable=True)
                )
                cursor = None
            results.append(result)
            if cursor is not None:
                last = cursor
        return WriteOutcome(results, "per_item"), last

    def _apply(self, conn: apsw.Connection, batch: WriteBatch, indices: Sequence[int]) -> tuple[list[p.WriteItemResult], int | None]:
        res = batch.resource
        name = res.name
        now = batch.now_ms
        expires = now + self.idempotency_ttl_ms
        results: list[p.WriteItemResult] = []
        cursor: int | None = None
        for i in indices:
            item = batch.items[i]
            key = item.meta.idempotency_key
            row = conn.execute(_SQL_KEY, (key,)).fetchone()
            if row is not None and row[1] >= now:
                results.append(msgspec.structs.replace(_OUTCOME(row[0]), index=i, replay=True))
                continue
            eid = item.entity_id or new_id()
            found = conn.execute(_SQL_LOAD, (name, eid)).fetchone()
            current = None
            if found is not None:
                current = Stored(found[0], bool(found[1]), None if found[1] else _DECODE(found[2]))
            d = decide(res, batch.action, item, i, batch.options, eid, current)
            if isinstance(d, Apply):
                words = None if d.words is None else d.words.decode()
                conn.execute(_SQL_PUT, (name, eid, d.version, int(d.deleted), d.data.decode(), words))
                conn.execute(_SQL_CHANGE, (name, eid, d.change_kind, d.version, now))
                cursor = conn.last_insert_rowid()
            conn.execute(_SQL_CLAIM, (key, _ENCODE(d.result).decode(), now, expires))
            results.append(d.result)
        return results, cursor

    async def touch_device(self, device_id: str, cursor: int, now_ms: int) -> None:
        seen = self._devices.get(device_id)
        if seen is not None and seen[0] == cursor and now_ms - seen[1] < 60_000:
            return  # nothing new to record; spares the writer a transaction per pull
        if len(self._devices) > 10_000:
            self._devices.clear()
        self._devices[device_id] = (cursor, now_ms)

        def run() -> None:
            assert self._wconn is not None
            with self._wconn:
                self._wconn.execute(
                    "INSERT INTO atoma_devices(device_id, last_cursor, seen_at) VALUES (?, ?, ?) "
                    "ON CONFLICT(device_id) DO UPDATE SET last_cursor = excluded.last_cursor, seen_at = excluded.seen_at",
                    (device_id, cursor, now_ms),
                )

        await self._on_writer(run)

    # -- notifications ------------------------------------------------------------------------

    async def start_notifications(self, callback: NotifyCallback) -> None:
        self._callback = callback
