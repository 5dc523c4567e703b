"""Which intents go into the next push request, and how they look on the wire. Pure.

Rules, in order of importance:

* **Per-entity order.** Only the *oldest* unacknowledged intent of an entity may be sent. The
  next one waits for its ack, because its ``baseVersion`` is only known then: guessing
  ``base + 1`` would let a later intent apply on top of somebody else's write whenever the
  earlier one conflicted and the server happened to be exactly one version ahead -- a silent
  lost update. An entity whose oldest intent is in flight or rejected sends nothing.
* **Outbox order across entities** is kept as far as grouping allows: intents are grouped by
  ``(resource, action)`` in order of first appearance, and within a group by sequence. Since a
  request holds at most one intent per entity, grouping never reorders an entity's intents.
* **Bounded requests**: at most ``limit`` items per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from ..outbox import Intent
from ..protocol import ItemMeta, OpsRequest, RequestMeta, WriteItem, WriteOp, WriteOptions

__all__ = ["Group", "select_batch", "group_batch", "to_write_item", "build_request", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 100

# The states in which an intent still has to reach the server (or be dealt with by a person).
_UNSETTLED = frozenset({"pending", "in_flight", "rejected", "conflicted"})


class Group(msgspec.Struct, frozen=True):
    """Consecutive-on-the-wire intents of one resource and action: one write op."""

    resource: str
    action: str
    intents: tuple[Intent, ...]


def select_batch(intents: Iterable[Intent], limit: int = DEFAULT_BATCH_SIZE) -> list[Intent]:
    """Pick the intents of the next request from ``intents`` given in outbox (seq) order.

    ``intents`` may contain any states; acked ones are ignored, and a conflicted one (an
    open conflict) holds its entity back like a rejected one. The iterable is
    consumed lazily and only until ``limit`` intents are chosen, so a caller can stream a large
    outbox from SQLite.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    chosen: list[Intent] = []
    blocked: set[tuple[str, str]] = set()
    for it in intents:
        if it.state not in _UNSETTLED:
            continue
        key = (it.resource, it.entity_id)
        if key in blocked:
            continue
        # Whatever its state, the oldest unsettled intent of an entity blocks the later ones.
        blocked.add(key)
        if it.state == "pending":
            chosen.append(it)
            if len(chosen) >= limit:
                break
    return chosen


def group_batch(batch: Sequence[Intent]) -> list[Group]:
    """Group a batch (at most one intent per entity) into write ops by resource and action."""
    groups: dict[tuple[str, str], list[Intent]] = {}
    for it in batch:
        groups.setdefault((it.resource, it.action), []).append(it)
    return [Group(res, action, tuple(items)) for (res, action), items in groups.items()]


def _strip(value: dict[str, Any] | None) -> dict[str, Any]:
    # "version" is the server's to assign; "id" travels as entityId.
    return {k: v for k, v in (value or {}).items() if k not in ("version", "id")}


def to_write_item(it: Intent) -> WriteItem:
    """The wire form of one intent (see the module docstring of :mod:`atoma.sync`)."""
    meta = ItemMeta(idempotency_key=it.idempotency_key, client_time_ms=it.created_at_ms)
    if it.action == "delete":
        return WriteItem(entity_id=it.entity_id, base_version=it.base_version, meta=meta)
    if it.action == "update":
        # Only the changed fields: the server merges them, so fields this app version does not
        # know (or did not touch) are never overwritten.
        value = it.value or {}
        fields = it.changed if it.changed is not None else tuple(_strip(value))
        return WriteItem(
            entity_id=it.entity_id,
            base_version=it.base_version,
            value={f: value[f] for f in fields if f in value},
            meta=meta,
        )
    return WriteItem(entity_id=it.entity_id, base_version=it.base_version, value=_strip(it.value), meta=meta)


def build_request(groups: Sequence[Group], *, device_id: str | None = None, now_ms: int | None = None) -> OpsRequest:
    """One ``POST /ops`` body with a write op per group; opIds are ``w0``, ``w1``, ..."""
    ops = [
        WriteOp(
            op_id=f"w{i}",
            resource=g.resource,
            action=g.action,  # type: ignore[arg-type]
            items=[to_write_item(it) for it in g.intents],
            options=WriteOptions(returning=True, merge=True),
        )
        for i, g in enumerate(groups)
    ]
    return OpsRequest(meta=RequestMeta(device_id=device_id, client_time_ms=now_ms), ops=ops)
