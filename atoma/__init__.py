"""Atoma: an offline-first data layer for Qt desktop applications.

``import atoma`` never imports Qt; the Qt layer lives in :mod:`atoma.qt`.
"""

from .client import Client
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
from .schema import BelongsTo, Entity, HasMany, HasOne, Index, Resource, Schema, TextIndex
from .store import Page, QueryPlan, Store
from .sync import SyncEngine, SyncOptions, SyncStatus

__version__ = "0.1.0"

__all__ = [
    "AtomaError",
    "BelongsTo",
    "Client",
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
    "NotFound",
    "Outbox",
    "OutboxEnqueued",
    "Page",
    "QueryPlan",
    "RejectedError",
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
    "TextIndex",
    "ValidationError",
]
