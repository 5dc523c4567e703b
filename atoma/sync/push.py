"""The push lane: drain the outbox in batches and settle every item result.

One round (:meth:`Pusher.push_once`) selects a batch (:mod:`.batching`), marks it in flight,
sends it, and settles each item in a single SQLite transaction:

* ok -> ``acked``; the row takes the new version; later intents of the entity are rebased;
* ``CONFLICT`` -> the :class:`ConflictHandler` (the conflict inbox and its strategies);
* a retryable error -> back to ``pending`` (the lane backs off);
* any other error -> ``rejected``, kept with the server's error (``client.outbox.retry`` /
  ``discard``); later intents of that entity wait.

A request that fails as a whole puts the batch back to ``pending`` untouched: the same
idempotency keys go out again, and the server answers a copy it already applied with the
stored outcome, so a lost response never applies a write twice.
"""

from __future__ import annotations


from collections.abc import Callable
from typing import Any

import apsw

from .. import protocol as p
from ..errors import SyncError
from ..events import Event, PushAcked, PushRejected, PushStarted, StoreChanged, SyncRebase
from ..outbox import Intent
from .batching import DEFAULT_BATCH_SIZE, build_request, group_batch, select_batch
from .rebase import after_ack
from .rows import apply_rebase, iter_unsettled, read_row, set_state, unsettled, write_row
from .transport import Transport, error_dict, is_retryable


__all__ = ["Pusher", "PushRound", "ConflictHandler"]


class PushRound:
    """What one push round did (for the engine's backoff decision and for tests)."""

    __slots__ = ("sent", "acked", "conflicted", "rejected", "retry", "error", "seqs")

    def __init__(self) -> None:
        self.sent = self.acked = self.conflicted = self.rejected = self.retry = 0
        self.error: dict[str, Any] | None = None
        self.seqs: list[int] = []

    def __repr__(self) -> str:
        return (
            f"PushRound(sent={self.sent}, acked={self.acked}, conflicted={self.conflicted}, "
            f"rejected={self.rejected}, retry={self.retry})"
        )


class ConflictHandler:
    """The seam for conflict handling: called, inside the settling transaction, with the
    intent and its CONFLICT item result; returns the events to emit after the commit.

    The client's implementation is the conflict inbox
    (:class:`atoma.sync.conflict_inbox.ConflictInbox`), which applies the strategies.
    """

    name = "abstract"

    def handle(self, conn: apsw.Connection, intent: Intent, result: p.WriteItemResult, now_ms: int) -> list[Event]:
        raise NotImplementedError


