"""Plugins: async middleware around the ops request, the subscribe request and each op.

A plugin subclasses :class:`Plugin` and overrides any of three layers; each gets a context and
``call_next`` and may inspect or change the context (set ``principal``, narrow ``resources``,
replace ``op``), refuse by raising an :class:`~atoma.errors.AtomaError` (``unauthorized()`` /
``forbidden()``), or post-process the result. Plugins run in the order given, the first one
outermost. Two real plugins ship here: :class:`BearerAuth` and :class:`ResourceAllowList`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import msgspec
from starlette.requests import Request

from atoma import protocol as p
from atoma.errors import AtomaError

__all__ = [
    "Plugin",
    "RequestContext",
    "OpContext",
    "Principal",
    "BearerAuth",
    "ResourceAllowList",
    "compose",
    "unauthorized",
    "forbidden",
]

C = TypeVar("C")
R = TypeVar("R")
Handler = Callable[[C], Awaitable[R]]


@dataclass(eq=False)
class RequestContext:
    """An ops or subscribe request. ``resources`` is the subscribe filter (None: all); plugins
    may narrow it. ``state`` is free for plugins to share data along the chain."""

    request: Request
    endpoint: Literal["ops", "subscribe"]
    principal: Any = None
    resources: list[str] | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class OpContext:
    """One op of an ops request: ``resource`` is None for an unfiltered pull; plugins may
    replace ``op`` (e.g. narrow a pull's resources)."""

    request: Request
    op: p.Op
    kind: str
    resource: str | None
    principal: Any
    index: int
    meta: p.RequestMeta
    state: dict[str, Any] = field(default_factory=dict)


class Plugin:
    """Base class: every layer passes through unchanged until overridden."""

    async def ops_request(self, ctx: RequestContext, call_next: Handler[RequestContext, Any]) -> Any:
        return await call_next(ctx)

    async def subscribe_request(self, ctx: RequestContext, call_next: Handler[RequestContext, Any]) -> Any:
        return await call_next(ctx)

    async def op(self, ctx: OpContext, call_next: Handler[OpContext, p.OpResult]) -> p.OpResult:
        return await call_next(ctx)


def compose(plugins: Sequence[Plugin], layer: str, terminal: Handler[C, R]) -> Handler[C, R]:
    """The handler that runs ``layer`` of each plugin (first outermost) around ``terminal``.

    Plugins that do not override the layer are skipped, so they cost nothing.
    """
    handler = terminal
    for plugin in reversed(plugins):
        method = getattr(plugin, layer)
        if getattr(type(plugin), layer) is getattr(Plugin, layer):
            continue
        handler = functools.partial(method, call_next=handler)
    return handler


def unauthorized(message: str = "missing or invalid credentials") -> AtomaError:
    """An UNAUTHORIZED error (HTTP 401 at request level)."""
    return AtomaError(message, code=p.UNAUTHORIZED)


def forbidden(message: str, **details: Any) -> AtomaError:
    """A FORBIDDEN error (HTTP 403 at request level, an op error inside a request)."""
    return AtomaError(message, code=p.FORBIDDEN, details=details or None)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name, scopes (``read`` for query/pull/subscribe, ``write`` for writes)
    and optionally the resources it may use (None: all, or as a ResourceAllowList says)."""

    name: str
    scopes: frozenset[str] = frozenset({"read", "write"})
    resources: frozenset[str] | None = None


TokenLookup = Mapping[str, Any] | Callable[[str], Any]


class BearerAuth(Plugin):
    """``Authorization: Bearer <token>`` on ops and subscribe requests.

    ``tokens`` maps a token to its principal, or is a (sync or async) function returning the
    principal or None. No or an unknown token answers 401 UNAUTHORIZED. When the principal is a
    :class:`Principal`, an op outside its scopes answers FORBIDDEN (403 for a subscribe
    request without ``read``).
    """

    def __init__(self, tokens: TokenLookup) -> None:
        self._tokens = tokens

    async def _principal(self, request: Request) -> Any:
        header = request.headers.get("authorization")
        if not header:
            raise unauthorized("this server needs an Authorization: Bearer <token> header")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        if isinstance(self._tokens, Mapping):
            found = self._tokens.get(token)
        else:
            found = self._tokens(token)
            if inspect.isawaitable(found):
                found = await found
        if found is None:
            raise unauthorized("the bearer token is not valid")
        return found

    async def ops_request(self, ctx: RequestContext, call_next: Handler[RequestContext, Any]) -> Any:
        ctx.principal = await self._principal(ctx.request)
        return await call_next(ctx)

    async def subscribe_request(self, ctx: RequestContext, call_next: Handler[RequestContext, Any]) -> Any:
        ctx.principal = await self._principal(ctx.request)
        if isinstance(ctx.principal, Principal) and "read" not in ctx.principal.scopes:
            raise forbidden(f"{ctx.principal.name} may not read")
        return await call_next(ctx)

    async def op(self, ctx: OpContext, call_next: Handler[OpContext, p.OpResult]) -> p.OpResult:
        who = ctx.principal
        if isinstance(who, Principal):
            need = "write" if ctx.kind == "write" else "read"
            if need not in who.scopes:
                raise forbidden(f"{who.name} may not {need}", scope=need)
        return await call_next(ctx)


class ResourceAllowList(Plugin):
    """Only these resources may be queried, written, pulled and subscribed to.

    ``allowed`` is a fixed collection, or a function of the principal returning one (None:
    everything). An op on another resource answers FORBIDDEN; a pull or subscribe without a
    resource filter is narrowed to the allowed resources, and one naming others is refused.
    """

    def __init__(self, allowed: Iterable[str] | Callable[[Any], Iterable[str] | None]) -> None:
        self._fixed = None if callable(allowed) else frozenset(allowed)
        self._lookup = allowed if callable(allowed) else None

    def allowed(self, principal: Any) -> frozenset[str] | None:
        """The resources ``principal`` may use (None: all)."""
        if self._fixed is not None:
            return self._fixed
        assert self._lookup is not None
        found = self._lookup(principal)
        return None if found is None else frozenset(found)

    async def subscribe_request(self, ctx: RequestContext, call_next: Handler[RequestContext, Any]) -> Any:
        ok = self.allowed(ctx.principal)
        if ok is not None:
            if ctx.resources is None:
                ctx.resources = sorted(ok)
            else:
                denied = sorted(set(ctx.resources) - ok)
                if denied:
                    raise forbidden(f"resources not allowed: {', '.join(denied)}", resources=denied)
        return await call_next(ctx)

    async def op(self, ctx: OpContext, call_next: Handler[OpContext, p.OpResult]) -> p.OpResult:
        ok = self.allowed(ctx.principal)
        if ok is not None:
            op = ctx.op
            if isinstance(op, p.PullOp):
                if op.resources is None:
                    ctx.op = msgspec.structs.replace(op, resources=sorted(ok))
                else:
                    denied = sorted(set(op.resources) - ok)
                    if denied:
                        raise forbidden(f"resources not allowed: {', '.join(denied)}", resources=denied)
            elif ctx.resource not in ok:
                raise forbidden(f"resource {ctx.resource!r} is not allowed", resource=ctx.resource)
        return await call_next(ctx)
