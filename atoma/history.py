"""Undo and redo that know about sync.

Every local write is recorded, in its own transaction, as part of a *step* of a *scope*
(``with client.history.action("Complete all"):`` groups writes into one step; a write
outside an action is a step of its own in scope ``"default"``). Undo and redo apply the
inverse (or the change again) as ordinary writes with origin ``history``, which go
through the outbox like any other, with two refinements:

* a change whose intent has not been sent yet is cancelled or rewritten in the outbox
  instead of sending the change and its reverse;
* a field someone else changed since (a pull, or another scope) is never overwritten:
  the step applies what it can and reports what it skipped.

Steps persist in the client database, bounded per scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import apsw
import msgspec

from .errors import HistoryConflict, ValidationError
from .events import Event, OutboxEnqueued, StoreChanged
from .sync.rebase import after_discard
from .sync.rows import read_row, unsettled, write_row

if TYPE_CHECKING:
    from .client import Client
    from .store import Change

__all__ = ["History", "HistoryStep", "SkippedChange", "StepResult", "HistoryChanged"]

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


class HistoryStep(msgspec.Struct, frozen=True, kw_only=True):
    """One undoable step: its label, scope, the resources it touched and how many changes."""

    id: int
    scope: str
    label: str
    state: Literal["done", "undone"]
    created_at_ms: int
    resources: tuple[str, ...]
    change_count: int


class SkippedChange(msgspec.Struct, frozen=True, kw_only=True):
    """A change (or some fields of it) that undo/redo left alone, and why."""

    resource: str
    entity_id: str
    fields: tuple[str, ...]
    reason: str


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an undo or redo did: the step, how many entity changes applied, what was skipped."""

    step: HistoryStep
    applied: int
    skipped: tuple[SkippedChange, ...]


class HistoryChanged(Event, tag="history.changed", frozen=True):
    """The undo/redo stack of ``scope`` changed (``what``: record, undo, redo or clear)."""

    scope: str
    what: str
    can_undo: bool
    can_redo: bool
    undo_label: str | None = None
    redo_label: str | None = None
    skipped: tuple[SkippedChange, ...] = ()


_STEP_COLS = "id, scope, label, state, created_at_ms, resources, change_count"


def _step(row: tuple[Any, ...]) -> HistoryStep:
    sid, scope, label, state, at, resources, count = row
    return HistoryStep(
        id=sid, scope=scope, label=label, state=state, created_at_ms=at, resources=tuple(_dec.decode(resources)), change_count=count
    )


class _Action:
    __slots__ = ("label", "scope", "step_id")

    def __init__(self, label: str, scope: str) -> None:
        self.label, self.scope, self.step_id = label, scope, None


