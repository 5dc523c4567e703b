"""``LiveOne``: one entity as a QObject whose properties follow the store."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Literal

import shiboken6
from PySide6.QtCore import Property, QObject, Signal, Slot

from ..errors import AtomaError, ValidationError
from ..events import StoreChanged
from .bridge import lifetime, running_loop, subscribe
from .loop import report_error

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["LiveOne", "OnePolicy"]

OnePolicy = Literal["cache-first", "cache-only", "cache-and-network", "network-only"]
_POLICIES = ("cache-first", "cache-only", "cache-and-network", "network-only")


class LiveOne(QObject):
    """The entity ``id`` of ``resource``, live.

    Qt properties (each with a ``...Changed`` signal): ``value`` (the entity or ``None``),
    ``loading`` (a fetch runs and there is no value yet), ``stale`` (a value is shown while a
    refresh runs), ``error`` (the message of the last failed fetch, ``""`` if none).

    Construction and property reads never touch the network. ``fetch_policy``:

    * ``cache-first`` (default): fetch from the server only when the entity is not in the local
      store;
    * ``cache-and-network``: as well as that, refresh a local value in the background unless
      the remote cache holds a fresh answer;
    * ``network-only``: always fetch once (the value shown is the local one after hydration);
    * ``cache-only``: never fetch.

    A fetch is scheduled on the asyncio loop after construction; fetches of the same entity
    share one request (``client.remote_cache``); destroying the object withdraws its interest
    (the request is cancelled when nobody else waits for it). Without a server nothing is
    fetched. The value follows every change of the entity: local writes, undo/redo, sync and
    other objects' fetches.
    """

    valueChanged = Signal()
    loadingChanged = Signal()
    staleChanged = Signal()
    errorChanged = Signal()

    def __init__(
        self,
        client: "Client",
        resource: str,
        id: str,  # noqa: A002 - the entity's id, as in the rest of the API
        *,
        fetch_policy: OnePolicy = "cache-first",
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if fetch_policy not in _POLICIES:
            raise ValidationError(f"fetch_policy must be one of {list(_POLICIES)}, got {fetch_policy!r}", path="fetch_policy")
        self._client = client
        self._store = client.store(resource)
        self._id = self._store._check_id(id)
        self._policy = fetch_policy
        self._value: Any = self._store.get(id)
        self._busy = False
        self._loading = False
        self._stale = False
        self._error = ""
        self.last_error: BaseException | None = None
        self._life = lifetime(self)
        subscribe(client, self, self._life, ["store.changed"], self._on_store_changed)
        if self._wants_fetch():
            self._schedule(refresh=fetch_policy == "network-only")

    # -- properties ---------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._id

    @property
    def resource(self) -> str:
        return self._store.name

    def _get_value(self) -> Any:
        return self._value

    def _get_loading(self) -> bool:
        return self._loading

    def _get_stale(self) -> bool:
        return self._stale

    def _get_error(self) -> str:
        return self._error

    value = Property(object, _get_value, notify=valueChanged)
    loading = Property(bool, _get_loading, notify=loadingChanged)
    stale = Property(bool, _get_stale, notify=staleChanged)
    error = Property(str, _get_error, notify=errorChanged)

    # -- fetching -----------------------------------------------------------------------------

    def _wants_fetch(self) -> bool:
        if self._client.server is None or self._policy == "cache-only":
            return False
        if self._value is None or self._policy == "network-only":
            return True
        if self._policy == "cache-and-network":
            from ..remote import key_for

            key = key_for(self._store, where={"id": self._id}, limit=1)
            return self._client.remote_cache.peek(key) is None
        return False

    @Slot()
    def refetch(self) -> "asyncio.Task[Any] | None":
        """Fetch the entity from the server now (a fresh request); returns the task, or None
        when nothing can be fetched (no server, ``cache-only``, no running loop)."""
        if self._client.server is None or self._policy == "cache-only":
            return None
        return self._start(refresh=True)

    def _schedule(self, refresh: bool) -> None:
        loop = running_loop()
        if loop is None:
            self._set_error(AtomaError("no asyncio event loop is running; run the app with atoma.qt.run()", code="NO_LOOP"))
            return
        self._set_busy(True)
        ref = weakref.ref(self)

        def start() -> None:
            obj = ref()
            if obj is not None and shiboken6.isValid(obj):
                obj._start(refresh)

        handle = loop.call_soon(start)
        self._life.add(handle.cancel)

    def _start(self, refresh: bool) -> "asyncio.Task[Any] | None":
        if running_loop() is None:
            return None
        if not getattr(self, "_observing", False):
            from ..remote import key_for

            # Counted as an observer of its fetch (the inspector's cache panel shows it).
            self._life.add(self._client.remote_cache.observe(key_for(self._store, where={"id": self._id}, limit=1)))
            self._observing = True
        self._set_busy(True)
        task = asyncio.ensure_future(_fetch(weakref.ref(self), self._store, self._id, not refresh))
        self._life.task(task)
        return task

    def _fetched(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._set_error(exc)
        else:
            self._set_error(None)
            self._set_value(self._store.get(self._id))
        self._set_busy(False)

    # -- state --------------------------------------------------------------------------------

    def _on_store_changed(self, event: StoreChanged) -> None:
        if event.resource == self._store.name and self._id in event.ids:
            self._set_value(self._store.get(self._id))

    def _set_value(self, value: Any) -> None:
        if value != self._value:
            self._value = value
            self.valueChanged.emit()
            self._set_busy(self._busy)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        loading = busy and self._value is None
        stale = busy and self._value is not None
        if loading != self._loading:
            self._loading = loading
            self.loadingChanged.emit()
        if stale != self._stale:
            self._stale = stale
            self.staleChanged.emit()

    def _set_error(self, exc: BaseException | None) -> None:
        self.last_error = exc
        text = "" if exc is None else str(exc)
        if text != self._error:
            self._error = text
            self.errorChanged.emit()

    def __repr__(self) -> str:
        return f"LiveOne({self._store.name!r}, {self._id!r}, value={self._value!r})"


async def _fetch(ref: "weakref.ref[LiveOne]", store: Any, entity_id: str, cache: bool) -> None:
    # Holds no strong reference to the LiveOne while the request runs: dropping the object
    # closes its lifetime, which cancels this task.
    exc: BaseException | None = None
    try:
        await store.fetch(entity_id, cache=cache)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - shown in `error`; bugs are also reported
        exc = e
        if not isinstance(e, AtomaError):
            report_error(e)
    obj = ref()
    if obj is not None and shiboken6.isValid(obj):
        obj._fetched(exc)
