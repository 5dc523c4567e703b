"""Schema declarations: entities, resources, indexes and relations.

A :class:`Schema` is checked when it is constructed, so that a typo in a field name,
a relation target or a foreign key fails at start-up with :class:`SchemaError` rather
than at the first query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import msgspec
import msgspec.inspect as mi

from .errors import SchemaError

__all__ = [
    "Entity",
    "Index",
    "TextIndex",
    "BelongsTo",
    "HasMany",
    "HasOne",
    "Relation",
    "Resource",
    "Schema",
    "FieldSpec",
]

# Names end up inside SQL identifiers and JSON paths; they are checked against this
# pattern at declaration time so that nothing a user typed is ever pasted into SQL.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RESERVED_RELATION_NAMES = frozenset({"id", "version"})


class Entity(msgspec.Struct, kw_only=True, dict=True):
    """Base of every entity ("atom"): a msgspec Struct with ``id`` and ``version``.

    ``version`` is the server version this local copy is based on (0 until the server
    has acknowledged it). Included relations are attached as plain attributes
    (``task.project``), which is why the struct carries a ``__dict__``.
    """

    id: str
    version: int = 0


@dataclass(frozen=True)
class Index:
    """A real SQLite index over one or more fields (``Index("done")``, ``Index("project_id", "title")``)."""

    fields: tuple[str, ...]
    unique: bool = False

    def __init__(self, *fields: str, unique: bool = False) -> None:
        if not fields:
            raise SchemaError("Index() needs at least one field name")
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "unique", unique)


@dataclass(frozen=True)
class TextIndex:
    """A full-text (FTS5) index over string fields, used by the ``match`` operator."""

    fields: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        if not fields:
            raise SchemaError("TextIndex() needs at least one field name")
        object.__setattr__(self, "fields", tuple(fields))


@dataclass(frozen=True)
class BelongsTo:
    """This resource holds ``foreign_key`` pointing at the id of one ``target`` entity."""

    target: str
    foreign_key: str


@dataclass(frozen=True)
class HasMany:
    """Entities of ``target`` hold ``foreign_key`` pointing at this entity's id."""

    target: str
    foreign_key: str


@dataclass(frozen=True)
class HasOne:
    """One entity of ``target`` holds ``foreign_key`` pointing at this entity's id."""

    target: str
    foreign_key: str


Relation = BelongsTo | HasMany | HasOne


@dataclass(frozen=True)
class FieldSpec:
    """What the query layer needs to know of one field."""

    name: str
    encode_name: str
    type: Any  # the Python annotation, used to validate query values
    scalar: bool  # False for lists, dicts and nested structs: only isNull applies
    kinds: frozenset[str]  # subset of {"str", "num", "bool", "null", "any"}
    column: str | None = None  # "id"/"version" live in real columns


def _kinds(t: mi.Type) -> tuple[frozenset[str], bool]:
    """The scalar kinds a msgspec type admits, and whether it is scalar at all."""
    if isinstance(t, mi.UnionType):
        kinds: set[str] = set()
        scalar = True
        for sub in t.types:
            k, s = _kinds(sub)
            kinds |= k
            scalar = scalar and s
        return frozenset(kinds), scalar
    if isinstance(t, mi.NoneType):
        return frozenset({"null"}), True
    if isinstance(t, mi.BoolType):
        return frozenset({"bool"}), True
    if isinstance(t, (mi.IntType, mi.FloatType, mi.DecimalType)):
        return frozenset({"num"}), True
    if isinstance(t, (mi.StrType, mi.DateTimeType, mi.DateType, mi.TimeType, mi.UUIDType)):
        return frozenset({"str"}), True
    if isinstance(t, mi.LiteralType):
        kinds = set()
        for v in t.values:
            kinds.add("null" if v is None else "bool" if isinstance(v, bool) else "num" if isinstance(v, (int, float)) else "str")
        return frozenset(kinds), True
    if isinstance(t, mi.EnumType):
        return frozenset({"str", "num"}), True
    if isinstance(t, mi.AnyType):
        return frozenset({"any"}), True
    return frozenset(), False