class History:
    """``client.history``: undo/redo stacks per scope, persisted in the client database."""

    def __init__(self, client: "Client", *, enabled: bool = True, max_steps: int = 200) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValidationError(f"history max_steps must be a positive integer, got {max_steps!r}", path="max_steps")
        self._client = client
        self.enabled = enabled
        self.max_steps = max_steps
        self._action: _Action | None = None
        self._unannounced: dict[str, str] = {}  # scope -> label of the step recorded last
        # Cached per scope to keep recording cheap; dropped whenever a transaction may have
        # been rolled back or steps were removed in bulk (see _forget).
        self._counts: dict[str, int] = {}
        self._may_redo: dict[str, bool] = {}

    # -- recording -----------------------------------------------------------------------

    @contextmanager
    def action(self, label: str, scope: str = "default") -> Iterator[None]:
        """Group every local write inside the block into one undo step called ``label``."""
        if not isinstance(label, str) or not label:
            raise ValidationError("history action needs a non-empty label", path="label")
        if self._action is not None:  # nested: the outer action owns the step
            yield
            return
        self._action = _Action(label, scope)
        try:
            yield
        finally:
            action, self._action = self._action, None
            if action.step_id is not None:
                self._announce_recorded(action.scope, action.label)

    def _record(self, conn: apsw.Connection, changes: list["Change"]) -> None:
        """Called by the store inside a local write's transaction."""
        if not self.enabled or not changes:
            return
        action = self._action
        if action is not None:
            scope, label = action.scope, action.label
            step_id = action.step_id
        else:
            scope, label, step_id = "default", _auto_label(changes), None
        resources = sorted({c.resource for c in changes})
        if step_id is None:
            # A new step makes the redo stack of its scope meaningless.
            if self._may_redo.get(scope, True):
                conn.execute("DELETE FROM atoma_history WHERE scope = ? AND state = 'undone'", (scope,))
                self._may_redo[scope] = False
            conn.execute(
                "INSERT INTO atoma_history(scope, label, state, created_at_ms, resources, change_count) VALUES (?, ?, 'done', ?, ?, ?)",
                (scope, label, self._client._now_ms(), _enc.encode(resources).decode(), len(changes)),
            )
            step_id = conn.last_insert_rowid()
            if action is not None:
                action.step_id = step_id
            self._trim(conn, scope)
            first = 0
        else:
            known, first = conn.execute("SELECT resources, change_count FROM atoma_history WHERE id = ?", (step_id,)).fetchone()
            merged = sorted(set(_dec.decode(known)) | set(resources))
            conn.execute(
                "UPDATE atoma_history SET resources = ?, change_count = ? WHERE id = ?",
                (_enc.encode(merged).decode(), first + len(changes), step_id),
            )
        conn.executemany(
            "INSERT INTO atoma_history_changes(step_id, n, resource, entity_id, before, after, changed, seq) VALUES (?,?,?,?,?,?,?,?)",
            [
                (step_id, first + i, c.resource, c.entity_id, c.before, c.after, None if c.changed is None else _enc.encode(c.changed).decode(), c.seq)
                for i, c in enumerate(changes)
            ],
        )
        if action is None:
            self._unannounced[scope] = label

    def _forget(self) -> None:
        """Drop the cached counts (they are re-read from the database when next needed)."""
        self._counts.clear()
        self._may_redo.clear()

    def _flush(self) -> None:
        """Announce steps recorded by writes outside actions (called after their commit)."""
        if self._unannounced:
            scopes, self._unannounced = self._unannounced, {}
            for scope, label in scopes.items():
                self._announce_recorded(scope, label)

    def _announce_recorded(self, scope: str, label: str) -> None:
        # A step was just recorded: it is the one to undo and the redo stack is empty, so
        # the event needs no query (writes stay cheap while an inspector listens).
        bus = self._client.events
        if bus.wants("history.changed"):
            at = self._client._now_ms()
            bus.emit(HistoryChanged(scope=scope, what="record", can_undo=True, can_redo=False, undo_label=label, at_ms=at))

    def _trim(self, conn: apsw.Connection, scope: str) -> None:
        """Keep at most ``max_steps`` steps in ``scope`` (oldest go first)."""
        count = self._counts.get(scope)
        if count is None:
            count = conn.execute("SELECT count(*) FROM atoma_history WHERE scope = ?", (scope,)).fetchone()[0]
        else:
            count += 1
        if count > self.max_steps:
            conn.execute(
                "DELETE FROM atoma_history WHERE id IN (SELECT id FROM atoma_history WHERE scope = ? ORDER BY id LIMIT ?)",
                (scope, count - self.max_steps),
            )
            count = self.max_steps
        self._counts[scope] = count

    # -- reading -------------------------------------------------------------------------

    def steps(self, scope: str | None = None, *, newest: int | None = None) -> list[HistoryStep]:
        """Steps oldest first (of one scope, or all), done and undone; ``newest`` keeps only
        that many of the most recent ones."""
        conn = self._client._connection()
        where, params = ("", []) if scope is None else (" WHERE scope = ?", [scope])
        limit = ""
        if newest is not None:
            limit = " LIMIT ?"
            params.append(int(newest))
        rows = conn.execute(f"SELECT {_STEP_COLS} FROM atoma_history{where} ORDER BY id DESC{limit}", params)
        return [_step(r) for r in reversed(list(rows))]

    def scopes(self) -> list[str]:
        return [s for (s,) in self._client._connection().execute("SELECT DISTINCT scope FROM atoma_history ORDER BY scope")]

    def _next(self, scope: str, undo: bool) -> HistoryStep | None:
        sql = (
            f"SELECT {_STEP_COLS} FROM atoma_history WHERE scope = ? AND state = 'done' ORDER BY id DESC LIMIT 1"
            if undo
            else f"SELECT {_STEP_COLS} FROM atoma_history WHERE scope = ? AND state = 'undone' ORDER BY id ASC LIMIT 1"
        )
        row = self._client._connection().execute(sql, (scope,)).fetchone()
        return None if row is None else _step(row)

    def undo_step(self, scope: str = "default") -> HistoryStep | None:
        """The step :meth:`undo` would undo, or None."""
        return self._next(scope, True)

    def redo_step(self, scope: str = "default") -> HistoryStep | None:
        """The step :meth:`redo` would redo, or None."""
        return self._next(scope, False)

    @property
    def can_undo(self) -> bool:
        """Whether the default scope has a step to undo."""
        return self._next("default", True) is not None

    @property
    def can_redo(self) -> bool:
        """Whether the default scope has a step to redo."""
        return self._next("default", False) is not None

    def clear(self, scope: str | None = None) -> None:
        """Forget the steps of ``scope`` (or of every scope)."""
        conn = self._client._connection()
        scopes = self.scopes() if scope is None else [scope]
        with conn:
            for s in scopes:
                conn.execute("DELETE FROM atoma_history WHERE scope = ?", (s,))
        self._forget()
        for s in scopes:
            self._announce(s, "clear")

    # -- undo / redo -----------------------------------------------------------------------

    def undo(self, scope: str = "default") -> StepResult | None:
        """Undo the newest step of ``scope``; ``None`` if there is none.

        Raises :class:`HistoryConflict` when nothing of the step can be applied.
        """
        return self._apply(scope, undo=True)

    def redo(self, scope: str = "default") -> StepResult | None:
        """Redo the step undone last in ``scope``; ``None`` if there is none."""
        return self._apply(scope, undo=False)

    def _apply(self, scope: str, *, undo: bool) -> StepResult | None:
        if self._action is not None:
            raise ValidationError("cannot undo or redo inside a history action", path="scope")
        step = self._next(scope, undo)
        if step is None:
            return None
        client = self._client
        conn = client._connection()
        now = client._now_ms()
        applied = 0
        skipped: list[SkippedChange] = []
        touched: dict[str, list[str]] = {}
        enqueued: dict[str, list[tuple[str, int, str]]] = {}
        cancelled: list[int] = []
        with conn:
            rows = list(
                conn.execute(
                    "SELECT resource, entity_id, before, after, changed, seq FROM atoma_history_changes WHERE step_id = ? ORDER BY n "
                    + ("DESC" if undo else "ASC"),
                    (step.id,),
                )
            )
            for resource, eid, before, after, changed, seq in rows:
                src, dst = (after, before) if undo else (before, after)
                fields = None if changed is None else tuple(_dec.decode(changed))
                outcome = _Transition(client, conn, resource, eid, now).run(src, dst, fields, seq if undo else None)
                if outcome.skipped:
                    skipped.append(outcome.skipped)
                if outcome.applied:
                    applied += 1
                    touched.setdefault(resource, []).append(eid)
                if outcome.intent is not None:
                    enqueued.setdefault(resource, []).append((eid, outcome.intent, outcome.action))
                cancelled += outcome.cancelled
            if applied == 0 and skipped:
                raise HistoryConflict(
                    f"nothing of {step.label!r} could be {'undone' if undo else 'redone'}: "
                    + "; ".join(f"{s.resource}/{s.entity_id}: {s.reason}" for s in skipped),
                    skipped=skipped,
                )
            conn.execute("UPDATE atoma_history SET state = ? WHERE id = ?", ("undone" if undo else "done", step.id))
            self._may_redo[scope] = True
        if cancelled:
            client.sync._discarded_seqs(cancelled)  # never sent: confirm() must not call them acked
        bus = client.events
        for resource, ids in touched.items():
            if bus.wants("store.changed"):
                deleted = tuple(i for i in ids if client.store(resource).get(i) is None)
                bus.emit(StoreChanged(resource=resource, ids=tuple(ids), origin="history", deleted=deleted))
        for resource, items in enqueued.items():
            if bus.wants("outbox.enqueued"):
                for eid, seq, action in items:
                    bus.emit(OutboxEnqueued(resource=resource, entity_ids=(eid,), seqs=(seq,), action=action))
        result = StepResult(step=msgspec.structs.replace(step, state="undone" if undo else "done"), applied=applied, skipped=tuple(skipped))
        self._announce(scope, "undo" if undo else "redo", result.skipped)
        return result

    def _announce(self, scope: str, what: str, skipped: tuple[SkippedChange, ...] = ()) -> None:
        bus = self._client.events
        if not bus.wants("history.changed") or not self._client.is_open:
            return
        u, r = self._next(scope, True), self._next(scope, False)
        bus.emit(
            HistoryChanged(
                scope=scope,
                what=what,
                can_undo=u is not None,
                can_redo=r is not None,
                undo_label=u.label if u else None,
                redo_label=r.label if r else None,
                skipped=skipped,
            )
        )


