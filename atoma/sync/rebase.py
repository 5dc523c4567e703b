"""What an entity row becomes when the server answers: ack, conflict, pulled change, discard.

Pure functions over :class:`Row` (the sync-relevant columns of an entity row) so the rules can
be tested without SQLite. The I/O modules read a row, call one of these, and write it back in
the same transaction.

Vocabulary:

* ``data`` -- the local view (what ``store.get`` returns); ``None`` only for a row that does
  not exist at all.
* ``base`` -- while intents are unsettled, the newest server value known (``None`` when the
  server never had the entity, or deleted it: ``server_version`` tells which).
* ``version`` -- the server version the local view is based on; ``server_version`` -- the
  newest server version known (a pull may learn it while local edits are unsettled).
* *unsettled* intents -- pending, in flight or rejected: they still shape the local view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ..outbox import Intent
from ..protocol import Change

__all__ = ["Row", "Rebase", "replay", "after_ack", "after_conflict", "after_pull", "after_discard", "server_value_after"]


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """The sync-relevant state of one entity row."""

    entity_id: str
    version: int = 0
    server_version: int = 0
    deleted: bool = False
    data: dict[str, Any] | None = None
    base: dict[str, Any] | None = None
    pending: int = 0

    @property
    def known_version(self) -> int:
        """The newest server version this replica has seen for the entity."""
        return max(self.version, self.server_version)


class Rebase(msgspec.Struct, frozen=True):
    """Later intents of the entity move onto ``base_version`` with ``base`` as their server value."""

    base_version: int
    base: dict[str, Any] | None


def _with_version(value: dict[str, Any] | None, entity_id: str, version: int) -> dict[str, Any] | None:
    if value is None:
        return None
    return {**value, "id": entity_id, "version": version}


def replay(server: dict[str, Any] | None, intents: Sequence[Intent]) -> dict[str, Any] | None:
    """The local view: ``intents`` (seq order) applied on top of the server value.

    An update only re-applies the fields it changed (so the server's other fields show), a
    create/upsert replaces the value, a delete removes it; an update of a deleted entity
    leaves it deleted (the server will answer it with a conflict).
    """
    view = None if server is None else dict(server)
    for it in intents:
        if it.action == "delete":
            view = None
        elif it.action == "update":
            if view is not None and it.value is not None:
                fields = it.changed if it.changed is not None else tuple(it.value)
                view.update({f: it.value[f] for f in fields if f in it.value and f not in ("id", "version")})
        else:
            view = {**(view or {}), **(it.value or {})}
    return view


def server_value_after(row: Row, intent: Intent, version: int, data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The server's value right after it applied ``intent`` at ``version``.

    ``data`` (the ack's ``returning`` payload) is exact; without it the value is rebuilt the
    way the server builds it: an update merges the changed fields onto the previous base.
    """
    if intent.action == "delete":
        return None
    if data is not None:
        return _with_version(data, intent.entity_id, version)
    if intent.action == "update":
        return _with_version(replay(row.base, [intent]), intent.entity_id, version)
    return _with_version(intent.value, intent.entity_id, version)


def after_ack(
    row: Row, intent: Intent, version: int, data: dict[str, Any] | None, remaining: Sequence[Intent]
) -> tuple[Row, Rebase | None]:
    """The row after the server acknowledged ``intent`` with ``version``.

    ``remaining`` are the entity's other unsettled intents (seq order). They are rebased onto
    ``version`` -- not onto a newer version a pull may have brought meanwhile: their edits
    were not made on that newer value, so the server must judge them against it (CAS).
    """
    at_ack = server_value_after(row, intent, version, data)
    newer_known = row.server_version > version
    server = row.base if newer_known else at_ack
    server_version = row.server_version if newer_known else version
    if not remaining:
        if newer_known:  # a pull already brought a later write by someone else: show it
            return Row(
                entity_id=row.entity_id,
                version=server_version,
                server_version=server_version,
                deleted=server is None,
                data=server if server is not None else row.data,
                base=None,
                pending=0,
            ), None
        if intent.action == "delete":
            data_out = row.data
            deleted = True
        else:
            # The server's copy under the local one: keeps fields this app does not know.
            data_out = {**(at_ack or {}), **(row.data or {}), "id": row.entity_id, "version": version}
            deleted = row.deleted
        return Row(
            entity_id=row.entity_id,
            version=version,
            server_version=version,
            deleted=deleted,
            data=data_out,
            base=None,
            pending=0,
        ), None
    data_out = row.data if row.data is None else {**row.data, "version": version}
    return Row(
        entity_id=row.entity_id,
        version=version,
        server_version=server_version,
        deleted=row.deleted,
        data=data_out,
        base=server,
        pending=len(remaining),
    ), Rebase(version, at_ack)


def after_conflict(
    row: Row, current_value: dict[str, Any] | None, current_version: int, remaining: Sequence[Intent]
) -> tuple[Row, Rebase | None]:
    """Server-wins: the row takes the server's current value; later intents are rebased onto it
    and replayed on top, so the local view shows the server value plus the user's later edits."""
    server = _with_version(current_value, row.entity_id, current_version)
    if row.server_version > current_version:
        server_version, newest = row.server_version, row.base
    else:
        server_version, newest = current_version, server
    if not remaining:
        return Row(
            entity_id=row.entity_id,
            version=server_version,
            server_version=server_version,
            deleted=newest is None,
            data=newest if newest is not None else row.data,
            base=None,
            pending=0,
        ), None
    view = replay(server, remaining)
    return Row(
        entity_id=row.entity_id,
        version=current_version,
        server_version=server_version,
        deleted=view is None,
        data=_with_version(view, row.entity_id, current_version) if view is not None else row.data,
        base=newest,
        pending=len(remaining),
    ), Rebase(current_version, server)


def after_pull(row: Row | None, change: Change) -> Row | None:
    """The row after a pulled change, or ``None`` when the change is not applied.

    A change is applied only when it is newer than what the replica knows. With unsettled
    local intents only the server base moves; the local view keeps the user's edit.
    """
    if row is None:
        if change.kind == "delete":
            return None  # never seen here: nothing to remove
        return Row(
            entity_id=change.entity_id,
            version=change.version,
            server_version=change.version,
            data=_with_version(change.value or {}, change.entity_id, change.version),
        )
    if change.version <= row.known_version:
        return None
    value = None if change.kind == "delete" else _with_version(change.value or {}, change.entity_id, change.version)
    if row.pending > 0:
        return msgspec.structs.replace(row, base=value, server_version=change.version)
    if value is None:
        return msgspec.structs.replace(row, deleted=True, version=change.version, server_version=change.version, base=None)
    return Row(entity_id=row.entity_id, version=change.version, server_version=change.version, data=value)


def after_discard(row: Row, remaining: Sequence[Intent]) -> Row | None:
    """The row after unsettled intents were discarded: the server base with ``remaining``
    replayed on top; ``None`` when the server never had the entity and nothing remains
    (the row is then removed)."""
    server_version = row.known_version
    on_server = server_version > 0
    server = row.base if row.pending > 0 else (row.data if not row.deleted else None)
    if not on_server:
        server = None
    view = replay(server, remaining)
    if view is None and not on_server:
        return None
    return Row(
        entity_id=row.entity_id,
        version=server_version,
        server_version=server_version,
        deleted=view is None,
        data=_with_version(view, row.entity_id, server_version) if view is not None else (row.data or {"id": row.entity_id}),
        base=server if remaining else None,
        pending=len(remaining),
    )
