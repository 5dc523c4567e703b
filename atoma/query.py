"""Query semantics, pure: where-clause validation, ordering, keyset tokens and a reference evaluator.

One definition serves every backend (the client's SQLite, the server's SQLite and
PostgreSQL): backends compile the validated tree that :func:`parse_where` returns, and
:func:`matches` / :func:`sort_key` state the meaning they must reproduce:

* values order as: null (or missing) < numbers (booleans count as 0/1) < strings
  (by code point); ``asc`` puts nulls first, ``desc`` last; the id breaks ties, ascending;
* ``eq``/``ne``/``in`` compare in that order (``1 == 1.0``, ``"1" != 1``, ``eq: None`` is null);
  ``ne`` is the negation of ``eq`` (so a null field matches ``ne: 5``);
* ``gt gte lt lte`` never match null; across kinds they follow the order above;
* ``startsWith endsWith contains`` are case-insensitive (``str.lower``) and match strings only;
* ``match`` is full-text: every word of the query is the prefix of a word of the field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import unicodedata
import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence, Union

import msgspec

from .errors import ValidationError

__all__ = [
    "Cmp",
    "And",
    "Or",
    "Not",
    "Node",
    "OrderKey",
    "OPERATORS",
    "parse_where",
    "parse_order",
    "parse_fields",
    "matches",
    "sort_key",
    "field_value",
    "encode_keyset",
    "decode_keyset",
    "fold",
    "words",
]

COMPARISONS = ("gt", "gte", "lt", "lte")
STRING_OPS = ("startsWith", "endsWith", "contains")
OPERATORS = ("eq", "ne", "in", *COMPARISONS, *STRING_OPS, "isNull", "match")
COMBINATORS = ("and", "or", "not")
MAX_DEPTH = 32
MAX_IN = 10_000


@dataclass(frozen=True)
class Cmp:
    field: str  # the field's attribute name (validated)
    op: str
    value: Any  # a JSON-builtin scalar, a list of them (``in``), a bool (``isNull``) or a word list (``match``)


@dataclass(frozen=True)
class And:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    item: "Node"


Node = Union[Cmp, And, Or, Not]
TRUE = And(())


@dataclass(frozen=True)
class OrderKey:
    field: str
    desc: bool = False


def fold(s: str) -> str:
    """The case folding of the case-insensitive operators (the same on every backend)."""
    return s.lower()


def words(s: str) -> list[str]:
    """Split text into lower-cased words as the full-text index does (letters, digits, private use)."""
    out: list[str] = []
    cur: list[str] = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "Co":
            cur.append(ch)
        elif cur:
            out.append("".join(cur).lower())
            cur = []
    if cur:
        out.append("".join(cur).lower())
    return out


def _scalar(value: Any, path: str) -> Any:
    """A query value as a JSON builtin scalar, or a ValidationError naming what is wrong."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValidationError(f"{path}: integer {value} is outside the 64-bit range", path=path)
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{path}: {value} is not a finite number", path=path)
        return value
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time, uuid.UUID, Decimal, Enum)):
        return msgspec.to_builtins(value)
    raise ValidationError(
        f"{path}: expected a string, number, boolean or null, got {type(value).__name__}", path=path
    )


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    return "str"


def _check_kind(resource: str, spec: Any, v: Any, path: str) -> None:
    if "any" in spec.kinds or v is None:
        return
    k = _kind(v)
    if k not in spec.kinds:
        expected = " or ".join(sorted(spec.kinds - {"null"})) or "null"
        raise ValidationError(
            f"{path}: {resource}.{spec.name} holds {expected} values; got {type(v).__name__} {v!r}",
            path=path,
            resource=resource,
        )


def _field(resource: str, fields: Mapping[str, Any], name: Any, path: str) -> Any:
    if not isinstance(name, str) or name not in fields:
        raise ValidationError(
            f"{path}: unknown field {name!r} in resource {resource!r}; fields are {sorted(fields)}",
            path=path,
            resource=resource,
        )
    return fields[name]


def parse_where(
    where: Mapping[str, Any] | None,
    resource: str,
    fields: Mapping[str, Any],
    text_fields: Iterable[str] = (),
) -> Node:
    """Validate a where-clause against a resource's fields and return its tree.

    Raises :class:`ValidationError` naming the path of the first problem: unknown fields,
    unknown operators, wrong value types, malformed combinators.
    """
    if where is None:
        return TRUE
    return _parse(where, resource, fields, frozenset(text_fields), "where", 0)


