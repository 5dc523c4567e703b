"""One LISTEN connection per server process: turns PostgreSQL NOTIFY into hub notifications.

Writers send at most one ``NOTIFY`` per transaction, carrying ``{"r": [resources], "c":
cursor}``. If the connection drops, it reconnects with exponential backoff and jitter, then
compares the feed's head per resource with what it last saw and reports what it missed; no
other query is ever made while idle.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import msgspec
import psycopg
from psycopg import sql

from .base import NotifyCallback

__all__ = ["PgListener", "NotifyMessage"]

log = logging.getLogger("server_reference.postgres")


class NotifyMessage(msgspec.Struct):
    """The payload of one NOTIFY: changed resources and the newest cursor."""

    r: list[str]
    c: int


_DECODE = msgspec.json.Decoder(NotifyMessage).decode


class PgListener:
    """LISTENs on ``channel`` and calls ``callback`` for every notification."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        callback: NotifyCallback,
        heads: Callable[[], Awaitable[dict[str, int]]],
        *,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.callback = callback
        self.heads = heads
        self.max_backoff_s = max_backoff_s
        self.ready = asyncio.Event()
        self.reconnects = 0
        self._seen: dict[str, int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Start listening; returns once LISTEN is active (so no later commit is missed)."""
        self._task = asyncio.create_task(self._run(), name=f"atoma-listen-{self.channel}")
        waiter = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            await self.stop()
            raise RuntimeError(f"could not LISTEN on {self.channel!r} within {timeout} s")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    def _deliver(self, resources: Sequence[str], cursor: int) -> None:
        if self._seen is not None:
            for r in resources:
                self._seen[r] = max(self._seen.get(r, 0), cursor)
        try:
            self.callback(resources, cursor)
        except Exception:  # a broken subscriber must not stop the listener
            log.exception("notification callback failed")

    async def _catch_up(self) -> None:
        heads = await self.heads()
        if self._seen is not None:
            missed = [r for r, c in heads.items() if c > self._seen.get(r, 0)]
            if missed:
                self._deliver(missed, max(heads[r] for r in missed))
        self._seen = heads

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    await self._catch_up()
                    self.ready.set()
                    backoff = 0.1
                    async for note in conn.notifies():
                        try:
                            msg = _DECODE(note.payload)
                        except msgspec.DecodeError:
                            log.warning("ignoring a malformed notification on %s", self.channel)
                            continue
                        self._deliver(msg.r, msg.c)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.reconnects += 1
                delay = backoff * (0.5 + random.random())  # jitter spreads the reconnects of many servers
                log.warning("LISTEN connection lost (%s); reconnecting in %.2f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, self.max_backoff_s)
