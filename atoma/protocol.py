"""The Atoma wire protocol, "ops v1": msgspec Structs, codes and strict decoders.

This module is the single definition of the protocol; the client and the reference server both
import it. ``docs/PROTOCOL.md`` is the prose reference. The module is pure: no I/O, no clocks,
no mutable module state.

Naming: keys are camelCase on the wire (every Struct uses ``rename="camel"``) and snake_case in
Python (``base_version`` <-> ``baseVersion``). Entity values (``value``, ``data``, ``items``)
are plain dicts and are passed through untouched.

Decoding rules (all ``decode_*`` functions):

* Typing is strict (msgspec's default): ``"1"`` is not an int, ``1`` is not a string, ``true``
  is not an int.
* Unknown object keys are **ignored**, so a newer peer may add optional fields without breaking
  an older one (forward compatibility). Unknown op kinds, actions and enum values are errors.
* Every failure raises :class:`atoma.errors.ValidationError` with code ``"VALIDATION"`` (or
  ``"UNSUPPORTED_VERSION"`` for ``meta.v != 1``). Its message keeps msgspec's wording and ends
  with the offending location in wire form, e.g.
  ``Expected `int`, got `str` - at `$.ops[0].items[0].baseVersion```, and ``.path`` (also
  ``details["path"]``) holds that location (``"$.ops[0].items[0].baseVersion"``). For a missing
  required field the path names the field itself (``"$.ops[0].opId"``). Bodies that are not JSON
  raise ``ValidationError("body is not valid JSON: ...", path="$")``.

Responses and ``OpResult.data``: a response result does not say which kind of op it answers
(the wire carries no tag there), and msgspec cannot decode an untagged union of several Structs.
``OpResult.data`` is therefore *annotated* as
``QueryResultData | WriteResultData | PullResultData | None`` -- which is what it holds after
:func:`decode_response` and what a server puts in it before :func:`encode` -- but
``OpsResponse`` must not be passed to ``msgspec.json.decode(..., type=OpsResponse)`` (msgspec
raises ``TypeError``). Use :func:`decode_response` with the kinds of the ops that were sent (or
the :class:`OpsRequest` itself): it decodes the envelope with each ``data`` kept as raw JSON,
then decodes each ``data`` strictly as :func:`result_data_type` of the matching op kind, and
checks the cheap response invariants (one result per op, same order and opIds, ``ok``/``data``/
``error`` consistency, CONFLICT item results carry ``current``).
"""

from collections.abc import Sequence
from typing import Annotated, Any, Literal, NoReturn, TypeVar, Union

import msgspec

from .errors import AtomaError, SyncError, ValidationError

__all__ = [
    # constants
    "PROTOCOL_VERSION",
    "VALIDATION",
    "UNSUPPORTED_VERSION",
    "NOT_FOUND",
    "CONFLICT",
    "CURSOR_EXPIRED",
    "LIMIT_EXCEEDED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "UNKNOWN_RESOURCE",
    "INTERNAL",
    "ADAPTER",
    "OP_KINDS",
    # type aliases
    "OpKind",
    "WriteAction",
    "ErrorKind",
    "Direction",
    "ChangeKind",
    "Op",
    "ResultData",
    # request structs
    "RequestMeta",
    "OrderBy",
    "QueryParams",
    "ItemMeta",
    "WriteItem",
    "UpsertOptions",
    "WriteOptions",
    "QueryOp",
    "WriteOp",
    "PullOp",
    "OpsRequest",
    # response structs
    "StandardError",
    "CurrentValue",
    "WriteItemResult",
    "WriteResultData",
    "PageInfo",
    "QueryResultData",
    "Change",
    "PullResultData",
    "OpResult",
    "ResultsData",
    "ResponseMeta",
    "OpsResponse",
    "NotifyPayload",
    # functions
    "error_kind",
    "standard_error",
    "to_standard_error",
    "result_data_type",
    "encode",
    "decode_request",
    "validate_request",
    "decode_response",
    "decode_notify",
    "decode_change",
]

PROTOCOL_VERSION = 1
"""The value of ``meta.v`` this module speaks."""

# --------------------------------------------------------------------------- error codes

