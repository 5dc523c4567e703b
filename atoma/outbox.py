"""The durable outbox: intents recorded with their entity changes, read back in order."""

from __future__ import annotations

from typing import Any, Literal

import apsw
import msgspec

__all__ = ["Intent", "IntentState", "Outbox", "INTENT_STATES"]

IntentState = Literal["pending", "in_flight", "acked", "conflicted", "rejected"]
INTENT_STATES: tuple[str, ...] = ("pending", "in_flight", "acked", "conflicted", "rejected")
Action = Literal["create", "update", "upsert", "delete"]

INSERT_SQL = (
    "INSERT INTO atoma_outbox(resource, entity_id, action, value, changed, base_version, base, "
    "idempotency_key, created_at_ms, updated_at_ms, origin) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
_COLUMNS = (
    "seq, resource, entity_id, action, value, changed, base_version, base, idempotency_key, state, "
    "attempts, created_at_ms, updated_at_ms, next_attempt_at_ms, last_error, origin"
)


class Intent(msgspec.Struct, kw_only=True, frozen=True):
    """One recorded local write, complete enough to push and to merge on conflict.

    ``value`` is the entity as the user left it (``None`` for a delete); ``changed`` the
    fields this write changed (``None`` for create/upsert/delete: the whole value counts);
    ``base`` the server value the edit was made on (``None`` when the server never had it)
    and ``base_version`` its version.
    """

    seq: int
    resource: str
    entity_id: str
    action: Action
    value: dict[str, Any] | None
    changed: tuple[str, ...] | None
    base_version: int
    base: dict[str, Any] | None
    idempotency_key: str
    state: IntentState
    attempts: int
    created_at_ms: int
    updated_at_ms: int
    next_attempt_at_ms: int | None = None
    last_error: dict[str, Any] | None = None
    origin: str = "local"


_dec = msgspec.json.Decoder()


def _intent(row: tuple[Any, ...]) -> Intent:
    (seq, res, eid, action, value, changed, bv, base, key, state, attempts, c, u, nxt, err, origin) = row
    return Intent(
        seq=seq,
        resource=res,
        entity_id=eid,
        action=action,
        value=None if value is None else _dec.decode(value),
        changed=None if changed is None else tuple(_dec.decode(changed)),
        base_version=bv,
        base=None if base is None else _dec.decode(base),
        idempotency_key=key,
        state=state,
        attempts=attempts,
        created_at_ms=c,
        updated_at_ms=u,
        next_attempt_at_ms=nxt,
        last_error=None if err is None else _dec.decode(err),
        origin=origin,
    )


class Outbox:
    """The outbox of a client (``client.outbox``): read it; retry or discard rejected intents."""

    def __init__(self, conn_getter: Any, client: Any = None) -> None:
        self._conn = conn_getter
        self._client = client

    def retry(self, seq: int) -> None:
        """Send a ``rejected`` intent again (with its original idempotency key); the push
        lane is woken at once. Raises ValidationError for an unknown or non-rejected seq."""
        from .sync.control import retry_intent  # the sync package imports this module

        now = self._client._now_ms() if self._client is not None else 0
        retry_intent(self._conn(), seq, now)
        if self._client is not None:
            self._client.sync._wake_push()

    def discard(self, seq: int) -> list[int]:
        """Drop a ``rejected`` (or still ``pending``) intent, and the later unsettled intents
        of the same entity, which were made on top of it; the entity's local view returns to
        the server's value (the row is removed if the server never had it). Returns the seqs
        discarded. Raises ValidationError for an unknown, settled or in-flight intent."""
        from .sync.control import discard_intent

        seqs, events = discard_intent(self._conn(), seq)
        if self._client is not None:
            for ev in events:
                self._client.events.emit(ev)
            self._client.sync._discarded_seqs(seqs)
            self._client.sync._wake_push()
        return seqs

    def list(
        self, *, state: str | None = None, resource: str | None = None, entity_id: str | None = None, limit: int | None = None
    ) -> list[Intent]:
        """Intents in outbox order (oldest first), optionally filtered."""
        sql = f"SELECT {_COLUMNS} FROM atoma_outbox"
        conds, params = [], []
        for col, val in (("state", state), ("resource", resource), ("entity_id", entity_id)):
            if val is not None:
                conds.append(f"{col} = ?")
                params.append(val)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_intent(r) for r in self._conn().execute(sql, params)]

    def get(self, seq: int) -> Intent | None:
        row = self._conn().execute(f"SELECT {_COLUMNS} FROM atoma_outbox WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _intent(row)

    def count(self, state: str | None = None) -> int:
        """How many intents there are (in ``state``, if given)."""
        conn: apsw.Connection = self._conn()
        if state is None:
            return conn.execute("SELECT count(*) FROM atoma_outbox").fetchone()[0]
        return conn.execute("SELECT count(*) FROM atoma_outbox WHERE state = ?", (state,)).fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Intents per state (every state present, zero where none)."""
        out = dict.fromkeys(INTENT_STATES, 0)
        for state, n in self._conn().execute("SELECT state, count(*) FROM atoma_outbox GROUP BY state"):
            out[state] = n
        return out