class Resource:
    """A named collection of entities of one :class:`Entity` type, with its indexes and relations."""

    def __init__(
        self,
        name: str,
        entity: type[Entity],
        *,
        indexes: Iterable[Index | TextIndex] = (),
        relations: Mapping[str, Relation] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise SchemaError(f"resource name {name!r} must be an identifier (letters, digits, _)", resource=str(name))
        if not (isinstance(entity, type) and issubclass(entity, Entity)):
            raise SchemaError(f"resource {name!r}: entity must be a subclass of atoma.Entity, got {entity!r}", resource=name)
        self.name = name
        self.entity = entity
        self.indexes: tuple[Index, ...] = tuple(i for i in indexes if isinstance(i, Index))
        self.text_indexes: tuple[TextIndex, ...] = tuple(i for i in indexes if isinstance(i, TextIndex))
        others = [i for i in indexes if not isinstance(i, (Index, TextIndex))]
        if others:
            raise SchemaError(f"resource {name!r}: indexes must be Index or TextIndex, got {others[0]!r}", resource=name)
        self.relations: dict[str, Relation] = dict(relations or {})
        self.fields: dict[str, FieldSpec] = {}
        info = mi.type_info(entity)
        hints = {f.name: f.type for f in msgspec.structs.fields(entity)}
        for f in info.fields:  # type: ignore[attr-defined]
            if not _NAME.match(f.name):
                raise SchemaError(f"resource {name!r}: field name {f.name!r} must be an identifier", resource=name)
            if f.encode_name != f.name:
                # One name per field everywhere (queries, JSON, the wire) keeps the three in step.
                raise SchemaError(
                    f"resource {name!r}: field {f.name!r} is renamed to {f.encode_name!r}; renamed fields are not supported",
                    resource=name,
                )
            kinds, scalar = _kinds(f.type)
            column = f.name if f.name in ("id", "version") else None
            self.fields[f.name] = FieldSpec(f.name, f.encode_name, hints[f.name], scalar, kinds, column)
        self.required = frozenset(f.name for f in info.fields if f.required and f.name != "id")  # type: ignore[attr-defined]
        self._check_local()

    def _check_local(self) -> None:
        for ix in self.indexes:
            for f in ix.fields:
                self._need_field(f, f"Index{ix.fields}")
                if not self.fields[f].scalar:
                    raise SchemaError(f"resource {self.name!r}: Index on {f!r}, which is not a scalar field", resource=self.name)
        for tx in self.text_indexes:
            for f in tx.fields:
                self._need_field(f, f"TextIndex{tx.fields}")
                if "str" not in self.fields[f].kinds:
                    raise SchemaError(f"resource {self.name!r}: TextIndex on {f!r}, which is not a string field", resource=self.name)
        seen: set[str] = set()
        for tx in self.text_indexes:
            dup = seen & set(tx.fields)
            if dup:
                raise SchemaError(f"resource {self.name!r}: field {sorted(dup)[0]!r} is in two TextIndexes", resource=self.name)
            seen |= set(tx.fields)
        for rname, rel in self.relations.items():
            if not _NAME.match(rname) or rname in _RESERVED_RELATION_NAMES or rname in self.fields:
                raise SchemaError(
                    f"resource {self.name!r}: relation name {rname!r} must be an identifier that is not a field", resource=self.name
                )
            if not isinstance(rel, (BelongsTo, HasMany, HasOne)):
                raise SchemaError(f"resource {self.name!r}: relation {rname!r} must be BelongsTo, HasMany or HasOne", resource=self.name)
            if isinstance(rel, BelongsTo):
                self._need_field(rel.foreign_key, f"relation {rname!r} foreign key")

    def _need_field(self, f: str, what: str) -> None:
        if f not in self.fields:
            raise SchemaError(
                f"resource {self.name!r}: {what} names unknown field {f!r}; fields are {sorted(self.fields)}",
                resource=self.name,
            )

    @property
    def text_fields(self) -> dict[str, int]:
        """Field name -> position of the TextIndex that covers it."""
        return {f: i for i, tx in enumerate(self.text_indexes) for f in tx.fields}

    def __repr__(self) -> str:
        return f"Resource({self.name!r}, {self.entity.__name__})"


class Schema:
    """The set of resources a client (or the reference server) knows."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources: dict[str, Resource] = {}
        for r in resources:
            if not isinstance(r, Resource):
                raise SchemaError(f"Schema() takes Resource objects, got {r!r}")
            if r.name in self.resources:
                raise SchemaError(f"resource {r.name!r} is declared twice", resource=r.name)
            self.resources[r.name] = r
        for r in self.resources.values():
            for rname, rel in r.relations.items():
                target = self.resources.get(rel.target)
                if target is None:
                    raise SchemaError(
                        f"resource {r.name!r}: relation {rname!r} targets unknown resource {rel.target!r}; "
                        f"resources are {sorted(self.resources)}",
                        resource=r.name,
                    )
                if isinstance(rel, (HasMany, HasOne)):
                    target._need_field(rel.foreign_key, f"foreign key of {r.name}.{rname}")

    def __getitem__(self, name: str) -> Resource:
        return self.resources[name]

    def __contains__(self, name: object) -> bool:
        return name in self.resources

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.resources.values())
