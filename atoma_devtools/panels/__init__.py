"""The inspector's panels; each is a :class:`~atoma_devtools.panels.base.Panel`."""

from .base import Context, Panel
from .cache import CachePanel
from .conflicts import ConflictsPanel
from .events import EventsPanel
from .history import HistoryPanel
from .indexes import IndexesPanel
from .outbox import OutboxPanel
from .stores import StoresPanel
from .sync import SyncPanel

__all__ = [
    "CachePanel",
    "ConflictsPanel",
    "Context",
    "EventsPanel",
    "HistoryPanel",
    "IndexesPanel",
    "OutboxPanel",
    "Panel",
    "StoresPanel",
    "SyncPanel",
    "ALL_PANELS",
]

ALL_PANELS: tuple[type[Panel], ...] = (
    StoresPanel,
    IndexesPanel,
    OutboxPanel,
    SyncPanel,
    ConflictsPanel,
    HistoryPanel,
    CachePanel,
    EventsPanel,
)