VALIDATION = "VALIDATION"
"""The request, an op or an item is malformed or names unknown fields (kind ``validation``)."""
UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
"""``meta.v`` is not a protocol version the peer speaks (kind ``validation``)."""
NOT_FOUND = "NOT_FOUND"
"""An entity that an update/delete needs does not exist (kind ``not_found``)."""
CONFLICT = "CONFLICT"
"""The entity's version moved; the item result carries ``current`` (kind ``conflict``)."""
CURSOR_EXPIRED = "CURSOR_EXPIRED"
"""History before the pull cursor was trimmed; ``details["minCursor"]`` (kind ``sync``)."""
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
"""A limit was exceeded; ``details == {"max": ..., "actual": ...}`` (kind ``limits``)."""
UNAUTHORIZED = "UNAUTHORIZED"
"""No or invalid credentials (kind ``auth``, HTTP 401)."""
FORBIDDEN = "FORBIDDEN"
"""Credentials are valid but do not allow this (kind ``auth``, HTTP 403)."""
UNKNOWN_RESOURCE = "UNKNOWN_RESOURCE"
"""The op names a resource the server does not serve (kind ``validation``)."""
INTERNAL = "INTERNAL"
"""An unexpected server error; the message never carries database details (kind ``internal``)."""
ADAPTER = "ADAPTER"
"""The storage backend failed (unavailable, serialization failure...) (kind ``adapter``)."""

OpKind = Literal["query", "write", "changes.pull"]
WriteAction = Literal["create", "update", "upsert", "delete"]
ErrorKind = Literal[
    "validation", "auth", "limits", "conflict", "not_found", "sync", "adapter", "internal"
]
Direction = Literal["asc", "desc"]
ChangeKind = Literal["upsert", "delete"]

OP_KINDS: tuple[str, ...] = ("query", "write", "changes.pull")
"""Every op kind of ops v1, in the order used in messages."""

_ERROR_KINDS: dict[str, ErrorKind] = {
    VALIDATION: "validation",
    UNSUPPORTED_VERSION: "validation",
    UNKNOWN_RESOURCE: "validation",
    NOT_FOUND: "not_found",
    CONFLICT: "conflict",
    CURSOR_EXPIRED: "sync",
    LIMIT_EXCEEDED: "limits",
    UNAUTHORIZED: "auth",
    FORBIDDEN: "auth",
    INTERNAL: "internal",
    ADAPTER: "adapter",
}


def error_kind(code: str) -> ErrorKind:
    """Return the StandardError ``kind`` of a wire error ``code``.

    Codes this module does not know map to ``"internal"`` (a peer speaking a newer protocol may
    send new codes; the ``kind`` it sends along is then the better guide).
    """
    return _ERROR_KINDS.get(code, "internal")


# --------------------------------------------------------------------------- scalar aliases

NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]


# --------------------------------------------------------------------------- request

class RequestMeta(msgspec.Struct, rename="camel", kw_only=True):
    """Request metadata: protocol version, sending device, client clock (ms since epoch)."""

    v: int = PROTOCOL_VERSION
    device_id: str | None = None
    client_time_ms: int | None = None


class OrderBy(msgspec.Struct, rename="camel", kw_only=True):
    """One sort key of a query; the entity id is always the final tie-breaker."""

    field: NonEmptyStr
    direction: Direction = "asc"


