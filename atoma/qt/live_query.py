"""``LiveQuery``: a query of the local store (or of the server) as a live list model."""

from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import shiboken6
from PySide6.QtCore import (
    Property,
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)

from .. import query as q
from ..errors import AtomaError, ValidationError
from ..events import StoreChanged
from ..schema import Entity
from . import diff
from .bridge import lifetime, running_loop, subscribe
from .loop import report_error

if TYPE_CHECKING:
    from ..client import Client
    from ..store import Page

__all__ = ["LiveQuery", "FetchPolicy", "display_text"]

FetchPolicy = Literal["cache-only", "cache-and-network", "network-only"]
_POLICIES = ("cache-only", "cache-and-network", "network-only")

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_USER = int(Qt.ItemDataRole.UserRole)
# A store change touching more rows than this is applied by re-reading the window and
# diffing id lists (one query) instead of entity by entity (one bisect each).
_SMALL_BATCH = 64
_UNSET: Any = object()
_ModelIndex = QModelIndex | QPersistentModelIndex


def display_text(value: Any) -> str:
    """How a field value reads in a view: ``""`` for null, ``yes``/``no``, ISO dates,
    comma-separated lists, and an entity by its first text field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Entity):
        for name in value.__struct_fields__:
            v = getattr(value, name)
            if isinstance(v, str) and name != "id":
                return v
        return value.id
    if isinstance(value, (list, tuple)):
        return ", ".join(display_text(v) for v in value)
    if isinstance(value, msgspec.Struct):
        return msgspec.json.encode(value).decode()
    return str(value)


class LiveQuery(QAbstractListModel):
    """``resource`` rows matching ``where`` in ``order_by`` order, kept up to date.

    Roles: ``entity`` (:attr:`EntityRole`, the entity object), one per field (``id`` is
    :attr:`IdRole`; :meth:`role` gives any), one per included relation; :meth:`roleNames`
    names them for QML. ``DisplayRole`` shows the ``display`` field (default: the first text
    field). :meth:`table` maps fields to columns for a ``QTableView``.

    Store changes (local writes, undo/redo, sync, hydration) update the rows with
    fine-grained inserts, removals, moves and ``dataChanged`` carrying the changed roles, so
    views keep their selection and scroll position; only :meth:`set_query` resets the model.

    ``limit`` makes it a window of that many rows; :meth:`fetch_more` (also Qt's
    ``fetchMore``, called by views scrolled to the end) extends it by ``limit`` rows, read by
    keyset from the local store and, with a server, from the server's next page.

    ``fetch_policy`` (needs a server; without one, rows are local and nothing is fetched):

    * ``cache-and-network`` (default): local rows at once; the server is queried in the
      background (``stale`` while it runs) unless ``client.remote_cache`` has a fresh answer;
      the results hydrate the store and show up as row changes;
    * ``network-only``: no rows until the server answers, then the local rows after hydration;
    * ``cache-only``: local rows, never a request.

    ``transient=True`` shows the server's rows without storing them (``cache-and-network``
    then uses a fresh cached answer when there is one); :meth:`refetch` refreshes them.

    Properties (with ``...Changed`` signals): ``loading`` (waiting for a first answer with
    nothing to show), ``fetching`` (any request running), ``stale`` (rows shown while a
    refresh runs), ``error`` (message of the last failure, ``""`` if none), ``count``.
    """

    EntityRole = _USER + 1
    IdRole = _USER + 2

    loadingChanged = Signal()
    fetchingChanged = Signal()
    staleChanged = Signal()
    errorChanged = Signal()
    countChanged = Signal()

    def __init__(
        self,
        client: "Client",
        resource: str,
        where: Mapping[str, Any] | None = None,
        order_by: Any = None,
        limit: int | None = None,
        include: Mapping[str, Any] | None = None,
        fetch_policy: FetchPolicy = "cache-and-network",
        *,
        transient: bool = False,
        display: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if fetch_policy not in _POLICIES:
            raise ValidationError(f"fetch_policy must be one of {list(_POLICIES)}, got {fetch_policy!r}", path="fetch_policy")
        self._client = client
        self._store = client.store(resource)
        res = self._store.resource
        self._policy = fetch_policy
        self._transient = bool(transient)
        self._include = dict(include) if include else None
        self._field_names = ["id", "version", *(f for f in res.fields if f not in ("id", "version"))]
        self._rel_names = list(self._include or ())
        for rel in self._rel_names:
            if rel not in res.relations:
                raise ValidationError(
                    f"include.{rel}: resource {resource!r} has no relation {rel!r}; relations are {sorted(res.relations)}",
                    path=f"include.{rel}",
                    resource=resource,
                )
        self._related = _related_resources(client, resource, self._include)
        self._role_of: dict[str, int] = {}
        self._role_names: dict[int, QByteArray] = {self.EntityRole: QByteArray(b"entity")}
        for i, name in enumerate([*self._field_names, *self._rel_names]):
            self._role_of[name] = self.IdRole + i
            self._role_names[self.IdRole + i] = QByteArray(name.encode())
        self._name_of = {r: n for n, r in self._role_of.items()}
        if display is None:
            texts = [f for f in self._field_names[2:] if "str" in res.fields[f].kinds]
            display = next((f for f in texts if res.fields[f].kinds == {"str"}), texts[0] if texts else "id")
        elif display not in self._role_of:
            raise ValidationError(f"display: unknown field {display!r} of {resource!r}", path="display", resource=resource)
        self._display = display
        self._display_role = self._role_of[display]

        self._rows: list[Any] = []
        self._keys: list[tuple[Any, ...]] = []
        self._key_of: dict[str, tuple[Any, ...]] = {}
        self._complete = True
        self._count = 0
        self._loading = self._fetching = self._stale = False
        self._error = ""
        self.last_error: BaseException | None = None
        self._refresh_task: asyncio.Future[Any] | None = None
        self._more_task: asyncio.Future[Any] | None = None
        self._quiet = False
        self._generation = 0
        self._set_query(where, order_by, limit)
        self._life = lifetime(self)
        subscribe(client, self, self._life, ["store.changed"], self._on_store_changed)
        if self._ready:
            rows, self._complete = self._local_window()
            self._put_rows(rows)
        self._count = len(self._rows)
        self._start_remote()

    # -- the query ----------------------------------------------------------------------------

    def _set_query(self, where: Mapping[str, Any] | None, order_by: Any, limit: int | None) -> None:
        res = self._store.resource
        node = q.parse_where(where, res.name, res.fields, res.text_fields)
        order = q.parse_order(order_by, res.name, res.fields)
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValidationError(f"limit must be a positive integer or None, got {limit!r}", path="limit", resource=res.name)
        self._where_arg, self._order_arg, self._limit = where, order_by, limit
        self._where, self._order = node, order
        self._window = limit
        self._remote_cursor: str | None = None
        self._remote_has_next = False
        self._answered = False
        self._ready = self._transient or not (self._policy == "network-only" and self._remote_allowed())

    @Slot()
    def set_query(self, where: Any = _UNSET, order_by: Any = _UNSET, limit: Any = _UNSET) -> None:
        """Change the query (arguments left out stay as they are): the model is reset and
        fetched again according to its policy. The only operation that resets the model."""
        self._set_query(
            self._where_arg if where is _UNSET else where,
            self._order_arg if order_by is _UNSET else order_by,
            self._limit if limit is _UNSET else limit,
        )
        self._generation += 1
        for task in (self._refresh_task, self._more_task):
            if task is not None:
                task.cancel()
        self._refresh_task = self._more_task = None
        self.beginResetModel()
        self._rows, self._keys, self._key_of = [], [], {}
        self._complete = True
        if self._ready and not self._transient:
            rows, self._complete = self._local_window()
            self._put_rows(rows)
        self.endResetModel()
        self._start_remote()
        self._update_flags()

    @property
    def where(self) -> Mapping[str, Any] | None:
        return self._where_arg

    @property
    def order_by(self) -> Any:
        return self._order_arg

    @property
    def limit(self) -> int | None:
        return self._limit

    @property
    def window(self) -> int | None:
        """How many rows a limited query shows at most now (``limit``, grown by
        :meth:`fetch_more`); ``None`` without a limit."""
        return self._window

    @property
    def fetch_policy(self) -> str:
        return self._policy

    @property
    def resource(self) -> str:
        return self._store.name

    # -- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _ModelIndex, role: int = _DISPLAY) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self._rows):
            return None
        ent = self._rows[row]
        if role == _DISPLAY:
            return display_text(getattr(ent, self._display, None))
        if role == self.EntityRole:
            return ent
        name = self._name_of.get(role)
        return None if name is None else getattr(ent, name, None)

    def roleNames(self) -> dict[int, QByteArray]:
        return dict(self._role_names)

    def canFetchMore(self, parent: _ModelIndex) -> bool:
        return not parent.isValid() and self.can_fetch_more

    def fetchMore(self, parent: _ModelIndex) -> None:
        if not parent.isValid():
            self.fetch_more()

    # -- Python API -----------------------------------------------------------------------------

    def role(self, name: str) -> int:
        """The role of field or included relation ``name``."""
        try:
            return self._role_of[name]
        except KeyError:
            raise ValidationError(f"no role {name!r}; roles are {sorted(self._role_of)}", path="role") from None

    @property
    def fields(self) -> list[str]:
        return list(self._field_names)

    def entity(self, row: int) -> Any:
        """The entity shown in ``row``."""
        return self._rows[row]

    def entities(self) -> list[Any]:
        return list(self._rows)

    def ids(self) -> list[str]:
        return [r.id for r in self._rows]

    def row_of(self, entity_id: str) -> int:
        """The row showing ``entity_id``, or -1."""
        key = self._key_of.get(entity_id)
        if key is None:
            return -1
        i = bisect_left(self._keys, key)
        return i if i < len(self._rows) and self._rows[i].id == entity_id else -1

    def table(self, columns: Sequence[str] | None = None, headers: Sequence[str] | None = None) -> Any:
        """A table model over these rows for ``QTableView`` (a child of this model): one
        column per name in ``columns`` (default: every field but ``id`` and ``version``, then
        the included relations)."""
        from .table import QueryTable

        return QueryTable(self, columns, headers)

    @property
    def can_fetch_more(self) -> bool:
        """Whether :meth:`fetch_more` would show more rows (locally or from the server)."""
        if self._transient:
            return self._remote_has_next and self._more_task is None
        if self._window is not None and not self._complete:
            return True
        return self._remote_allowed() and self._ready and self._remote_has_next and self._more_task is None

    @Slot()
    def fetch_more(self) -> "asyncio.Future[Any] | None":
        """Show ``limit`` more rows: the next local keyset page now and, with a server, the
        next server page (hydrated) in the background. Returns that task, if any."""
        if not self._transient and self._window is not None and self._limit is not None:
            self._window += self._limit
            self._settle()
            self._update_flags()
        if self._more_task is None and self._ready and self._remote_has_next and (self._transient or self._remote_allowed()):
            return self._begin_remote(more=True)
        return None

    @Slot()
    def refetch(self) -> "asyncio.Future[Any] | None":
        """Query the server again now (bypassing the cache; rows update in place), or, without
        a server or with ``cache-only``, re-read the local rows. Returns the task, if any."""
        if not self._remote_allowed():
            if not self._transient:
                self._reload()
                self._update_flags()
            return None
        return self._begin_remote(refresh=True)

    # -- properties -----------------------------------------------------------------------------

    def _get_loading(self) -> bool:
        return self._loading

    def _get_fetching(self) -> bool:
        return self._fetching

    def _get_stale(self) -> bool:
        return self._stale

    def _get_error(self) -> str:
        return self._error

    def _get_count(self) -> int:
        return self._count

    loading = Property(bool, _get_loading, notify=loadingChanged)
    fetching = Property(bool, _get_fetching, notify=fetchingChanged)
    stale = Property(bool, _get_stale, notify=staleChanged)
    error = Property(str, _get_error, notify=errorChanged)
    count = Property(int, _get_count, notify=countChanged)

    def _update_flags(self) -> None:
        refreshing = self._refresh_task is not None and not self._quiet
        fetching = refreshing or self._more_task is not None
        loading = refreshing and not self._answered and not self._rows
        stale = refreshing and not loading
        for attr, value, signal in (
            ("_fetching", fetching, self.fetchingChanged),
            ("_loading", loading, self.loadingChanged),
            ("_stale", stale, self.staleChanged),
            ("_count", len(self._rows), self.countChanged),
        ):
            if getattr(self, attr) != value:
                setattr(self, attr, value)
                signal.emit()

    def _set_error(self, exc: BaseException | None) -> None:
        self.last_error = exc
        text = "" if exc is None else str(exc)
        if text != self._error:
            self._error = text
            self.errorChanged.emit()

    # -- local rows -----------------------------------------------------------------------------

    def _local_window(self) -> tuple[list[Any], bool]:
        page = self._store.find(self._where_arg, self._order_arg, self._window, include=self._include)
        return list(page), page.next_cursor is None

    def _key(self, ent: Any) -> tuple[Any, ...]:
        return q.sort_key(self._order, msgspec.to_builtins(ent))

    def _put_rows(self, rows: list[Any]) -> None:
        """Replace the rows without signals (inside a reset, or before anyone sees them)."""
        self._rows = rows
        self._keys = [self._key(r) for r in rows]
        self._key_of = {r.id: k for r, k in zip(rows, self._keys)}

    def _on_store_changed(self, event: StoreChanged) -> None:
        if event.resource == self._store.name and self._ready and not self._transient:
            if len(event.ids) > _SMALL_BATCH:
                self._reload()
            else:
                self._patch(event.ids)
        if event.resource in self._related and self._rows:
            self._refresh_relations()
        self._update_flags()

    def _patch(self, ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(ids))
        found = {e.id: e for e in self._store.find(where={"id": {"in": ids}}, include=self._include)}
        for eid in ids:
            self._patch_one(eid, found.get(eid))
        self._settle()

    def _patch_one(self, eid: str, ent: Any) -> None:
        new_key = None
        if ent is not None:
            record = msgspec.to_builtins(ent)
            if q.matches(self._where, record):
                new_key = q.sort_key(self._order, record)
        keys = self._keys
        old_key = self._key_of.get(eid)
        if old_key is None:
            if new_key is None:
                return
            j = bisect_left(keys, new_key)
            if j == len(keys) and not self._complete:
                return  # sorts after the window, which does not hold every row
            self._insert(j, [ent], [new_key])
            return
        i = bisect_left(keys, old_key)
        if new_key is None:
            self._remove(i, i)
            return
        if new_key == old_key:
            self._replace(i, ent, new_key)
            return
        j = bisect_left(keys, new_key)
        if j == len(keys) and not self._complete:
            self._remove(i, i)  # moved past the end of a partial window (refilled by _settle)
            return
        final = j if j <= i else j - 1
        if final != i:
            self._move(i, final if final < i else final + 1)
        self._replace(final, ent, new_key)

    def _settle(self) -> None:
        """Keep a limited window at its size: trim the tail, or read on by keyset."""
        window = self._window
        if window is None or self._transient:
            return
        n = len(self._rows)
        if n > window:
            self._remove(window, n - 1)
            self._complete = False
        elif n < window and not self._complete:
            after = None
            if self._rows:
                record = msgspec.to_builtins(self._rows[-1])
                after = q.encode_keyset(self._order, [q.field_value(record, k.field) for k in self._order])
            page = self._store.find(self._where_arg, self._order_arg, window - n, after=after, include=self._include)
            rows = [r for r in page if r.id not in self._key_of]
            if rows:
                self._insert(len(self._rows), rows, [self._key(r) for r in rows])
            self._complete = page.next_cursor is None

    def _reload(self) -> None:
        rows, complete = self._local_window()
        self._complete = complete
        self._apply(rows)

    def _refresh_relations(self) -> None:
        assert self._include is not None
        rows, names = self._rows, self._rel_names
        before = [[getattr(r, n, None) for n in names] for r in rows]
        self._client._includes.attach(self._store.resource, rows, self._include, "include")
        for i, (r, old) in enumerate(zip(rows, before)):
            roles = [self._role_of[n] for n, o in zip(names, old) if getattr(r, n, None) != o]
            if roles:
                ix = self.index(i, 0)
                self.dataChanged.emit(ix, ix, [*roles, self.EntityRole])

    # -- row signals ----------------------------------------------------------------------------

    def _insert(self, at: int, rows: list[Any], keys: list[tuple[Any, ...]]) -> None:
        self.beginInsertRows(QModelIndex(), at, at + len(rows) - 1)
        self._rows[at:at] = rows
        self._keys[at:at] = keys
        for r, k in zip(rows, keys):
            self._key_of[r.id] = k
        self.endInsertRows()

    def _remove(self, first: int, last: int) -> None:
        self.beginRemoveRows(QModelIndex(), first, last)
        for r in self._rows[first : last + 1]:
            del self._key_of[r.id]
        del self._rows[first : last + 1]
        del self._keys[first : last + 1]
        self.endRemoveRows()

    def _move(self, row: int, dest: int) -> None:
        if not self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), dest):
            raise AssertionError(f"invalid move of row {row} to {dest}")
        at = dest if dest < row else dest - 1
        self._rows.insert(at, self._rows.pop(row))
        self._keys.insert(at, self._keys.pop(row))
        self.endMoveRows()

    def _replace(self, i: int, ent: Any, key: tuple[Any, ...]) -> None:
        old = self._rows[i]
        self._rows[i] = ent
        self._keys[i] = key
        self._key_of[ent.id] = key
        roles = self._changed_roles(old, ent)
        if roles:
            ix = self.index(i, 0)
            self.dataChanged.emit(ix, ix, roles)

    def _changed_roles(self, old: Any, new: Any) -> list[int]:
        if old is new:
            return []
        roles = [self._role_of[n] for n in self._field_names if getattr(old, n, None) != getattr(new, n, None)]
        roles += [self._role_of[n] for n in self._rel_names if getattr(old, n, None) != getattr(new, n, None)]
        if roles:
            roles.append(self.EntityRole)
            if self._display_role in roles:
                roles.append(_DISPLAY)
        return roles

    def _apply(self, new_rows: list[Any]) -> None:
        """Turn the rows into ``new_rows`` with the fewest row signals (see :mod:`.diff`)."""
        by_id = {r.id: r for r in new_rows}
        for op in diff.plan([r.id for r in self._rows], list(by_id)):
            if isinstance(op, diff.Remove):
                self._remove(op.first, op.last)
            elif isinstance(op, diff.Move):
                self._move(op.row, op.dest)
            else:
                rows = [by_id[i] for i in op.ids]
                self._insert(op.row, rows, [self._key(r) for r in rows])
        for i, new in enumerate(new_rows):
            if self._rows[i] is not new:
                self._replace(i, new, self._key(new))

    # -- remote -------------------------------------------------------------------------------

    def _remote_allowed(self) -> bool:
        return self._client.server is not None and self._policy != "cache-only"

    def _start_remote(self) -> None:
        if not self._remote_allowed():
            return
        if self._transient and self._policy == "cache-only":
            return
        self._begin_remote(refresh=self._policy == "network-only")

    def _begin_remote(self, refresh: bool = False, more: bool = False) -> "asyncio.Future[Any] | None":
        if running_loop() is None:
            self._set_error(AtomaError("no asyncio event loop is running; run the app with atoma.qt.run()", code="NO_LOOP"))
            return None
        kwargs: dict[str, Any] = {"where": self._where_arg, "order_by": self._order_arg, "limit": self._limit}
        if more:
            kwargs["after"] = self._remote_cursor
        cache = not refresh
        if not more:
            if self._refresh_task is not None:
                self._refresh_task.cancel()
            from ..remote import key_for

            key = key_for(self._store, transient=self._transient, **kwargs)
            self._observe(key)
            self._quiet = cache and self._client.remote_cache.peek(key) is not None
        coro = _remote(weakref.ref(self), self._generation, self._store, kwargs, self._transient, cache, more)
        task = self._life.task(asyncio.ensure_future(coro))
        if more:
            self._more_task = task
        else:
            self._refresh_task = task
        self._update_flags()
        return task

    def _observe(self, key: Any) -> None:
        """Count this model as an observer of its remote query (shown by the inspector)."""
        current = getattr(self, "_observing", None)
        if current is not None and current[0] == key:
            return
        if current is not None:
            current[1]()
        release = self._client.remote_cache.observe(key)
        self._observing = (key, release)
        self._life.add(release)

    def _remote_done(self, generation: int, page: "Page[Any] | None", exc: BaseException | None, more: bool) -> None:
        if generation != self._generation:
            return
        if more:
            self._more_task = None
        else:
            self._refresh_task = None
            self._quiet = False
        if exc is not None:
            self._set_error(exc)
        else:
            assert page is not None
            self._set_error(None)
            self._remote_cursor = page.next_cursor
            self._remote_has_next = page.next_cursor is not None
            self._answered = True
            if self._transient:
                rows = list(page)
                if self._include:
                    self._client._includes.attach(self._store.resource, rows, self._include, "include")
                if more:
                    rows = self._rows + [r for r in rows if r.id not in self._key_of]
                self._apply(rows)
            elif not self._ready:
                self._ready = True
                self._reload()
        self._update_flags()

    def __repr__(self) -> str:
        return f"LiveQuery({self._store.name!r}, where={self._where_arg!r}, rows={len(self._rows)})"


def _related_resources(client: "Client", resource: str, include: Mapping[str, Any] | None) -> frozenset[str]:
    """Every resource an include tree reads (changes there may change relation roles)."""
    out: set[str] = set()
    if not include:
        return frozenset()
    res = client.schema[resource]
    for name, opts in include.items():
        rel = res.relations.get(name)
        if rel is None or not opts:
            continue
        out.add(rel.target)
        if isinstance(opts, Mapping) and opts.get("include"):
            out |= _related_resources(client, rel.target, opts["include"])
    return frozenset(out)


async def _remote(
    ref: "weakref.ref[LiveQuery]", generation: int, store: Any, kwargs: dict[str, Any], transient: bool, cache: bool, more: bool
) -> None:
    # No strong reference to the model while the request runs (see LiveOne's _fetch).
    page = exc = None
    try:
        page = await store.query(**kwargs, transient=transient, cache=cache)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - shown in `error`; bugs are also reported
        exc = e
        if not isinstance(e, AtomaError):
            report_error(e)
    obj = ref()
    if obj is not None and shiboken6.isValid(obj):
        obj._remote_done(generation, page, exc, more)