def _auto_label(changes: list["Change"]) -> str:
    c = changes[0]
    verb = "Add" if c.before is None else "Delete" if c.after is None else "Edit"
    noun = c.resource if len(changes) > 1 else c.resource.rstrip("s") or c.resource
    return f"{verb} {noun}" if len(changes) == 1 else f"{verb} {len(changes)} {noun}"


class _Outcome:
    __slots__ = ("applied", "skipped", "intent", "action", "cancelled")

    def __init__(self) -> None:
        self.cancelled: list[int] = []
        self.applied = False
        self.skipped: SkippedChange | None = None
        self.intent: int | None = None
        self.action = ""


class _Transition:
    """Moves one entity from the state ``src`` (what the step left) to ``dst`` (what to restore)."""

    def __init__(self, client: "Client", conn: apsw.Connection, resource: str, eid: str, now: int) -> None:
        self.client, self.conn, self.resource, self.eid, self.now = client, conn, resource, eid, now
        self.store = client.store(resource)
        self.out = _Outcome()

    def skip(self, fields: tuple[str, ...], reason: str) -> None:
        self.out.skipped = SkippedChange(resource=self.resource, entity_id=self.eid, fields=fields, reason=reason)

    def run(self, src: str | None, dst: str | None, fields: tuple[str, ...] | None, own_seq: int | None) -> _Outcome:
        table = self.store._table
        if self.conn.execute(
            "SELECT 1 FROM atoma_conflicts WHERE resource = ? AND entity_id = ? AND state = 'open'", (self.resource, self.eid)
        ).fetchone():
            # Its local view is one side of an open conflict: undoing against it could send a
            # stale value over the other side's edit. The conflict is decided first.
            self.skip(fields or (), "has an open conflict; resolve it first")
            return self.out
        row = self.conn.execute(f'SELECT rid, version, deleted, data, pending FROM "{table}" WHERE id = ?', (self.eid,)).fetchone()
        live = row is not None and not row[2]
        cur = _dec.decode(row[3]) if live else None
        # Cancel or rewrite the step's own intent when it is the entity's newest and was never sent.
        own = own_seq is not None and self._unsent_last(own_seq)
        if dst is None:  # remove the entity (undo of a create, redo of a delete)
            if not live:
                self.skip((), "already deleted")
            elif src is not None and _differs(cur, _dec.decode(src), None):
                self.skip((), "changed by someone else since; not deleted")
            elif own:
                self._cancel(own_seq)
            else:
                change = self.store._delete_one(self.conn, self.eid, self.now, origin="history")
                self._enqueued(change.seq, "delete")
            return self.out
        target = _dec.decode(dst)
        if src is None:  # bring the entity back (undo of a delete, redo of a create)
            if live:
                self.skip((), "exists again; not recreated")
            elif own:
                self._cancel(own_seq)
            else:
                target.pop("version", None)
                ent, data = self.store._new({k: v for k, v in target.items() if k in self.store._field_names})
                change = self.store._insert_one(self.conn, ent, data, self.now, origin="history")
                self._enqueued(change.seq, "create")
            return self.out
        # an update: restore the step's fields that nobody else changed since
        if not live:
            self.skip(fields or (), "deleted since")
            return self.out
        source = _dec.decode(src)
        patch, lost = {}, []
        for f in fields or ():
            if cur.get(f) == source.get(f):
                patch[f] = target.get(f)
            else:
                lost.append(f)
        if lost:
            self.skip(tuple(lost), "changed by someone else since")
        if not patch:
            return self.out
        if own:
            self._rewrite_update(row, cur, patch, own_seq)
        else:
            _, change = self.store._update_one(self.conn, self.eid, patch, self.now, origin="history")
            if change is not None:
                self._enqueued(change.seq, "update")
        self.out.applied = True
        return self.out

    def _enqueued(self, seq: int, action: str) -> None:
        self.out.applied = True
        self.out.intent = seq
        self.out.action = action

    def _unsent_last(self, seq: int) -> bool:
        row = self.conn.execute(
            "SELECT seq, state, attempts FROM atoma_outbox WHERE resource = ? AND entity_id = ? ORDER BY seq DESC LIMIT 1",
            (self.resource, self.eid),
        ).fetchone()
        return row is not None and row[0] == seq and row[1] == "pending" and row[2] == 0

    def _drop_intent(self, seq: int) -> None:
        self.conn.execute("DELETE FROM atoma_outbox WHERE seq = ?", (seq,))

    def _cancel(self, seq: int) -> None:
        """Take back the entity's newest, never-sent intent: the row becomes the server's
        newest value with the entity's earlier unsent edits replayed on it (as a discard does),
        so a server change that arrived meanwhile is shown, not overwritten."""
        row = read_row(self.conn, self.resource, self.eid)
        self._drop_intent(seq)
        assert row is not None
        new = after_discard(row, unsettled(self.conn, self.resource, self.eid))
        write_row(self.conn, self.resource, self.eid, new)
        self.out.applied = True
        self.out.cancelled.append(seq)

    def _rewrite_update(self, row: tuple[Any, ...], cur: dict[str, Any], patch: dict[str, Any], seq: int) -> None:
        rid, _, _, _, pending = row
        new = {**cur, **patch}
        data = _enc.encode(new).decode()
        value, changed = self.conn.execute("SELECT value, changed FROM atoma_outbox WHERE seq = ?", (seq,)).fetchone()
        remaining = [f for f in (_dec.decode(changed) if changed else []) if f not in patch]
        if remaining or changed is None:
            self.conn.execute(
                "UPDATE atoma_outbox SET value = ?, changed = ?, updated_at_ms = ? WHERE seq = ?",
                (data, None if changed is None else _enc.encode(remaining).decode(), self.now, seq),
            )
            self.conn.execute(f'UPDATE "{self.store._table}" SET data = ? WHERE rid = ?', (data, rid))
        else:
            self._cancel(seq)


def _differs(cur: dict[str, Any] | None, expected: dict[str, Any], fields: tuple[str, ...] | None) -> bool:
    if cur is None:
        return True
    keys = fields if fields is not None else (set(cur) | set(expected)) - {"version"}
    return any(cur.get(k) != expected.get(k) for k in keys)
