"""The sync engine: push, pull and subscribe lanes between the local store and a server.

``client.sync`` is a :class:`SyncEngine`. Pure parts (:mod:`.backoff`, :mod:`.batching`,
:mod:`.rebase`, :mod:`.state`) hold the rules and are tested without sockets or clocks; I/O sits
in :mod:`.transport` (httpx, httpx-sse), :mod:`.push`, :mod:`.pull` and :mod:`.engine`.

Intents on the wire (one write op per resource and action in a request):

* create -> ``create`` with the whole value (without ``version``), ``baseVersion`` 0 (or the
  tombstone's version when an id is recreated);
* update -> ``update`` with **only the changed fields** (the server merges them) on the
  intent's ``baseVersion``;
* upsert -> ``upsert`` (strict) with the whole value; delete -> ``delete`` on ``baseVersion``.

Every item carries the intent's idempotency key, the same on every retry. Intent states:
``pending -> in_flight -> acked`` (acked intents are kept, newest ``keep_acked`` of them, then
deleted), ``conflicted`` (in the conflict inbox: it holds the entity while the conflict is open, and
stays as a record once resolved) or ``rejected`` (kept until
``client.outbox.retry(seq)`` or ``client.outbox.discard(seq)``).
"""

from .backoff import Backoff, backoff_delay
from .batching import Group, build_request, group_batch, select_batch, to_write_item
from .engine import SyncEngine, SyncOptions
from .lock import SyncLock
from .conflict_inbox import ConflictInbox
from .push import ConflictHandler, PushRound
from .state import SyncState, SyncStatus, transition

__all__ = [
    "Backoff",
    "ConflictHandler",
    "ConflictInbox",
    "Group",
    "PushRound",
    "SyncEngine",
    "SyncLock",
    "SyncOptions",
    "SyncState",
    "SyncStatus",
    "backoff_delay",
    "build_request",
    "group_batch",
    "select_batch",
    "to_write_item",
    "transition",
]
