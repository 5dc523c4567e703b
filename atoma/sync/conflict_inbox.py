"""The conflict inbox (``client.sync.conflicts``): detection, strategies, persistence, resolution.

A conflict is recorded when the server refuses an intent with ``CONFLICT`` (push time) or,
earlier, when a pulled change overlaps a pending intent that was never sent (pull time).
The intent moves to ``conflicted``; the strategy of its resource then decides at once
(``server-wins``, ``client-wins``, ``merge`` when clean, a callable) or the conflict stays
*open* (``manual``, or ``merge`` with overlapping edits) until code or a person resolves it.

While a conflict is open its intent keeps holding the entity: the local view keeps the
user's edit, pulls only move the server copy, and the entity's later intents wait.
Resolutions that send something (:class:`~atoma.conflicts.KeepLocal`,
:class:`~atoma.conflicts.Merged`) rewrite that same intent — same place in the outbox,
a *new* idempotency key, the server's current version as its base — so a server that
moved again answers with a new conflict, never a blind overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import apsw
import msgspec

from .. import protocol as p
from ..conflicts import STRATEGIES, Conflict, KeepLocal, Merged, MergeFallback, Resolution, Strategy, TakeServer, decide
from ..errors import NotFound, ValidationError
from ..events import ConflictResolved, Event, StoreChanged, SyncConflict, SyncRebase
from ..ids import new_key
from ..merge import three_way
from ..outbox import Intent
from .push import ConflictHandler
from .rebase import Row, _with_version, after_conflict, replay
from .rows import apply_rebase, read_row, set_state, unsettled, write_row
from .transport import error_dict

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["ConflictInbox"]

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
_COLS = (
    "id, resource, entity_id, seq, state, strategy, base, base_version, local, local_changed, idempotency_key, "
    "server, server_version, detected_at_ms, resolved_at_ms, resolution, resolved_by"
)
_BY = ("strategy", "code", "user")


def _json(v: Any) -> str | None:
    return None if v is None else _enc.encode(v).decode()


def _conflict(row: tuple[Any, ...]) -> Conflict:
    (cid, res, eid, seq, state, strategy, base, bv, local, lc, key, server, sv, at, rat, resolution, by) = row
    return Conflict(
        id=cid, resource=res, entity_id=eid, seq=seq, state=state, strategy=strategy,
        base=None if base is None else _dec.decode(base), base_version=bv,
        local=None if local is None else _dec.decode(local),
        local_changed=None if lc is None else tuple(_dec.decode(lc)),
        idempotency_key=key, server=None if server is None else _dec.decode(server), server_version=sv,
        detected_at_ms=at, resolved_at_ms=rat, resolution=resolution, resolved_by=by,
    )


def _check_strategy(strategy: Any, where: str) -> None:
    if not callable(strategy) and strategy not in STRATEGIES:
        raise ValidationError(f"{where}: unknown conflict strategy {strategy!r}; expected one of {STRATEGIES} or a callable", path=where)


class ConflictInbox(ConflictHandler):
    """Persistent conflicts of one client, and the strategies that decide them."""

    name = "inbox"

    def __init__(
        self,
        client: "Client",
        strategy: Strategy = "server-wins",
        per_resource: Mapping[str, Strategy] | None = None,
        merge_fallback: MergeFallback = "manual",
    ) -> None:
        _check_strategy(strategy, "conflict_strategy")
        for res, st in (per_resource or {}).items():
            if res not in client.schema:
                raise ValidationError(f"conflict_strategies names unknown resource {res!r}", path="conflict_strategies", resource=res)
            _check_strategy(st, f"conflict_strategies[{res!r}]")
        if merge_fallback not in ("manual", "local", "server"):
            raise ValidationError(f"merge_fallback must be 'manual', 'local' or 'server', got {merge_fallback!r}", path="merge_fallback")
        self._client = client
        self.strategy = strategy
        self.per_resource = dict(per_resource or {})
        self.merge_fallback: MergeFallback = merge_fallback

    def strategy_for(self, resource: str) -> Strategy:
        return self.per_resource.get(resource, self.strategy)

    @staticmethod
    def _strategy_name(strategy: Strategy) -> str:
        return strategy if isinstance(strategy, str) else getattr(strategy, "__name__", "callable")

    # -- reading -----------------------------------------------------------------------------

    def list(self, state: str | None = None, resource: str | None = None) -> list[Conflict]:
        """Conflicts oldest first; ``state`` ``"open"`` or ``"resolved"`` filters."""
        conds, params = [], []
        for col, val in (("state", state), ("resource", resource)):
            if val is not None:
                conds.append(f"{col} = ?")
                params.append(val)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        return [_conflict(r) for r in self._client._connection().execute(f"SELECT {_COLS} FROM atoma_conflicts{where} ORDER BY id", params)]

    def get(self, conflict_id: int) -> Conflict | None:
        row = self._client._connection().execute(f"SELECT {_COLS} FROM atoma_conflicts WHERE id = ?", (conflict_id,)).fetchone()
        return None if row is None else _conflict(row)

    def count(self, state: str | None = "open") -> int:
        conn = self._client._connection()
        if state is None:
            return conn.execute("SELECT count(*) FROM atoma_conflicts").fetchone()[0]
        return conn.execute("SELECT count(*) FROM atoma_conflicts WHERE state = ?", (state,)).fetchone()[0]

    # -- resolving ---------------------------------------------------------------------------

    def resolve(self, conflict_id: int, resolution: Resolution, *, by: str = "code") -> Conflict:
        """Resolve an open conflict with ``KeepLocal()``, ``TakeServer()`` or ``Merged(value)``.

        ``by`` records who decided (``"code"`` or ``"user"``). Raises :class:`NotFound` for an
        unknown id and :class:`ValidationError` for a resolved conflict or a bad merged value.
        """
        if by not in _BY:
            raise ValidationError(f"by must be one of {_BY}, got {by!r}", path="by")
        if not isinstance(resolution, (KeepLocal, TakeServer, Merged)):
            raise ValidationError(f"resolution must be KeepLocal(), TakeServer() or Merged(value), got {resolution!r}", path="resolution")
        conn = self._client._connection()
        now = self._client._now_ms()
        with conn:
            c = self.get(conflict_id)
            if c is None:
                raise NotFound(f"no conflict {conflict_id}", code="NOT_FOUND")
            if c.state != "open":
                raise ValidationError(f"conflict {conflict_id} is already resolved ({c.resolution} by {c.resolved_by})", path="conflict_id")
            events = self._apply(conn, c, resolution, by, now)
            c = self.get(conflict_id)
        self._after(events)
        assert c is not None
        return c

    async def check(self, conflict_id: int) -> Conflict:
        """Ask the server for the entity's current value and version and store them in the
        record (a person is about to decide on it: the server may have moved again)."""
        c = self.get(conflict_id)
        if c is None:
            raise NotFound(f"no conflict {conflict_id}", code="NOT_FOUND")
        transport = self._client.sync.transport
        op = p.QueryOp(op_id="check", resource=c.resource, params=p.QueryParams(where={"id": c.entity_id}, limit=1))
        data = await transport.one(op)  # SyncError when the server cannot answer
        assert isinstance(data, p.QueryResultData)
        items = data.items
        server = items[0] if items else None
        conn = self._client._connection()
        with conn:
            if server is not None and int(server.get("version", 0)) > c.server_version:
                conn.execute("UPDATE atoma_conflicts SET server = ?, server_version = ? WHERE id = ?", (_json(server), int(server["version"]), c.id))
            elif server is None and c.server is not None:
                # Gone from the server's live rows: deleted since (the tombstone's version is
                # learned from the feed; one more than we knew is the least it can be).
                conn.execute("UPDATE atoma_conflicts SET server = NULL, server_version = ? WHERE id = ?", (c.server_version + 1, c.id))
        out = self.get(conflict_id)
        assert out is not None
        return out

    def _after(self, events: list[Event]) -> None:
        for ev in events:
            self._client.events.emit(ev)
        self._client.sync._wake_push()
        self._client.sync._refresh()

    # -- detection (inside the lanes' transactions) ----------------------------------------------

    def handle(self, conn: apsw.Connection, intent: Intent, result: p.WriteItemResult, now_ms: int) -> list[Event]:
        """Push time: the server answered ``CONFLICT`` with its current value and version."""
        current = result.current
        assert current is not None and result.error is not None
        set_state(conn, [intent.seq], "conflicted", now_ms, error=error_dict(result.error))
        return self._detected(conn, intent, current.value, current.version, now_ms, "push")

    def on_pull(self, conn: apsw.Connection, row: Row, change: p.Change, now_ms: int) -> list[Event] | None:
        """Pull time: ``change`` is newer than what the row knows and the row has unsettled
        intents. With ``merge`` or ``manual``, disjoint edits rebase the intents onto the new
        version without a round trip, and overlapping ones become a conflict at once. Returns
        events when it handled the change, ``None`` for the default (move the server copy only)."""
        intents = unsettled(conn, change.resource, change.entity_id)
        if not intents:
            return None
        first = intents[0]
        # Only an intent that never left this machine can be judged here; one that may have
        # reached the server gets the server's own verdict.
        if first.state != "pending" or first.attempts > 0 or first.action in ("create", "upsert"):
            return None
        strategy = self.strategy_for(change.resource)
        if strategy not in ("merge", "manual"):
            # server-wins, client-wins and callables decide on the server's verdict at push
            # time; until then the pull only moves the server copy (the edit stays visible).
            return None
        server = None if change.kind == "delete" else _with_version(change.value or {}, change.entity_id, change.version)
        local_view = None if row.deleted else row.data
        if server is not None and local_view is not None:
            changed: set[str] | None = set()
            for it in intents:
                if it.changed is None or changed is None:
                    changed = None
                else:
                    changed |= set(it.changed)
            merged = three_way(first.base, local_view, server, changed)
            if merged.clean:
                # Disjoint edits: move the intents onto the new version, no round trip.
                view = replay(server, intents)
                write_row(conn, change.resource, change.entity_id, Row(
                    entity_id=row.entity_id, version=change.version, server_version=change.version,
                    deleted=view is None, data=_with_version(view, row.entity_id, change.version) if view is not None else row.data,
                    base=server, pending=len(intents),
                ))
                conn.executemany(
                    "UPDATE atoma_outbox SET base_version = ?, base = ?, updated_at_ms = ? WHERE seq = ?",
                    [(change.version, _json(server), now_ms, it.seq) for it in intents],
                )
                return [
                    SyncRebase(resource=change.resource, entity_id=change.entity_id, seqs=tuple(i.seq for i in intents), base_version=change.version),
                    StoreChanged(resource=change.resource, ids=(change.entity_id,), origin="sync"),
                ]
        # Overlapping (or another strategy): a conflict like one met at push time.
        write_row(conn, change.resource, change.entity_id, msgspec.structs.replace(row, base=server, server_version=change.version))
        set_state(conn, [first.seq], "conflicted", now_ms, error={"code": p.CONFLICT, "message": "a pulled change overlaps this edit", "kind": "conflict"})
        return self._detected(conn, first, server, change.version, now_ms, "pull")

    def _detected(
        self, conn: apsw.Connection, intent: Intent, server: dict[str, Any] | None, server_version: int, now: int, where: str
    ) -> list[Event]:
        strategy = self.strategy_for(intent.resource)
        name = self._strategy_name(strategy)
        # The conflict covers every local edit of the entity not yet on the server: the
        # refused intent and the later ones held behind it (they were made on top of it).
        # "local" is the user's view of all of them, so a field changed by any of them and
        # by the server surfaces (a later intent is never slipped onto the server's version).
        covered = [intent] + [it for it in unsettled(conn, intent.resource, intent.entity_id) if it.seq > intent.seq]
        row = read_row(conn, intent.resource, intent.entity_id)
        if row is None or row.deleted or covered[-1].action == "delete":
            local = None
        else:
            local = row.data if row.data is not None else intent.value
        changed: set[str] | None = set()
        for it in covered:
            if it.action != "update" or it.changed is None:
                changed = None
                break
            changed |= set(it.changed)
        conn.execute(
            "INSERT INTO atoma_conflicts(resource, entity_id, seq, state, strategy, base, base_version, local, local_changed, "
            "idempotency_key, server, server_version, detected_at_ms, covers_seq) VALUES (?,?,?, 'open', ?,?,?,?,?,?,?,?,?,?)",
            (
                intent.resource, intent.entity_id, intent.seq, name, _json(intent.base), intent.base_version,
                _json(local), _json(None if changed is None else sorted(changed)),
                intent.idempotency_key, _json(server), server_version, now, covered[-1].seq,
            ),
        )
        cid = conn.last_insert_rowid()
        c = self.get(cid)
        assert c is not None
        events: list[Event] = [
            SyncConflict(
                resource=c.resource, entity_id=c.entity_id, seq=intent.seq, strategy=name, local=c.local,
                server=c.server, server_version=c.server_version, conflict_id=cid, base=c.base,
                base_version=c.base_version, idempotency_key=c.idempotency_key, detected=where,
            )
        ]
        if row is not None and server_version > row.server_version:
            write_row(conn, c.resource, c.entity_id, msgspec.structs.replace(row, base=server, server_version=server_version))
        try:
            resolution, by = decide(c, strategy, self.merge_fallback)
        except Exception as exc:  # noqa: BLE001 - a failing callable leaves the conflict open, visibly
            events.append(StoreChanged(resource=c.resource, ids=(c.entity_id,), origin="sync"))
            import logging

            logging.getLogger("atoma.sync").error("conflict strategy %r failed on conflict %s: %s", name, cid, exc)
            return events
        if resolution is not None:
            events += self._apply(conn, c, resolution, by, now)
        else:
            events.append(StoreChanged(resource=c.resource, ids=(c.entity_id,), origin="sync"))
        return events

    # -- applying a resolution ----------------------------------------------------------------

    def _apply(self, conn: apsw.Connection, c: Conflict, resolution: Resolution, by: str, now: int) -> list[Event]:
        row = read_row(conn, c.resource, c.entity_id)
        (covers,) = conn.execute("SELECT coalesce(covers_seq, seq) FROM atoma_conflicts WHERE id = ?", (c.id,)).fetchone()
        everything = unsettled(conn, c.resource, c.entity_id)
        # Edits covered by the conflict are decided here; edits made while it was open
        # (after ``covers``) stay and are replayed on top of the outcome.
        superseded = [it.seq for it in everything if c.seq is not None and c.seq < it.seq <= covers]
        remaining = [it for it in everything if it.seq > covers]
        # The newest server copy we know: a pull may have brought a later one while it was open.
        if row is not None and row.server_version > c.server_version:
            server, sv = row.base, row.server_version
        else:
            server, sv = _with_version(c.server, c.entity_id, c.server_version), c.server_version
        if superseded:
            conn.executemany("DELETE FROM atoma_outbox WHERE seq = ?", [(s,) for s in superseded])
            self._client.sync._discarded_seqs(superseded)  # confirm() on them reports the drop
        events: list[Event] = []
        target: dict[str, Any] | None = None
        action: str | None = None
        if isinstance(resolution, Merged):
            # A partial value merges onto the server's copy: fields it does not name stay.
            target = self._validated(c, {**(server or {}), **resolution.value})
        elif isinstance(resolution, KeepLocal):
            if c.local is not None and server is not None and c.local_changed is not None:
                # "Mine wins" for what I changed; the server's other fields stay (never erase
                # what someone else wrote to fields these edits did not touch).
                target = {**server, **{f: c.local[f] for f in c.local_changed if f in c.local}}
            else:
                target = c.local
        if not isinstance(resolution, TakeServer):
            action, value, changed = self._wire(target, server, c.entity_id, sv)
        if action is None:
            # The server's copy stands: the intent stays conflicted (a settled record).
            if row is not None:
                new_row, rebase = after_conflict(row, server, sv, remaining)
                write_row(conn, c.resource, c.entity_id, new_row)
                if rebase is not None and remaining:
                    seqs = apply_rebase(conn, remaining, rebase, now)
                    events.append(SyncRebase(resource=c.resource, entity_id=c.entity_id, seqs=tuple(seqs), base_version=rebase.base_version))
                deleted = (c.entity_id,) if new_row.deleted else ()
                events.append(StoreChanged(resource=c.resource, ids=(c.entity_id,), origin="sync", deleted=deleted))
        else:
            # Send again, from the same place in the outbox, with a new key, on the server's version.
            conn.execute(
                "UPDATE atoma_outbox SET action = ?, value = ?, changed = ?, base_version = ?, base = ?, idempotency_key = ?, "
                "state = 'pending', attempts = 0, last_error = NULL, next_attempt_at_ms = NULL, updated_at_ms = ? WHERE seq = ?",
                (action, _json(value), _json(changed), sv, _json(server), new_key(), now, c.seq),
            )
            view = replay(None if target is None else _with_version(target, c.entity_id, sv), remaining)
            if row is not None:
                write_row(conn, c.resource, c.entity_id, Row(
                    entity_id=c.entity_id, version=sv, server_version=max(sv, row.server_version),
                    deleted=view is None, data=_with_version(view, c.entity_id, sv) if view is not None else (row.data or {"id": c.entity_id}),
                    base=server, pending=1 + len(remaining),
                ))
            if remaining:
                conn.executemany(
                    "UPDATE atoma_outbox SET base_version = ?, base = ?, updated_at_ms = ? WHERE seq = ?",
                    [(sv, _json(server), now, it.seq) for it in remaining],
                )
            events.append(StoreChanged(resource=c.resource, ids=(c.entity_id,), origin="sync", deleted=(c.entity_id,) if view is None else ()))
        tag = resolution.__struct_config__.tag
        conn.execute(
            "UPDATE atoma_conflicts SET state = 'resolved', resolved_at_ms = ?, resolution = ?, resolved_by = ?, "
            "server = ?, server_version = ? WHERE id = ?",
            (now, tag, by, _json(server), sv, c.id),
        )
        events.append(ConflictResolved(conflict_id=c.id, resource=c.resource, entity_id=c.entity_id, resolution=str(tag), by=by))
        return events

    def _validated(self, c: Conflict, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"Merged(value) needs a dict, got {type(value).__name__}", path="value", resource=c.resource, entity_id=c.entity_id)
        store = self._client.store(c.resource)
        full = {**value, "id": c.entity_id, "version": c.server_version}
        store._convert(full, c.entity_id)  # raises ValidationError naming the bad field
        return {k: v for k, v in full.items()}

    @staticmethod
    def _wire(
        target: dict[str, Any] | None, server: dict[str, Any] | None, entity_id: str, sv: int
    ) -> tuple[str | None, dict[str, Any] | None, list[str] | None]:
        """The intent that brings the server from ``server`` to ``target`` (None: nothing to send)."""
        if target is None:
            return ("delete", None, None) if server is not None else (None, None, None)
        if server is None:
            return "create", _with_version(target, entity_id, sv), None
        changed = sorted(f for f in set(target) | set(server) if f not in ("id", "version") and target.get(f) != server.get(f) and f in target)
        if not changed:
            return None, None, None
        return "update", _with_version({**server, **target}, entity_id, sv), changed