def _parse(w: Any, resource: str, fields: Mapping[str, Any], text: frozenset[str], path: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise ValidationError(f"{path}: where-clause nested deeper than {MAX_DEPTH} levels", path=path)
    if not isinstance(w, Mapping):
        raise ValidationError(f"{path}: expected an object of field conditions, got {type(w).__name__}", path=path)
    items: list[Node] = []
    for key, cond in w.items():
        p = f"{path}.{key}"
        if key in ("and", "or"):
            if not isinstance(cond, (list, tuple)):
                raise ValidationError(f"{p}: expected a list of where-clauses, got {type(cond).__name__}", path=p)
            subs = tuple(_parse(c, resource, fields, text, f"{p}[{i}]", depth + 1) for i, c in enumerate(cond))
            items.append(And(subs) if key == "and" else Or(subs))
        elif key == "not":
            items.append(Not(_parse(cond, resource, fields, text, p, depth + 1)))
        else:
            spec = _field(resource, fields, key, p)
            if isinstance(cond, Mapping):
                if not cond:
                    raise ValidationError(f"{p}: empty operator object; expected one of {list(OPERATORS)}", path=p)
                for op, v in cond.items():
                    items.append(_cmp(resource, spec, op, v, text, f"{p}.{op}"))
            else:
                items.append(_cmp(resource, spec, "eq", cond, text, p))
    return items[0] if len(items) == 1 else And(tuple(items))


def _cmp(resource: str, spec: Any, op: Any, v: Any, text: frozenset[str], path: str) -> Node:
    name = spec.name
    if op not in OPERATORS:
        raise ValidationError(f"{path}: unknown operator {op!r}; expected one of {list(OPERATORS)}", path=path)
    if op == "isNull":
        if not isinstance(v, bool):
            raise ValidationError(f"{path}: isNull takes true or false, got {v!r}", path=path)
        return Cmp(name, op, v)
    if not spec.scalar:
        raise ValidationError(
            f"{path}: {resource}.{name} is not a scalar field; only isNull applies to it", path=path, resource=resource
        )
    if op == "in":
        if not isinstance(v, (list, tuple)):
            raise ValidationError(f"{path}: in takes a list of values, got {type(v).__name__}", path=path)
        if len(v) > MAX_IN:
            raise ValidationError(f"{path}: in takes at most {MAX_IN} values, got {len(v)}", path=path)
        vals = []
        for i, x in enumerate(v):
            x = _scalar(x, f"{path}[{i}]")
            _check_kind(resource, spec, x, f"{path}[{i}]")
            vals.append(x)
        return Cmp(name, op, tuple(vals))
    v = _scalar(v, path)
    if op in STRING_OPS or op == "match":
        if not isinstance(v, str):
            raise ValidationError(f"{path}: {op} takes a string, got {type(v).__name__} {v!r}", path=path)
        if "str" not in spec.kinds and "any" not in spec.kinds:
            raise ValidationError(
                f"{path}: {op} applies to string fields; {resource}.{name} is not one", path=path, resource=resource
            )
        if op == "match":
            if name not in text:
                raise ValidationError(
                    f"{path}: match needs a TextIndex on {resource}.{name}", path=path, resource=resource
                )
            terms = tuple(words(v))
            if not terms:
                raise ValidationError(f"{path}: match needs at least one word, got {v!r}", path=path)
            return Cmp(name, op, terms)
        return Cmp(name, op, fold(v))
    _check_kind(resource, spec, v, path)
    if op in COMPARISONS and v is None:
        raise ValidationError(f"{path}: {op} cannot compare with null; use isNull", path=path)
    if op == "eq" and v is None:
        return Cmp(name, "isNull", True)
    if op == "ne" and v is None:
        return Cmp(name, "isNull", False)
    return Cmp(name, op, v)


def parse_order(order_by: Any, resource: str, fields: Mapping[str, Any]) -> tuple[OrderKey, ...]:
    """Normalise ``order_by`` and append the id tie-breaker.

    Accepts ``[("title", "asc"), ...]``, ``["title", "-created"]``, ``[{"field": .., "direction": ..}]``
    (also protocol ``OrderBy`` structs) or a single such item.
    """
    if order_by is None:
        items: list[Any] = []
    elif isinstance(order_by, (str, tuple, Mapping)) or hasattr(order_by, "direction"):
        items = [order_by]
    else:
        items = list(order_by)
    keys: list[OrderKey] = []
    for i, item in enumerate(items):
        path = f"order_by[{i}]"
        if isinstance(item, str):
            name, direction = (item[1:], "desc") if item.startswith("-") else (item, "asc")
        elif isinstance(item, tuple) and len(item) == 2:
            name, direction = item
        elif isinstance(item, Mapping):
            name, direction = item.get("field"), item.get("direction", "asc")
        elif hasattr(item, "field") and hasattr(item, "direction"):
            name, direction = item.field, item.direction
        else:
            raise ValidationError(f"{path}: expected (field, 'asc'|'desc'), got {item!r}", path=path)
        spec = _field(resource, fields, name, path)
        if not spec.scalar:
            raise ValidationError(f"{path}: cannot order by {resource}.{name}, which is not scalar", path=path)
        if direction not in ("asc", "desc"):
            raise ValidationError(f"{path}: direction must be 'asc' or 'desc', got {direction!r}", path=path)
        if any(k.field == name for k in keys):
            continue
        keys.append(OrderKey(name, direction == "desc"))
        if name == "id":
            break  # the id is unique: later keys can never decide anything
    if not any(k.field == "id" for k in keys):
        keys.append(OrderKey("id"))
    return tuple(keys)


def parse_fields(fields_arg: Sequence[str] | None, resource: str, fields: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Validate a sparse field list; ``id`` and ``version`` are always included."""
    if fields_arg is None:
        return None
    if isinstance(fields_arg, str) or not isinstance(fields_arg, (list, tuple)):
        raise ValidationError("fields: expected a list of field names", path="fields")
    out = ["id", "version"]
    for i, f in enumerate(fields_arg):
        _field(resource, fields, f, f"fields[{i}]")
        if f not in out:
            out.append(f)
    return tuple(out)


# -- reference evaluator --------------------------------------------------------------------


def field_value(record: Mapping[str, Any], name: str) -> Any:
    """A field's value as every backend sees it (booleans as 0/1, missing as null)."""
    v = record.get(name)
    return int(v) if isinstance(v, bool) else v


def _rank(v: Any) -> tuple:
    if v is None:
        return (0, 0)
    if isinstance(v, (int, float)):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    return (3, 0)


def _eq(a: Any, b: Any) -> bool:
    return _rank(a) == _rank(b)


def matches(node: Node, record: Mapping[str, Any]) -> bool:
    """Whether a record (a dict keyed by field name) satisfies a parsed where-clause."""
    if isinstance(node, And):
        return all(matches(n, record) for n in node.items)
    if isinstance(node, Or):
        return any(matches(n, record) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, record)
    v = field_value(record, node.field)
    op, x = node.op, node.value
    if op == "isNull":
        return (v is None) == x
    if op == "eq":
        return _eq(v, _norm(x))
    if op == "ne":
        return not _eq(v, _norm(x))
    if op == "in":
        return any(_eq(v, _norm(e)) for e in x)
    if op in COMPARISONS:
        if v is None:
            return False
        a, b = _rank(v), _rank(_norm(x))
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if not isinstance(v, str):
        return False
    if op == "startsWith":
        return fold(v).startswith(x)
    if op == "endsWith":
        return fold(v).endswith(x)
    if op == "contains":
        return x in fold(v)
    if op == "match":
        toks = words(v)
        return all(any(t.startswith(term) for t in toks) for term in x)
    raise AssertionError(op)


def _norm(x: Any) -> Any:
    return int(x) if isinstance(x, bool) else x


class _Desc:
    """Inverts the order of a sort-key component (for descending keys)."""

    __slots__ = ("k",)

    def __init__(self, k: tuple) -> None:
        self.k = k

    def __lt__(self, other: "_Desc") -> bool:
        return other.k < self.k

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.k == self.k


def sort_key(order: Sequence[OrderKey], record: Mapping[str, Any]) -> tuple:
    """A Python sort key reproducing the backends' ORDER BY for ``order``."""
    out = []
    for k in order:
        r = _rank(field_value(record, k.field))
        out.append(_Desc(r) if k.desc else r)
    return tuple(out)


# -- keyset tokens --------------------------------------------------------------------------


def _order_tag(order: Sequence[OrderKey]) -> str:
    return ",".join(f"{k.field}:{'d' if k.desc else 'a'}" for k in order)


def encode_keyset(order: Sequence[OrderKey], values: Sequence[Any]) -> str:
    """An opaque token for the row whose sort values are ``values`` (one per order key)."""
    raw = msgspec.json.encode({"o": _order_tag(order), "k": list(values)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_keyset(token: Any, order: Sequence[OrderKey], path: str = "after") -> list[Any]:
    """The sort values inside a token, checked against the order it must belong to."""
    if not isinstance(token, str) or not token:
        raise ValidationError(f"{path}: expected a cursor token string from a previous page", path=path)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        obj = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise ValidationError(f"{path}: not a cursor token from a previous page", path=path) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("k"), list) or len(obj["k"]) != len(order):
        raise ValidationError(f"{path}: not a cursor token from a previous page", path=path)
    if obj.get("o") != _order_tag(order):
        raise ValidationError(f"{path}: the cursor token belongs to another order_by", path=path)
    for v in obj["k"]:
        if v is not None and not isinstance(v, (int, float, str)):
            raise ValidationError(f"{path}: not a cursor token from a previous page", path=path)
    return obj["k"]
