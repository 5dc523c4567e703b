"""The Qt layer of Atoma (PySide6): live objects and models that follow the store.

* :class:`LiveOne` -- one entity as a QObject with ``value``/``loading``/``stale``/``error``;
* :class:`LiveQuery` -- a query as a ``QAbstractListModel`` (roles for QML) with fine-grained
  row updates, fetch policies and keyset ``fetch_more``; :class:`QueryTable` (from
  ``LiveQuery.table()``) shows it in a ``QTableView``;
* :func:`undo_actions` -- undo/redo ``QAction`` s that follow ``client.history``;
* :func:`run`, :func:`spawn`, :func:`async_slot`, :func:`install_excepthook`,
  :func:`report_error` -- asyncio (qasync) on the GUI thread, with errors never lost.

Remote reads and their cache are core features (``store.fetch``, ``store.query``,
``client.remote_cache``); this package only schedules them. ``import atoma`` never imports
this package or Qt.
"""

from .actions import undo_actions
from .live_one import LiveOne, OnePolicy
from .live_query import FetchPolicy, LiveQuery, display_text
from .loop import async_slot, install_excepthook, report_error, run, spawn
from .table import QueryTable

__all__ = [
    "FetchPolicy",
    "LiveOne",
    "LiveQuery",
    "OnePolicy",
    "QueryTable",
    "async_slot",
    "display_text",
    "install_excepthook",
    "report_error",
    "run",
    "spawn",
    "undo_actions",
]
