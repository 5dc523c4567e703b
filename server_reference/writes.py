"""Write semantics, pure: what one write item does to the stored state of one entity.

Adapters load the entity's row, call :func:`decide`, and either store what :class:`Apply`
says (row, change and idempotency outcome in one transaction) or store the :class:`Reject`
outcome alone. Keeping the rules here means every adapter applies exactly the same ones:

* versions start at 1 and grow by 1 per write; a tombstone keeps its version and a create on
  it continues from there (no ABA);
* update and delete are compare-and-set on ``baseVersion``; a strict upsert is too (an absent
  ``baseVersion`` or 0 expects the entity to be absent), a loose upsert is last-writer-wins;
* ``merge`` (default) patches the given fields onto the stored value; unknown fields are kept,
  so an older client can never erase what it does not know;
* the merged value is validated against the resource's entity type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from atoma import protocol as p
from atoma.query import words
from atoma.schema import Resource

__all__ = ["Stored", "Apply", "Reject", "Decision", "decide", "encode_value", "text_words", "MAX_ID_LENGTH"]

MAX_ID_LENGTH = 256
_ENCODE = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Stored:
    """An entity row as stored: ``data`` is the live value (with id and version), None if deleted."""

    version: int
    deleted: bool
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Apply:
    """Store this row (insert when ``insert``), append a change of ``change_kind``, answer ``result``."""

    entity_id: str
    version: int
    deleted: bool
    data: bytes
    words: bytes | None
    change_kind: str
    insert: bool
    result: p.WriteItemResult


@dataclass(frozen=True, slots=True)
class Reject:
    """Change nothing but the idempotency record; answer ``result``."""

    result: p.WriteItemResult


Decision = Apply | Reject


def encode_value(value: Mapping[str, Any]) -> bytes:
    """The default JSON encoding of a stored value."""
    return _ENCODE(value)


def text_words(resource: Resource, value: Mapping[str, Any] | None) -> bytes | None:
    """The words of each TextIndex field (``{"title": ["buy", "milk"]}``) as JSON, or None.

    Stored next to the value so that ``match`` is evaluated on exactly the words
    :func:`atoma.query.words` gives, on every backend.
    """
    if value is None or not resource.text_indexes:
        return None
    out: dict[str, list[str]] = {}
    for name in resource.text_fields:
        v = value.get(name)
        if isinstance(v, str):
            out[name] = words(v)
    return _ENCODE(out)


def _error(index: int, code: str, message: str, **details: Any) -> Reject:
    return Reject(p.WriteItemResult(index=index, ok=False, error=p.standard_error(code, message, details=details or None)))


def _conflict(resource: str, entity_id: str, index: int, message: str, current: Stored | None) -> Reject:
    cur = p.CurrentValue(value=None, version=0) if current is None else p.CurrentValue(value=current.data, version=current.version)
    return Reject(
        p.WriteItemResult(
            index=index,
            ok=False,
            error=p.standard_error(p.CONFLICT, f"{resource} {entity_id}: {message}"),
            current=cur,
        )
    )


def _build(
    resource: Resource,
    base: Mapping[str, Any] | None,
    value: Mapping[str, Any],
    entity_id: str,
    version: int,
) -> dict[str, Any] | str:
    """The stored object for a new state, or an error message."""
    patch = {k: v for k, v in value.items() if k not in ("id", "version")}
    merged = {**base, **patch} if base else patch
    merged["id"] = entity_id
    merged["version"] = version
    try:
        entity = msgspec.convert(merged, resource.entity)
    except msgspec.ValidationError as exc:
        return str(exc)
    built: dict[str, Any] = msgspec.to_builtins(entity)
    if merged.keys() - built.keys():  # fields this server's schema does not know: keep them
        built = {**merged, **built}
    return built


def decide(
    resource: Resource,
    action: str,
    item: p.WriteItem,
    index: int,
    options: p.WriteOptions,
    entity_id: str,
    current: Stored | None,
    encode: Callable[[dict[str, Any]], bytes] = encode_value,
) -> Decision:
    """Decide the outcome of one write item given the entity's current row (None: absent)."""
    name = resource.name
    if len(entity_id) > MAX_ID_LENGTH:
        return _error(index, p.VALIDATION, f"entityId may have at most {MAX_ID_LENGTH} characters", path="entityId")
    live = current is not None and not current.deleted
    base = item.base_version
    value = item.value or {}
    if action == "create":
        if live:
            return _conflict(name, entity_id, index, "already exists", current)
        return _put(resource, None, value, entity_id, current, index, options, encode)
    if action in ("update", "delete"):
        if current is None:
            return _error(index, p.NOT_FOUND, f"{name} {entity_id}: no such entity")
        if current.deleted:
            return _conflict(name, entity_id, index, f"was deleted (version {current.version})", current)
        if base != current.version:
            return _conflict(name, entity_id, index, f"baseVersion {base} but the server has version {current.version}", current)
        if action == "delete":
            version = current.version + 1
            result = p.WriteItemResult(index=index, ok=True, entity_id=entity_id, version=version)
            tomb = encode({"id": entity_id, "version": version})
            return Apply(entity_id, version, True, tomb, None, "delete", False, result)
        return _put(resource, current.data if options.merge else None, value, entity_id, current, index, options, encode)
    # upsert
    if options.upsert.mode == "strict":
        if live:
            assert current is not None
            if base != current.version:
                return _conflict(name, entity_id, index, f"baseVersion {base} but the server has version {current.version}", current)
        elif base not in (None, 0) and (current is None or base != current.version):
            return _conflict(name, entity_id, index, f"baseVersion {base} but the entity does not exist", current)
    if live:
        assert current is not None
        return _put(resource, current.data if options.merge else None, value, entity_id, current, index, options, encode)
    return _put(resource, None, value, entity_id, current, index, options, encode)


def _put(
    resource: Resource,
    base: Mapping[str, Any] | None,
    value: Mapping[str, Any],
    entity_id: str,
    current: Stored | None,
    index: int,
    options: p.WriteOptions,
    encode: Callable[[dict[str, Any]], bytes],
) -> Decision:
    version = (current.version if current is not None else 0) + 1
    built = _build(resource, base, value, entity_id, version)
    if isinstance(built, str):
        return _error(index, p.VALIDATION, f"{resource.name} {entity_id}: invalid value: {built}")
    data = encode(built)
    if b"\\u0000" in data:  # PostgreSQL text cannot hold NUL; refuse it on every backend alike
        return _error(index, p.VALIDATION, f"{resource.name} {entity_id}: strings may not contain NUL characters")
    result = p.WriteItemResult(
        index=index, ok=True, entity_id=entity_id, version=version, data=msgspec.Raw(data) if options.returning else None  # type: ignore[arg-type]
    )
    return Apply(entity_id, version, False, data, text_words(resource, built), "upsert", current is None, result)
