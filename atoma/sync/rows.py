"""SQL for the sync lanes: read and write entity rows as :class:`~atoma.sync.rebase.Row`, read
and settle intents. Every function runs inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import apsw
import msgspec

from ..database import meta_get, meta_set, table_of
from ..outbox import _COLUMNS, Intent, _intent
from .rebase import Rebase, Row

__all__ = [
    "CURSOR_KEY",
    "read_row",
    "write_row",
    "unsettled",
    "iter_unsettled",
    "set_state",
    "apply_rebase",
    "get_cursor",
    "set_cursor",
    "intent",
]

CURSOR_KEY = "sync.cursor"
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()
# An intent whose conflict is open waits in the conflict inbox: it still shapes the local view
# and holds back the entity's later intents; once resolved, a conflicted intent is settled.
_UNSETTLED_SQL = (
    "(state IN ('pending', 'in_flight', 'rejected') OR "
    "(state = 'conflicted' AND seq IN (SELECT seq FROM atoma_conflicts WHERE state = 'open')))"
)


def _json(value: Any) -> str | None:
    return None if value is None else _enc.encode(value).decode()


def read_row(conn: apsw.Connection, resource: str, entity_id: str) -> Row | None:
    row = conn.execute(
        f'SELECT version, server_version, deleted, data, base, pending FROM "{table_of(resource)}" WHERE id = ?',
        (entity_id,),
    ).fetchone()
    if row is None:
        return None
    version, server_version, deleted, data, base, pending = row
    return Row(
        entity_id=entity_id,
        version=version,
        server_version=server_version,
        deleted=bool(deleted),
        data=_dec.decode(data),
        base=None if base is None else _dec.decode(base),
        pending=pending,
    )


def write_row(conn: apsw.Connection, resource: str, entity_id: str, row: Row | None) -> None:
    """Store ``row`` (insert or update); ``None`` removes the row."""
    table = table_of(resource)
    if row is None:
        conn.execute(f'DELETE FROM "{table}" WHERE id = ?', (entity_id,))
        return
    data = row.data if row.data is not None else {"id": entity_id, "version": row.version}
    args = (row.version, row.server_version, int(row.deleted), _json(data), _json(row.base), row.pending, entity_id)
    conn.execute(
        f'UPDATE "{table}" SET version = ?, server_version = ?, deleted = ?, data = ?, base = ?, pending = ? WHERE id = ?',
        args,
    )
    if conn.changes() == 0:
        conn.execute(
            f'INSERT INTO "{table}"(version, server_version, deleted, data, base, pending, id) VALUES (?,?,?,?,?,?,?)', args
        )


def intent(conn: apsw.Connection, seq: int) -> Intent | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM atoma_outbox WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else _intent(row)


def unsettled(conn: apsw.Connection, resource: str, entity_id: str, *, after: int = 0) -> list[Intent]:
    """The entity's pending, in-flight and rejected intents after ``after``, in seq order."""
    return [
        _intent(r)
        for r in conn.execute(
            f"SELECT {_COLUMNS} FROM atoma_outbox WHERE resource = ? AND entity_id = ? AND seq > ? AND {_UNSETTLED_SQL} ORDER BY seq",
            (resource, entity_id, after),
        )
    ]


def iter_unsettled(conn: apsw.Connection) -> Iterator[Intent]:
    """Every unsettled intent in outbox order, streamed (the push lane stops early)."""
    for r in conn.execute(f"SELECT {_COLUMNS} FROM atoma_outbox WHERE {_UNSETTLED_SQL} ORDER BY seq"):
        yield _intent(r)


def set_state(
    conn: apsw.Connection,
    seqs: Sequence[int],
    state: str,
    now_ms: int,
    *,
    error: dict[str, Any] | None = None,
    count_attempt: bool = False,
) -> None:
    conn.executemany(
        "UPDATE atoma_outbox SET state = ?, updated_at_ms = ?, last_error = coalesce(?, last_error), "
        "attempts = attempts + ? WHERE seq = ?",
        [(state, now_ms, _json(error), int(count_attempt), s) for s in seqs],
    )


def apply_rebase(conn: apsw.Connection, intents: Sequence[Intent], rebase: Rebase, now_ms: int) -> list[int]:
    """Move ``intents`` onto the rebase's base version and value; returns their seqs."""
    seqs = [it.seq for it in intents]
    base = _json(rebase.base)
    conn.executemany(
        "UPDATE atoma_outbox SET base_version = ?, base = ?, updated_at_ms = ? WHERE seq = ?",
        [(rebase.base_version, base, now_ms, s) for s in seqs],
    )
    return seqs


def get_cursor(conn: apsw.Connection) -> int:
    value = meta_get(conn, CURSOR_KEY)
    return int(value) if value is not None else 0


def set_cursor(conn: apsw.Connection, cursor: int) -> None:
    meta_set(conn, CURSOR_KEY, str(cursor))
