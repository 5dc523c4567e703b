"""Conflicts: the record of one, the resolutions, and the strategies that can decide them.

A conflict is an intent the server refused because the entity's version moved, or a pulled
change that overlaps a pending intent. The client keeps three copies — ``base`` (the server
value the user edited), ``local`` (the user's intended value) and ``server`` (the server's
current value) — and a strategy, application code or a person decides with
:class:`KeepLocal`, :class:`TakeServer` or :class:`Merged`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Union

import msgspec

from .merge import MergeResult, three_way

__all__ = [
    "Conflict",
    "ConflictState",
    "KeepLocal",
    "TakeServer",
    "Merged",
    "Resolution",
    "Strategy",
    "StrategyName",
    "STRATEGIES",
    "MergeFallback",
    "decide",
]

ConflictState = Literal["open", "resolved"]
StrategyName = Literal["server-wins", "client-wins", "merge", "manual"]
STRATEGIES: tuple[str, ...] = ("server-wins", "client-wins", "merge", "manual")


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """One conflict, as the inbox keeps it (persisted; survives restarts).

    ``local`` is ``None`` when the user deleted the entity; ``server`` is ``None`` when the
    server has deleted it (``server_version`` is then its tombstone's version).
    ``local_changed`` lists the fields the user changed (``None``: the whole value counts).
    """

    id: int
    resource: str
    entity_id: str
    seq: int | None
    state: ConflictState
    strategy: str
    base: dict[str, Any] | None
    base_version: int
    local: dict[str, Any] | None
    local_changed: tuple[str, ...] | None
    idempotency_key: str
    server: dict[str, Any] | None
    server_version: int
    detected_at_ms: int
    resolved_at_ms: int | None = None
    resolution: str | None = None
    resolved_by: str | None = None

    @property
    def local_deleted(self) -> bool:
        return self.local is None

    @property
    def server_deleted(self) -> bool:
        return self.server is None

    def merge(self) -> MergeResult:
        """The three-way merge of local and server edits (deletes merge with nothing)."""
        return three_way(self.base, self.local or {}, self.server or {}, self.local_changed)


class KeepLocal(msgspec.Struct, frozen=True, tag="keep_local"):
    """Send the local edit again, on the server's current version, with a new idempotency key.

    For an update, the fields the user changed win and the server's other fields stay; a
    local delete deletes; against a server delete, the local value is created again.
    """


class TakeServer(msgspec.Struct, frozen=True, tag="take_server"):
    """Drop the local edit; the server's value (or its delete) becomes the local value."""


class Merged(msgspec.Struct, frozen=True, tag="merged"):
    """Send ``value`` (a merge of both sides) on the server's current version, with a new key."""

    value: dict[str, Any]


Resolution = Union[KeepLocal, TakeServer, Merged]
Strategy = Union[StrategyName, Callable[[Conflict], Resolution]]


MergeFallback = Literal["manual", "local", "server"]


def decide(
    conflict: Conflict, strategy: Strategy, merge_fallback: MergeFallback = "manual"
) -> tuple[Resolution | None, str]:
    """What ``strategy`` does with ``conflict``: a resolution (or ``None``: wait for a person)
    and who decided (``"strategy"`` or ``"code"`` for a callable).

    ``merge`` merges field by field; when both sides changed a field differently, or one
    side deleted the entity, it falls back to ``merge_fallback``: wait (``manual``), or
    take that side for the conflicting fields.
    """
    if callable(strategy):
        resolution = strategy(conflict)
        if resolution is not None and not isinstance(resolution, (KeepLocal, TakeServer, Merged)):
            raise TypeError(
                f"conflict strategy {strategy!r} must return KeepLocal(), TakeServer(), Merged(value) or None, "
                f"got {resolution!r}"
            )
        return resolution, "code"
    if strategy == "server-wins":
        return TakeServer(), "strategy"
    if strategy == "client-wins":
        return KeepLocal(), "strategy"
    if strategy == "manual":
        return None, "strategy"
    if strategy != "merge":
        raise ValueError(f"unknown conflict strategy {strategy!r}; expected one of {STRATEGIES} or a callable")
    if conflict.local_deleted or conflict.server_deleted:
        side = merge_fallback
    else:
        merged = conflict.merge()
        if merged.clean:
            return Merged(value=merged.value), "strategy"
        if merge_fallback == "server":
            return Merged(value=merged.value), "strategy"
        if merge_fallback == "local":
            local = conflict.local or {}
            return Merged(value={**merged.value, **{f: local[f] for f in merged.conflicts if f in local}}), "strategy"
        return None, "strategy"
    if side == "local":
        return KeepLocal(), "strategy"
    if side == "server":
        return TakeServer(), "strategy"
    return None, "strategy"
