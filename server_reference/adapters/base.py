"""The adapter interface every storage backend implements, and what it exchanges with the app.

An adapter owns the server tables (see :mod:`server_reference.adapters`), runs queries and
pulls from validated specs (:mod:`server_reference.reads`), applies write ops with the rules
of :mod:`server_reference.writes` (bulk transaction first, one transaction per item if that
fails), and delivers change notifications ``(resources, cursor)`` to one callback per process.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from atoma import protocol as p
from atoma.errors import SyncError
from atoma.schema import Resource, Schema

from ..reads import PullRows, PullSpec, QueryRows, QuerySpec

__all__ = [
    "Adapter",
    "AdapterError",
    "NotifyCallback",
    "WriteBatch",
    "WriteOutcome",
    "IDEMPOTENCY_TTL_MS",
]

IDEMPOTENCY_TTL_MS = 7 * 24 * 3600 * 1000
"""How long an idempotency record is kept by default (7 days)."""

NotifyCallback = Callable[[Sequence[str], int], None]
"""Called on the event loop with the resources that changed and the newest cursor."""


class AdapterError(SyncError):
    """The storage backend failed; the message never carries the database's own text."""

    default_code = p.ADAPTER

    def __init__(self, message: str = "the storage backend failed; try again later", **kw: object) -> None:
        kw.setdefault("retryable", True)
        super().__init__(message, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """One write op, validated: its resource, action, items and options, and the server clock."""

    resource: Resource
    action: str
    items: Sequence[p.WriteItem]
    options: p.WriteOptions
    now_ms: int


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """Per-item results in item order, and whether the bulk transaction or the fallback ran."""

    results: list[p.WriteItemResult]
    path: Literal["bulk", "per_item"]


class Adapter(abc.ABC):
    """A storage backend of the reference server."""

    name: str = "adapter"
    schema: Schema
    idempotency_ttl_ms: int = IDEMPOTENCY_TTL_MS

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate (idempotent)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop notifications and release connections (idempotent)."""

    @abc.abstractmethod
    async def query(self, spec: QuerySpec) -> QueryRows:
        """Rows of a query in its order (reversed for ``before``), at most ``limit + 1``."""

    @abc.abstractmethod
    async def write(self, batch: WriteBatch) -> WriteOutcome:
        """Apply a write op: items in one transaction, or each in its own if that fails."""

    @abc.abstractmethod
    async def pull(self, spec: PullSpec) -> PullRows:
        """Changes after ``spec.cursor`` in cursor order, at most ``limit + 1``, from one snapshot."""

    @abc.abstractmethod
    async def head_cursors(self, resources: Sequence[str]) -> dict[str, int]:
        """The newest cursor of each resource (0 when it has no changes)."""

    @abc.abstractmethod
    async def touch_device(self, device_id: str, cursor: int, now_ms: int) -> None:
        """Record that ``device_id`` has pulled up to ``cursor`` (retention keeps what it needs)."""

    @abc.abstractmethod
    async def start_notifications(self, callback: NotifyCallback) -> None:
        """Deliver every committed change to ``callback`` (one waiter per process)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for logs (backend and location, never credentials)."""
