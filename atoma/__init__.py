"""Atoma: an offline-first data layer for Qt desktop applications.

``import atoma`` never imports Qt; the Qt layer lives in :mod:`atoma.qt`.
"""

from .client import Client
from .conflicts import Conflict, KeepLocal, Merged, Resolution, TakeServer
from .errors import (
    AtomaError,
    ClientClosed,
    ClientLocked,
    ConflictError,
    HistoryConflict,
    NotFound,
    RejectedError,
    SchemaError,
    SyncError,
    ValidationError,
)
from .events import Event, EventBus, EventLog, OutboxEnqueued, StoreChanged
from .history import History, HistoryChanged, HistoryStep, SkippedChange, StepResult
from .outbox import Intent, Outbox
from .remote_cache import CacheStats, RemoteCache
from .schema import BelongsTo, Entity, HasMany, HasOne, Index, Resource, Schema, TextIndex
from .store import Page, QueryPlan, Store
from .sync import SyncEngine, SyncOptions, SyncStatus

__version__ = "0.1.0"

__all__ = [
    "AtomaError",
    "BelongsTo",
    "CacheStats",
    "Client",
    "Conflict",
    "ClientClosed",
    "ClientLocked",
    "ConflictError",
    "Entity",
    "Event",
    "EventBus",
    "EventLog",
    "HasMany",
    "HasOne",
    "History",
    "HistoryChanged",
    "HistoryConflict",
    "HistoryStep",
    "Index",
    "Intent",
    "KeepLocal",
    "Merged",
    "NotFound",
    "Outbox",
    "OutboxEnqueued",
    "Page",
    "QueryPlan",
    "RejectedError",
    "Resolution",
    "RemoteCache",
    "Resource",
    "Schema",
    "SchemaError",
    "SkippedChange",
    "StepResult",
    "Store",
    "StoreChanged",
    "SyncEngine",
    "SyncError",
    "SyncOptions",
    "SyncStatus",
    "TakeServer",
    "TextIndex",
    "ValidationError",
]
