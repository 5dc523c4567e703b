"""The client: one local database, its stores, outbox and events (and, later, sync)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import apsw

from .database import Durability, migrate, open_database
from .errors import ClientClosed, ValidationError
from .events import EventBus
from .history import History
from .outbox import Outbox
from .remote_cache import RemoteCache
from .schema import Schema
from .store import Includes, Store
from .sync.engine import SyncEngine, SyncOptions
from .sync.lock import SyncLock

__all__ = ["Client"]

log = logging.getLogger("atoma.client")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Client:
    """An Atoma client over one SQLite file.

    ``server=None`` keeps everything local. ``durability`` is ``"normal"`` (survives a
    process crash at any instant) or ``"full"`` (also survives power loss; an fsync per
    commit). ``clock`` returns wall-clock milliseconds and can be replaced in tests.
    ``history`` records local writes for undo/redo (``client.history``), at most
    ``history_max_steps`` steps per scope.

    Use it as ``async with atoma.Client(...) as client:`` or call :meth:`start` and
    :meth:`close`. :meth:`open` opens the database without starting anything else, for
    scripts that only need the local store.

    With a ``server``, :meth:`start` also takes the database's sync lock (a second syncing
    process gets :class:`~atoma.errors.ClientLocked`) and starts ``client.sync`` (a
    :class:`~atoma.sync.SyncEngine`). ``transport`` replaces httpx's network transport
    (tests, fault injection); ``sync_options`` tunes the engine (:class:`~atoma.sync.SyncOptions`).

    Conflicts go to ``client.sync.conflicts`` and are decided by ``conflict_strategy``
    (``"server-wins"`` by default, ``"client-wins"``, ``"merge"``, ``"manual"`` or a callable
    ``(Conflict) -> Resolution``), per resource by ``conflict_strategies``; ``merge_fallback``
    (``"manual"``, ``"local"``, ``"server"``) says what ``merge`` does when both sides changed
    a field differently.

    Remote reads (``await store.query(...)``, ``await store.fetch(id)``) share
    ``client.remote_cache`` (:class:`~atoma.remote_cache.RemoteCache`): answers stay fresh for
    ``cache_stale_time`` seconds, at most ``cache_max_entries`` of them are kept.
    """

    def __init__(
        self,
        path: str,
        schema: Schema,
        server: str | None = None,
        *,
        durability: Durability = "normal",
        clock: Callable[[], int] | None = None,
        auth: Any = None,
        history: bool = True,
        history_max_steps: int = 200,
        transport: Any = None,
        sync_options: SyncOptions | None = None,
        conflict_strategy: Any = "server-wins",
        conflict_strategies: Any = None,
        merge_fallback: str = "manual",
        cache_stale_time: float = 60.0,
        cache_max_entries: int = 200,
    ) -> None:
        if not isinstance(schema, Schema):
            raise ValidationError(f"schema must be an atoma.Schema, got {type(schema).__name__}", path="schema")
        self.path = str(path)
        self.schema = schema
        self.server = server
        self.auth = auth
        self.durability: Durability = durability
        self._now_ms: Callable[[], int] = clock or _wall_ms
        self.events = EventBus(self._now_ms)
        self.outbox = Outbox(self._connection, self)
        self._conn: apsw.Connection | None = None
        self._lock = SyncLock(self.path) if server is not None and self.path != ":memory:" else None
        self.sync = SyncEngine(
            self, transport=transport, options=sync_options, conflict_strategy=conflict_strategy,
            conflict_strategies=conflict_strategies, merge_fallback=merge_fallback,
        )
        self._stores: dict[str, Store[Any]] = {}
        self._includes = Includes(self)
        self.history = History(self, enabled=history, max_steps=history_max_steps)
        self.remote_cache = RemoteCache(self.events, stale_time=cache_stale_time, max_entries=cache_max_entries)

    # -- lifecycle ------------------------------------------------------------------------

    def open(self) -> "Client":
        """Open the database and migrate its layout to the schema (idempotent)."""
        if self._conn is None:
            conn = open_database(self.path, durability=self.durability)
            try:
                for step in migrate(conn, self.schema):
                    log.info("atoma: %s: %s", self.path, step)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self

    async def start(self) -> "Client":
        """Open the database and, with a server configured, take the sync lock and start
        syncing. Raises :class:`~atoma.errors.ClientLocked` if another process syncs it."""
        if self.server is not None and self._lock is not None and not self._lock.held:
            self._lock.acquire()
        try:
            self.open()
            await self.sync.start()
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        return self

    async def close(self) -> None:
        """Stop syncing (in-flight intents go back to pending), release the sync lock and
        close the database. The client cannot be used afterwards (until started again)."""
        await self.sync.stop()
        self.close_sync()

    def close_sync(self) -> None:
        """Close the database without an event loop (for scripts and tests); sync lanes, if
        any, are cancelled without waiting."""
        if self.sync.running:
            self.sync.stop_nowait()
        if self._lock is not None:
            self._lock.release()
        conn, self._conn = self._conn, None
        self._stores.clear()
        if conn is not None:
            conn.close()

    async def __aenter__(self) -> "Client":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __enter__(self) -> "Client":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close_sync()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def _connection(self) -> apsw.Connection:
        conn = self._conn
        if conn is None:
            raise ClientClosed(f"client for {self.path!r} is not open; call start() (or open()) first")
        return conn

    # -- stores ---------------------------------------------------------------------------

    def store(self, name: str) -> Store[Any]:
        """The store of resource ``name``."""
        s = self._stores.get(name)
        if s is None:
            self._connection()
            if name not in self.schema:
                raise ValidationError(
                    f"unknown resource {name!r}; resources are {sorted(self.schema.resources)}", path="resource", resource=name
                )
            s = self._stores[name] = Store(self, self.schema[name])
        return s

    def __repr__(self) -> str:
        return f"Client({self.path!r}, open={self.is_open})"
