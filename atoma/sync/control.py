"""Retrying and discarding settled-badly intents (``client.outbox.retry`` / ``discard``)."""

from __future__ import annotations

import apsw

from ..errors import ValidationError
from ..events import Event, StoreChanged
from .rebase import after_discard
from .rows import intent, read_row, set_state, unsettled, write_row

__all__ = ["retry_intent", "discard_intent"]


def retry_intent(conn: apsw.Connection, seq: int, now_ms: int) -> None:
    """Put a rejected intent back to pending (same idempotency key: if the server did apply it
    after all, it answers with the stored outcome)."""
    with conn:
        it = intent(conn, seq)
        if it is None:
            raise ValidationError(f"no intent with seq {seq}", path="seq")
        if it.state != "rejected":
            raise ValidationError(f"intent {seq} is {it.state}; only rejected intents can be retried", path="seq")
        set_state(conn, [seq], "pending", now_ms)


def discard_intent(conn: apsw.Connection, seq: int) -> tuple[list[int], list[Event]]:
    """Drop a rejected (or still pending) intent and the later unsettled intents of the same
    entity -- they were made on top of it -- and restore the entity's local view to the server
    base. Returns the discarded seqs and the events to emit."""
    with conn:
        it = intent(conn, seq)
        if it is None:
            raise ValidationError(f"no intent with seq {seq}", path="seq")
        if it.state not in ("rejected", "pending"):
            raise ValidationError(
                f"intent {seq} is {it.state}; only rejected or pending intents can be discarded", path="seq"
            )
        later = unsettled(conn, it.resource, it.entity_id, after=seq)
        busy = [x.seq for x in later if x.state == "in_flight"]
        if busy:
            raise ValidationError(f"intent {busy[0]} of the same entity is in flight; retry after it settles", path="seq")
        earlier = [x for x in unsettled(conn, it.resource, it.entity_id) if x.seq < seq]
        seqs = [seq, *(x.seq for x in later)]
        conn.executemany("DELETE FROM atoma_outbox WHERE seq = ?", [(s,) for s in seqs])
        row = read_row(conn, it.resource, it.entity_id)
        if row is None:
            return seqs, []
        # Edits made before the discarded one still stand: they are replayed on the server base.
        new = after_discard(row, earlier)
        write_row(conn, it.resource, it.entity_id, new)
    gone = new is None or new.deleted
    return seqs, [
        StoreChanged(resource=it.resource, ids=(it.entity_id,), origin="sync", deleted=(it.entity_id,) if gone else ())
    ]

