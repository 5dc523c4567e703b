"""Atoma devtools: the inspector window and the conflict dialog.

``Inspector(client)`` (or ``open_inspector(client)``) shows the store, indexes, outbox,
sync, conflicts, history, remote cache and event log of a running client;
``ConflictDialog(client, conflict)`` lets a person resolve a conflict field by field.
``python -m atoma_devtools PATH.db`` opens a client database read-only.
"""

from .conflict_dialog import ConflictDialog
from .inspector import Inspector, open_inspector

__all__ = ["Inspector", "open_inspector", "ConflictDialog"]
