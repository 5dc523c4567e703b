"""The pull lane: follow the change feed from the persisted cursor, page by page.

Each page is applied together with the new cursor in one SQLite transaction, so a crash
between pages re-pulls at most one page (and versions make re-applying a no-op). Rows with
unsettled local intents keep the user's edit: only their server base moves (see
:func:`.rebase.after_pull`). ``store.changed`` (origin ``sync``) is emitted once per page and
resource, and the lane yields to the event loop between pages so a large catch-up never
freezes the UI.

``CURSOR_EXPIRED`` (the server trimmed history past the cursor) triggers a resync: the caller
pushes first, then :meth:`Puller.resync` rebuilds the resources from a query snapshot while
keeping unsettled intents, and pulling resumes from the server's ``minCursor``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import apsw

from .. import protocol as p
from ..database import table_of
from ..errors import SyncError
from ..events import Event, PullApplied, StoreChanged, SyncResync
from .rebase import Row, after_pull
from .rows import get_cursor, read_row, set_cursor, write_row
from .transport import Transport

__all__ = ["Puller", "CursorExpired", "apply_page", "apply_snapshot", "snapshot_changes"]


class CursorExpired(SyncError):
    """The server's history no longer reaches back to our cursor (``min_cursor``)."""

    default_code = p.CURSOR_EXPIRED

    def __init__(self, message: str, *, min_cursor: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.min_cursor = min_cursor


OnOverlap = Callable[[apsw.Connection, Row, p.Change, int], "list[Event] | None"]


def apply_page(
    conn: apsw.Connection,
    known: frozenset[str],
    changes: Sequence[p.Change],
    next_cursor: int,
    *,
    on_overlap: OnOverlap | None = None,
    now_ms: int = 0,
) -> tuple[list[Event], int]:
    """Apply one page and store ``next_cursor``, in one transaction; return the events to emit
    after the commit and how many changes were applied.

    ``on_overlap`` (the conflict inbox's early detection) sees each newer change for a row
    with unsettled local intents first; when it returns events it has handled the change.
    """
    touched: dict[str, tuple[list[str], list[str]]] = {}
    extra: list[Event] = []
    applied = 0
    with conn:
        for ch in changes:
            if ch.resource not in known:
                continue
            row = read_row(conn, ch.resource, ch.entity_id)
            if on_overlap is not None and row is not None and row.pending > 0 and ch.version > row.known_version:
                handled = on_overlap(conn, row, ch, now_ms)
                if handled is not None:
                    extra += handled
                    applied += 1
                    continue
            new = after_pull(row, ch)
            if new is None:
                continue
            applied += 1
            write_row(conn, ch.resource, ch.entity_id, new)
            if row is not None and row.pending > 0:
                continue  # the local view did not change
            ids, deleted = touched.setdefault(ch.resource, ([], []))
            ids.append(ch.entity_id)
            if new.deleted:
                deleted.append(ch.entity_id)
        set_cursor(conn, next_cursor)
    events: list[Event] = extra + [
        StoreChanged(resource=res, ids=tuple(dict.fromkeys(ids)), origin="sync", deleted=tuple(dict.fromkeys(dl)))
        for res, (ids, dl) in touched.items()
    ]
    events.append(PullApplied(cursor=next_cursor, changes=len(changes), applied=applied, resources=tuple(touched)))
    return events, applied


def snapshot_changes(resource: str, items: Sequence[Any]) -> list[p.Change]:
    """Server entities (query results) as upsert changes; each must carry id and version."""
    out = []
    for item in items:
        eid, version = item.get("id"), item.get("version")
        if not isinstance(eid, str) or not isinstance(version, int):
            raise SyncError(f"{resource}: the server sent an item without id/version: {item!r}", code="BAD_RESPONSE", resource=resource)
        out.append(p.Change(resource=resource, entity_id=eid, kind="upsert", version=version, changed_at_ms=0, value=dict(item)))
    return out


def apply_snapshot(conn: apsw.Connection, changes: Sequence[p.Change]) -> list[str]:
    """Write server entities as pulled changes are written (inside the caller's transaction):
    no intents, pending local edits kept. Returns the ids whose local view changed."""
    ids: list[str] = []
    for ch in changes:
        row = read_row(conn, ch.resource, ch.entity_id)
        new = after_pull(row, ch)
        if new is None:
            continue
        write_row(conn, ch.resource, ch.entity_id, new)
        if row is None or row.pending == 0:
            ids.append(ch.entity_id)
    return ids


class Puller:
    """Runs pulls for one client over ``resources``."""

    def __init__(
        self,
        conn: Callable[[], apsw.Connection],
        transport: Transport,
        emit: Callable[[Event], None],
        resources: Sequence[str],
        *,
        page_size: int = 500,
        device_id: str | None = None,
        on_overlap: OnOverlap | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self._on_overlap = on_overlap
        self._now = now_ms or (lambda: 0)
        self._conn = conn
        self._transport = transport
        self._emit = emit
        self.resources = list(resources)
        self._known = frozenset(resources)
        self.page_size = page_size
        self.device_id = device_id

    @property
    def cursor(self) -> int:
        return get_cursor(self._conn())

    async def pull_once(self) -> int:
        """Pull until caught up (``hasMore`` false); returns the number of changes applied.
        Raises :class:`CursorExpired`, or SyncError for other failures."""
        total = 0
        while True:
            cursor = self.cursor
            op = p.PullOp(op_id="pull", cursor=cursor, limit=self.page_size, resources=self.resources)
            try:
                data = await self._transport.one(op, device_id=self.device_id)
            except SyncError as exc:
                if exc.code == p.CURSOR_EXPIRED:
                    err = (exc.details or {}).get("error") or {}
                    min_cursor = int((err.get("details") or {}).get("minCursor", 0))
                    raise CursorExpired(exc.message, min_cursor=min_cursor, details=exc.details) from None
                raise
            assert isinstance(data, p.PullResultData)
            if data.next_cursor < cursor:
                raise SyncError(f"server moved the cursor backwards ({cursor} -> {data.next_cursor})", code="BAD_RESPONSE", retryable=True)
            events, applied = apply_page(
                self._conn(), self._known, data.changes, data.next_cursor, on_overlap=self._on_overlap, now_ms=self._now()
            )
            total += applied
            for ev in events:
                self._emit(ev)
            if not data.has_more:
                return total
            await asyncio.sleep(0)  # let the UI breathe between pages

    async def resync(self, min_cursor: int) -> int:
        """Rebuild every resource from a query snapshot, keeping unsettled intents, and move
        the cursor to ``min_cursor``. Returns the number of entities in the snapshot."""
        seen: dict[str, set[str]] = {r: set() for r in self.resources}
        count = 0
        for res in self.resources:
            after: str | None = None
            while True:
                params = p.QueryParams(limit=self.page_size, after=after)
                op = p.QueryOp(op_id="snap", resource=res, params=params)
                data = await self._transport.one(op, device_id=self.device_id)
                assert isinstance(data, p.QueryResultData)
                changes = snapshot_changes(res, data.items)
                seen[res].update(c.entity_id for c in changes)
                count += len(changes)
                events = self._apply_snapshot(res, changes)
                for ev in events:
                    self._emit(ev)
                after = data.page_info.cursor
                if not data.page_info.has_next or after is None:
                    break
                await asyncio.sleep(0)
        events = self._finish_resync(seen, min_cursor)
        for ev in events:
            self._emit(ev)
        self._emit(SyncResync(resources=tuple(self.resources), min_cursor=min_cursor, entities=count))
        return count

    def _apply_snapshot(self, res: str, changes: list[p.Change]) -> list[Event]:
        conn = self._conn()
        with conn:
            ids = apply_snapshot(conn, changes)
        return [StoreChanged(resource=res, ids=tuple(ids), origin="sync")] if ids else []

    def _finish_resync(self, seen: dict[str, set[str]], min_cursor: int) -> list[Event]:
        # Entities the server once had but no longer lists were deleted while our history was
        # trimmed: tombstone them, unless local intents are unsettled (those will meet the
        # server's verdict when pushed).
        conn = self._conn()
        events: list[Event] = []
        with conn:
            for res, ids in seen.items():
                gone = [
                    eid
                    for (eid,) in conn.execute(
                        f'SELECT id FROM "{table_of(res)}" WHERE deleted = 0 AND pending = 0 AND max(version, server_version) > 0'
                    )
                    if eid not in ids
                ]
                for eid in gone:
                    row = read_row(conn, res, eid)
                    assert row is not None
                    write_row(conn, res, eid, Row(entity_id=eid, version=row.known_version, server_version=row.known_version, deleted=True, data=row.data))
                if gone:
                    events.append(StoreChanged(resource=res, ids=tuple(gone), origin="sync", deleted=tuple(gone)))
            set_cursor(conn, min_cursor)
        return events