class Pusher:
    """Runs push rounds for one client. ``conn`` returns the client's apsw connection."""

    def __init__(
        self,
        conn: Callable[[], apsw.Connection],
        transport: Transport,
        emit: Callable[[Event], None],
        now_ms: Callable[[], int],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        conflicts: ConflictHandler,
        device_id: str | None = None,
        keep_acked: int = 1000,
    ) -> None:
        self._conn = conn
        self._transport = transport
        self._emit = emit
        self._now = now_ms
        self.batch_size = batch_size
        self._limit = batch_size  # shrinks after LIMIT_EXCEEDED, or to 1 to isolate a bad item
        self.conflicts = conflicts
        self.device_id = device_id
        self.keep_acked = keep_acked

    def _select(self) -> list[Intent]:
        conn = self._conn()
        now = self._now()
        with conn:
            rows = iter_unsettled(conn)
            try:
                batch = select_batch(rows, self._limit)
            finally:
                rows.close()
            if batch:
                set_state(conn, [it.seq for it in batch], "in_flight", now, count_attempt=True)
        return batch

    def recover(self) -> int:
        """After a crash (or a cancelled round), put in-flight intents back to pending; their
        keys are unchanged, so re-sending them cannot apply anything twice."""
        conn = self._conn()
        with conn:
            conn.execute("UPDATE atoma_outbox SET state = 'pending' WHERE state = 'in_flight'")
            return conn.changes()

    def _back_to_pending(self, batch: list[Intent], error: dict[str, Any] | None) -> None:
        conn = self._conn()
        with conn:
            set_state(conn, [it.seq for it in batch], "pending", self._now(), error=error)

    async def push_once(self) -> PushRound:
        """One round: returns what happened; raises SyncError when the request failed as a
        whole (retryable: the lane backs off; the batch is pending again either way)."""
        out = PushRound()
        batch = self._select()
        if not batch:
            return out
        out.sent = len(batch)
        out.seqs = [it.seq for it in batch]
        attempt = max(it.attempts for it in batch) + 1
        self._emit(PushStarted(seqs=tuple(out.seqs), attempt=attempt))
        groups = group_batch(batch)
        request = build_request(groups, device_id=self.device_id, now_ms=self._now())
        try:
            response = await self._transport.ops(request)
        except SyncError as exc:
            err = (exc.details or {}).get("error")
            self._back_to_pending(batch, err)
            if exc.retryable or (err or {}).get("kind") == "auth":
                raise
            if exc.code == p.LIMIT_EXCEEDED and self._shrink(exc.details):
                out.retry = len(batch)
                return out
            if len(batch) > 1:
                # Something in the batch is refused as a whole: find it by sending one by one.
                self._limit = 1
                out.retry = len(batch)
                return out
            self._settle_rejected(batch[0], err or {"code": exc.code, "message": exc.message, "kind": "validation"})
            out.rejected = 1
            return out
        except BaseException:
            # Cancelled (client closing) or a bug: nothing is lost, the keys are unchanged.
            self._back_to_pending(batch, None)
            raise
        self._settle(groups, response, out)
        if out.rejected == 0 and out.retry == 0 and self._limit == 1 and self.batch_size > 1:
            self._limit = self.batch_size
        return out

    def _shrink(self, details: dict[str, Any] | None) -> bool:
        err_details = ((details or {}).get("error") or {}).get("details") or {}
        mx = err_details.get("max")
        if isinstance(mx, int) and 0 < mx < self._limit:
            self._limit = mx
            return True
        if self._limit > 1:
            self._limit = max(1, self._limit // 2)
            return True
        return False

    def _settle_rejected(self, it: Intent, err: dict[str, Any]) -> None:
        conn = self._conn()
        with conn:
            set_state(conn, [it.seq], "rejected", self._now(), error=err)
        self._emit(PushRejected(resource=it.resource, entity_id=it.entity_id, seq=it.seq, error=err))

    def _settle(self, groups: list[Any], response: p.OpsResponse, out: PushRound) -> None:
        conn = self._conn()
        now = self._now()
        events: list[Event] = []
        assert response.data is not None
        with conn:
            for group, result in zip(groups, response.data.results):
                intents = list(group.intents)
                if not result.ok:
                    err = result.error
                    assert err is not None
                    if err.code == p.LIMIT_EXCEEDED and self._shrink({"error": error_dict(err)}):
                        set_state(conn, [it.seq for it in intents], "pending", now, error=error_dict(err))
                        out.retry += len(intents)
                        continue
                    items = [p.WriteItemResult(index=i, ok=False, error=err) for i in range(len(intents))]
                else:
                    assert isinstance(result.data, p.WriteResultData)
                    items = result.data.results
                by_index = {r.index: r for r in items}
                acked: list[tuple[Intent, int, bool]] = []
                for i, it in enumerate(intents):
                    r = by_index.get(i)
                    if r is None:  # the server skipped it: try again later
                        set_state(conn, [it.seq], "pending", now)
                        out.retry += 1
                    elif r.ok:
                        assert r.version is not None
                        events.extend(self._ack(conn, it, r, now))
                        acked.append((it, r.version, r.replay))
                        out.acked += 1
                    elif r.error is not None and r.error.code == p.CONFLICT and r.current is not None:
                        events.extend(self.conflicts.handle(conn, it, r, now))
                        out.conflicted += 1
                    elif r.error is not None and is_retryable(r.error):
                        set_state(conn, [it.seq], "pending", now, error=error_dict(r.error))
                        out.retry += 1
                        out.error = error_dict(r.error)
                    else:
                        err = error_dict(r.error) if r.error is not None else {"code": "INTERNAL", "message": "no error", "kind": "internal"}
                        set_state(conn, [it.seq], "rejected", now, error=err)
                        events.append(PushRejected(resource=it.resource, entity_id=it.entity_id, seq=it.seq, error=err))
                        out.rejected += 1
                if acked:
                    events.append(
                        PushAcked(
                            resource=group.resource,
                            entity_ids=tuple(it.entity_id for it, _, _ in acked),
                            seqs=tuple(it.seq for it, _, _ in acked),
                            versions=tuple(v for _, v, _ in acked),
                            replayed=tuple(it.seq for it, _, rep in acked if rep),
                        )
                    )
                    events.append(
                        StoreChanged(resource=group.resource, ids=tuple(it.entity_id for it, _, _ in acked), origin="sync")
                    )
            self._trim(conn)
        for ev in events:
            self._emit(ev)

    def _ack(self, conn: apsw.Connection, it: Intent, r: p.WriteItemResult, now: int) -> list[Event]:
        version = r.version
        assert version is not None
        set_state(conn, [it.seq], "acked", now)
        row = read_row(conn, it.resource, it.entity_id)
        if row is None:
            return []
        remaining = unsettled(conn, it.resource, it.entity_id, after=it.seq)
        new_row, rebase = after_ack(row, it, version, r.data, remaining)
        write_row(conn, it.resource, it.entity_id, new_row)
        if rebase is not None and remaining:
            seqs = apply_rebase(conn, remaining, rebase, now)
            return [SyncRebase(resource=it.resource, entity_id=it.entity_id, seqs=tuple(seqs), base_version=rebase.base_version)]
        return []

    def _trim(self, conn: apsw.Connection) -> None:
        # Acked intents are kept for the inspector (and confirm()) up to keep_acked, newest
        # first; older ones are deleted so the outbox does not grow forever.
        conn.execute(
            "DELETE FROM atoma_outbox WHERE state = 'acked' AND seq < coalesce("
            "(SELECT seq FROM atoma_outbox WHERE state = 'acked' ORDER BY seq DESC LIMIT 1 OFFSET ?), -1)",
            (self.keep_acked,),
        )


