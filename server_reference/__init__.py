"""The Atoma reference server: ops and subscribe over HTTP on SQLite or PostgreSQL.

``create_app(adapter, plugins=..., limits=...)`` returns an ASGI app; ``python -m
server_reference`` (or ``atoma-server``) runs it under uvicorn. See ``docs/PROTOCOL.md``.
"""

from __future__ import annotations

from typing import Any

from .adapters.base import Adapter, AdapterError, WriteBatch, WriteOutcome
from .adapters.sqlite import SQLiteAdapter
from .app import AtomaServer, create_app
from .limits import LimitExceeded, Limits
from .observability import Event, LogSink, MemorySink, NullSink, Sink
from .plugins import BearerAuth, OpContext, Plugin, Principal, RequestContext, ResourceAllowList, forbidden, unauthorized
from .serve import make_server
from .subscribe import SubscribeSettings

__all__ = [
    "Adapter",
    "AdapterError",
    "AtomaServer",
    "BearerAuth",
    "Event",
    "LimitExceeded",
    "Limits",
    "LogSink",
    "MemorySink",
    "NullSink",
    "OpContext",
    "Plugin",
    "PostgresAdapter",
    "Principal",
    "RequestContext",
    "ResourceAllowList",
    "SQLiteAdapter",
    "Sink",
    "SubscribeSettings",
    "WriteBatch",
    "WriteOutcome",
    "create_app",
    "forbidden",
    "make_server",
    "unauthorized",
]


def __getattr__(name: str) -> Any:
    # psycopg is imported only by those who use PostgreSQL.
    if name == "PostgresAdapter":
        from .adapters.postgres import PostgresAdapter

        return PostgresAdapter
    raise AttributeError(f"module 'server_reference' has no attribute {name!r}")
