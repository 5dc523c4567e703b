"""Three-way merge of entity values, pure.

``base`` is the server value the local edit was made on, ``local`` the user's value,
``server`` the server's current value. A field changed on one side only takes that side;
a field changed on both sides to the same value agrees; a field changed on both sides
differently is a conflict (left to a person, a callable, or a configured side).
``id`` and ``version`` are not merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

__all__ = ["MergeResult", "three_way", "FieldSide"]

FieldSide = Literal["both", "local", "server", "conflict"]
_SKIP = frozenset({"id", "version"})
_MISSING: Any = object()


class MergeResult(msgspec.Struct, frozen=True, kw_only=True):
    """The merged value and, per field, where it came from.

    ``value`` holds the merged fields; a conflicting field holds the *server's* value
    until someone decides. ``sides`` maps every field that differs anywhere to
    ``local``, ``server``, ``both`` (same change on both sides) or ``conflict``.
    """

    value: dict[str, Any]
    sides: dict[str, FieldSide]
    conflicts: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def three_way(
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any],
    server: Mapping[str, Any],
    local_changed: Iterable[str] | None = None,
) -> MergeResult:
    """Merge ``local`` and ``server`` edits of ``base`` field by field.

    ``local_changed`` (the fields the intent says the user changed) narrows what counts as
    a local edit; without it, any field where ``local`` differs from ``base`` does. With no
    base (the server never had the value we edited), every differing field is a conflict.
    """
    base = base or {}
    changed = None if local_changed is None else set(local_changed)
    value: dict[str, Any] = {}
    sides: dict[str, FieldSide] = {}
    conflicts: list[str] = []
    for f in sorted((set(base) | set(local) | set(server)) - _SKIP):
        b, l, s = base.get(f, _MISSING), local.get(f, _MISSING), server.get(f, _MISSING)
        local_edit = l != b and (changed is None or f in changed)
        server_edit = s != b
        if not local_edit:
            if s is not _MISSING:
                value[f] = s
            if server_edit:
                sides[f] = "server"
        elif not server_edit:
            if l is not _MISSING:
                value[f] = l
            sides[f] = "local"
        elif l == s:
            if l is not _MISSING:
                value[f] = l
            sides[f] = "both"
        else:
            if s is not _MISSING:
                value[f] = s
            sides[f] = "conflict"
            conflicts.append(f)
    return MergeResult(value=value, sides=sides, conflicts=tuple(conflicts))