class QueryParams(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Parameters of a query op.

    ``where`` stays a raw dict here; ``atoma.query`` validates it against the resource. At most
    one of ``offset``, ``after`` and ``before`` may be given (``after``/``before`` are opaque
    keyset tokens taken from ``PageInfo.cursor``).
    """

    where: dict[str, Any] | None = None
    order_by: list[OrderBy] = []
    limit: NonNegInt | None = None
    offset: NonNegInt | None = None
    after: str | None = None
    before: str | None = None
    include_total: bool = False
    fields: list[NonEmptyStr] | None = None


class ItemMeta(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Per-item metadata of a write: the idempotency key the server claims for this item."""

    idempotency_key: NonEmptyStr
    client_time_ms: int | None = None


class WriteItem(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One item of a write op.

    ``entity_id`` is required for update/upsert/delete (optional for create: the server then
    assigns one); ``value`` for create/upsert/update; ``base_version`` for update/delete
    (upsert may omit it). ``validate_request`` enforces this.
    """

    entity_id: NonEmptyStr | None = None
    base_version: NonNegInt | None = None
    value: dict[str, Any] | None = None
    meta: ItemMeta


class UpsertOptions(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Upsert behaviour: ``strict`` (default) -- an existing entity needs a matching
    ``baseVersion``; ``loose`` -- last write wins, ``baseVersion`` is ignored."""

    mode: Literal["strict", "loose"] = "strict"


class WriteOptions(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """``returning``: successful item results carry ``data``; ``merge``: update/upsert merge the
    value's fields onto the stored entity instead of replacing it."""

    returning: bool = True
    merge: bool = True
    upsert: UpsertOptions = msgspec.field(default_factory=UpsertOptions)


class QueryOp(msgspec.Struct, rename="camel", kw_only=True, tag="query", tag_field="kind"):
    """Read entities of one resource; answered by :class:`QueryResultData`."""

    op_id: NonEmptyStr
    resource: NonEmptyStr
    params: QueryParams = msgspec.field(default_factory=QueryParams)


class WriteOp(msgspec.Struct, rename="camel", kw_only=True, tag="write", tag_field="kind"):
    """Create, update, upsert or delete entities of one resource; answered by
    :class:`WriteResultData` with one result per item, same order."""

    op_id: NonEmptyStr
    resource: NonEmptyStr
    action: WriteAction
    items: list[WriteItem]
    options: WriteOptions = msgspec.field(default_factory=WriteOptions)


class PullOp(msgspec.Struct, rename="camel", kw_only=True, tag="changes.pull", tag_field="kind"):
    """Read the change feed after ``cursor`` (0 = from the start), optionally only for some
    resources; answered by :class:`PullResultData`."""

    op_id: NonEmptyStr
    cursor: NonNegInt = 0
    limit: NonNegInt | None = None
    resources: list[NonEmptyStr] | None = None


Op = Union[QueryOp, WriteOp, PullOp]
"""An op: a tagged union on ``kind``."""


class OpsRequest(msgspec.Struct, rename="camel", kw_only=True):
    """The body of ``POST /ops``. Ops execute in order; one result per op comes back."""

    meta: RequestMeta = msgspec.field(default_factory=RequestMeta)
    ops: list[Op]


# --------------------------------------------------------------------------- response

class StandardError(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """An error on the wire (request, op or item level)."""

    code: str
    message: str
    kind: ErrorKind
    retryable: bool | None = None
    details: dict[str, Any] | None = None


class CurrentValue(msgspec.Struct, rename="camel", kw_only=True):
    """The server's current state of an entity; ``value`` None means deleted (a tombstone)."""

    value: dict[str, Any] | None
    version: NonNegInt


class WriteItemResult(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The outcome of one write item (``index`` into the op's ``items``).

    ``ok=True`` carries ``entity_id``, ``version`` and (with ``returning``) ``data``;
    ``ok=False`` carries ``error`` and, for CONFLICT, ``current``. ``replay`` is True when the
    outcome was stored earlier under the same idempotency key and is being returned again.
    """

    index: NonNegInt
    ok: bool
    entity_id: str | None = None
    version: NonNegInt | None = None
    data: dict[str, Any] | None = None
    error: StandardError | None = None
    current: CurrentValue | None = None
    replay: bool = False


class WriteResultData(msgspec.Struct, rename="camel", kw_only=True):
    """Result data of a write op."""

    results: list[WriteItemResult]


class PageInfo(msgspec.Struct, rename="camel", kw_only=True):
    """Paging state of a query result.

    ``cursor`` is the keyset token to pass (as ``after``, or as ``before`` when paging
    backwards) to get the next page in the same direction; ``has_next`` says whether that page
    has rows; ``total`` is set when ``includeTotal`` was asked.
    """

    cursor: str | None = None
    has_next: bool = False
    total: NonNegInt | None = None


class QueryResultData(msgspec.Struct, rename="camel", kw_only=True):
    """Result data of a query op: entity objects (fields plus ``id`` and ``version``)."""

    items: list[dict[str, Any]]
    page_info: PageInfo


class Change(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One entry of the change feed: ``value`` is the entity for ``upsert``, absent for
    ``delete``."""

    resource: NonEmptyStr
    entity_id: NonEmptyStr
    kind: ChangeKind
    version: NonNegInt
    changed_at_ms: int
    value: dict[str, Any] | None = None


class PullResultData(msgspec.Struct, rename="camel", kw_only=True):
    """Result data of a changes.pull op."""

    next_cursor: NonNegInt
    has_more: bool
    changes: list[Change]


ResultData = Union[QueryResultData, WriteResultData, PullResultData]
"""The typed ``data`` of a successful :class:`OpResult` (which one depends on the op kind)."""


class OpResult(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The result of one op: ``ok=True`` with ``data``, or ``ok=False`` with ``error``.

    Encode freely; decode only through :func:`decode_response` (see the module docstring:
    ``data`` is an untagged union that msgspec cannot decode on its own).
    """

    op_id: str
    ok: bool
    data: QueryResultData | WriteResultData | PullResultData | None = None
    error: StandardError | None = None


class ResultsData(msgspec.Struct, rename="camel", kw_only=True):
    """The ``data`` of a successful ops response: one result per op, in request order."""

    results: list[OpResult]


class ResponseMeta(msgspec.Struct, rename="camel", kw_only=True):
    """Response metadata: protocol version and server clock (ms since epoch)."""

    v: int = PROTOCOL_VERSION
    server_time_ms: int


class OpsResponse(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """The body answering ``POST /ops``: ``ok=True`` with ``data``, or ``ok=False`` with a
    request-level ``error``. Decode with :func:`decode_response`."""

    ok: bool
    data: ResultsData | None = None
    error: StandardError | None = None
    meta: ResponseMeta | None = None


class NotifyPayload(msgspec.Struct, rename="camel", kw_only=True):
    """The ``data`` of an SSE ``sync.notify`` frame: resources that changed, and the cursor of
    the newest change they include."""

    resources: list[str]
    cursor: NonNegInt


# --------------------------------------------------------------------------- private wire forms

class _WireOpResult(msgspec.Struct, rename="camel", kw_only=True):
    op_id: str
    ok: bool
    # Raw JSON of "data": empty when the key is absent, b"null" when it is null.
    data: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    error: StandardError | None = None


class _WireResultsData(msgspec.Struct, rename="camel", kw_only=True):
    results: list[_WireOpResult]


class _WireOpsResponse(msgspec.Struct, rename="camel", kw_only=True):
    ok: bool
    data: _WireResultsData | None = None
    error: StandardError | None = None
    meta: ResponseMeta | None = None


_RESULT_TYPES: dict[str, type[msgspec.Struct]] = {
    "query": QueryResultData,
    "write": WriteResultData,
    "changes.pull": PullResultData,
}

_REQUEST_DECODER = msgspec.json.Decoder(OpsRequest)
_RESPONSE_DECODER = msgspec.json.Decoder(_WireOpsResponse)
_NOTIFY_DECODER = msgspec.json.Decoder(NotifyPayload)
_CHANGE_DECODER = msgspec.json.Decoder(Change)

_T = TypeVar("_T")

_AT = " - at `"
_MISSING = "Object missing required field `"
_OP_KINDS_TEXT = "(expected 'query', 'write' or 'changes.pull')"


# --------------------------------------------------------------------------- helpers

def result_data_type(kind: str) -> type[msgspec.Struct]:
    """Return the Struct type that answers an op of ``kind`` (``"query"``, ``"write"``,
    ``"changes.pull"``); raise ValidationError for any other kind."""
    try:
        return _RESULT_TYPES[kind]
    except KeyError:
        raise ValidationError(
            f"unknown op kind {kind!r} {_OP_KINDS_TEXT}",
            details={"kind": kind},
        ) from None


def standard_error(
    code: str,
    message: str,
    *,
    retryable: bool | None = None,
    details: dict[str, Any] | None = None,
) -> StandardError:
    """Build a StandardError whose ``kind`` is :func:`error_kind` of ``code``."""
    return StandardError(
        code=code, message=message, kind=error_kind(code), retryable=retryable, details=details
    )


def to_standard_error(exc: BaseException) -> StandardError:
    """Convert an exception to a StandardError for the wire.

    An :class:`~atoma.errors.AtomaError` keeps its code, message and details (a
    ValidationError's ``path`` is put in ``details["path"]``; a SyncError's ``retryable`` is
    kept). Any other exception becomes a generic INTERNAL error: its text is never sent, so
    database messages cannot leak.
    """
    if isinstance(exc, AtomaError):
        details = dict(exc.details) if exc.details else {}
        path = getattr(exc, "path", None)
        if path is not None:
            details.setdefault("path", path)
        retryable = exc.retryable if isinstance(exc, SyncError) else None
        return standard_error(exc.code, exc.message, retryable=retryable, details=details or None)
    return standard_error(INTERNAL, "internal server error")


def encode(obj: Any) -> bytes:
    """Encode a protocol message (or any msgspec-encodable value) as compact JSON bytes."""
    return msgspec.json.encode(obj)


def _fail(
    message: str,
    path: str,
    *,
    code: str = VALIDATION,
    details: dict[str, Any] | None = None,
) -> NoReturn:
    """Raise a ValidationError whose message ends with `` - at `path` ``."""
    all_details = {"path": path}
    if details:
        all_details.update(details)
    raise ValidationError(f"{message} - at `{path}`", path=path, code=code, details=all_details)


def _from_msgspec(exc: msgspec.ValidationError, prefix: str = "$") -> NoReturn:
    """Re-raise a msgspec validation error as ours, rebasing its ``$`` path onto ``prefix``."""
    text = str(exc)
    msg, sep, rest = text.rpartition(_AT)
    if sep and rest.startswith("$") and rest.endswith("`"):
        path = prefix + rest[1:-1]
    else:
        msg, path = text, prefix
    if msg.startswith(_MISSING) and msg.endswith("`"):
        path = f"{path}.{msg[len(_MISSING):-1]}"
    elif msg.startswith("Invalid value") and path.startswith("$.ops[") and path.endswith("].kind"):
        msg = f"unknown op kind{msg[len('Invalid value'):]} {_OP_KINDS_TEXT}"
    _fail(msg, path)


def _decode(decoder: "msgspec.json.Decoder[_T]", body: bytes | bytearray | memoryview | str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        _from_msgspec(exc)
    except msgspec.DecodeError as exc:
        raise ValidationError(
            f"body is not valid JSON: {exc}", path="$", details={"path": "$"}
        ) from None


# --------------------------------------------------------------------------- request decoding

def validate_request(req: OpsRequest) -> None:
    """Check the cheap semantic rules msgspec's types cannot express; raise ValidationError.

    * ``meta.v`` must be :data:`PROTOCOL_VERSION` (code ``UNSUPPORTED_VERSION``);
    * opIds are unique within the request;
    * a query gives at most one of ``offset``, ``after``, ``before``;
    * a write has at least one item; update/upsert/delete items have ``entityId``;
      create/update/upsert items have ``value``; update/delete items have ``baseVersion``.

    Non-negative ``limit``/``offset``/``cursor``/versions and non-empty ids are enforced by the
    Struct types themselves. Whether resources and fields exist is checked by the server.
    """
    if req.meta.v != PROTOCOL_VERSION:
        _fail(
            f"unsupported protocol version {req.meta.v} (this peer speaks {PROTOCOL_VERSION})",
            "$.meta.v",
            code=UNSUPPORTED_VERSION,
            details={"supported": [PROTOCOL_VERSION], "actual": req.meta.v},
        )
    seen: dict[str, int] = {}
    for i, op in enumerate(req.ops):
        at = f"$.ops[{i}]"
        if op.op_id in seen:
            _fail(
                f"duplicate opId {op.op_id!r} (already used by $.ops[{seen[op.op_id]}])",
                f"{at}.opId",
            )
        seen[op.op_id] = i
        if isinstance(op, QueryOp):
            p = op.params
            given = [
                name
                for name, val in (("offset", p.offset), ("after", p.after), ("before", p.before))
                if val is not None
            ]
            if len(given) > 1:
                _fail(
                    f"give at most one of offset, after, before (got {', '.join(given)})",
                    f"{at}.params.{given[1]}",
                )
        elif isinstance(op, WriteOp):
            _validate_write(op, at)


def _validate_write(op: WriteOp, at: str) -> None:
    if not op.items:
        _fail("a write op needs at least one item", f"{at}.items")
    action = op.action
    for j, item in enumerate(op.items):
        it = f"{at}.items[{j}]"
        if item.entity_id is None and action != "create":
            _fail(f"a {action} item needs entityId", f"{it}.entityId")
        if item.value is None and action != "delete":
            _fail(f"a {action} item needs value", f"{it}.value")
        if item.base_version is None and action in ("update", "delete"):
            _fail(f"a {action} item needs baseVersion", f"{it}.baseVersion")


def decode_request(body: bytes | bytearray | memoryview | str) -> OpsRequest:
    """Decode and validate the body of ``POST /ops``; raise ValidationError on any problem."""
    req = _decode(_REQUEST_DECODER, body)
    validate_request(req)
    return req


# --------------------------------------------------------------------------- response decoding

def decode_response(
    body: bytes | bytearray | memoryview | str,
    kinds: OpsRequest | Sequence[str | Op],
) -> OpsResponse:
    """Decode an ops response strictly, typing each result's ``data`` by the op it answers.

    ``kinds`` is the request that was sent, or a sequence (in request order) of its ops or of
    their kinds (``"query"``, ``"write"``, ``"changes.pull"``). With a request or ops, the
    results' opIds must match the ops' opIds in order. A request-level error response
    (``ok: false``) decodes whatever ``kinds`` is. Raises ValidationError naming the bad path.
    """
    ops: Sequence[str | Op] = kinds.ops if isinstance(kinds, OpsRequest) else kinds
    if isinstance(ops, (str, bytes)):
        raise TypeError("kinds must be a sequence of op kinds, not a single string")
    expected: list[tuple[str, str | None]] = []
    for op in ops:
        if isinstance(op, (QueryOp, WriteOp, PullOp)):
            expected.append((_kind_of(op), op.op_id))
        else:
            result_data_type(op)  # raises on an unknown kind
            expected.append((op, None))

    wire = _decode(_RESPONSE_DECODER, body)
    if not wire.ok:
        if wire.error is None:
            _fail("an ok=false response needs error", "$.error")
        return OpsResponse(ok=False, error=wire.error, meta=wire.meta)
    if wire.data is None:
        _fail("an ok=true response needs data", "$.data")

    wire_results = wire.data.results
    if len(wire_results) != len(expected):
        _fail(
            f"expected {len(expected)} results (one per op), got {len(wire_results)}",
            "$.data.results",
            details={"expected": len(expected), "actual": len(wire_results)},
        )
    results: list[OpResult] = []
    for i, (res, (kind, op_id)) in enumerate(zip(wire_results, expected)):
        at = f"$.data.results[{i}]"
        if op_id is not None and res.op_id != op_id:
            _fail(f"result opId {res.op_id!r} does not match op opId {op_id!r}", f"{at}.opId")
        has_data = len(res.data) > 0 and bytes(res.data) != b"null"
        if res.ok:
            if not has_data:
                _fail("an ok=true result needs data", f"{at}.data")
            data = _decode_result_data(res.data, kind, f"{at}.data")
            results.append(OpResult(op_id=res.op_id, ok=True, data=data))
        else:
            if res.error is None:
                _fail("an ok=false result needs error", f"{at}.error")
            results.append(OpResult(op_id=res.op_id, ok=False, error=res.error))
    return OpsResponse(ok=True, data=ResultsData(results=results), meta=wire.meta)


def _kind_of(op: Op) -> str:
    if isinstance(op, QueryOp):
        return "query"
    if isinstance(op, WriteOp):
        return "write"
    return "changes.pull"


def _decode_result_data(raw: msgspec.Raw, kind: str, at: str) -> ResultData:
    try:
        data = msgspec.json.decode(raw, type=result_data_type(kind))
    except msgspec.ValidationError as exc:
        _from_msgspec(exc, prefix=at)
    if isinstance(data, WriteResultData):
        for j, item in enumerate(data.results):
            it = f"{at}.results[{j}]"
            if item.ok:
                if item.entity_id is None:
                    _fail("an ok=true item result needs entityId", f"{it}.entityId")
                if item.version is None:
                    _fail("an ok=true item result needs version", f"{it}.version")
            else:
                if item.error is None:
                    _fail("an ok=false item result needs error", f"{it}.error")
                if item.error.code == CONFLICT and item.current is None:
                    _fail("a CONFLICT item result needs current", f"{it}.current")
    return data  # type: ignore[return-value]


# --------------------------------------------------------------------------- other messages

def decode_notify(data: bytes | bytearray | memoryview | str) -> NotifyPayload:
    """Decode the ``data`` of an SSE ``sync.notify`` frame; raise ValidationError if malformed."""
    return _decode(_NOTIFY_DECODER, data)


def decode_change(data: bytes | bytearray | memoryview | str) -> Change:
    """Decode one change-feed entry (as stored or logged); raise ValidationError if malformed."""
    return _decode(_CHANGE_DECODER, data)
