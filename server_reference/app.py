"""The ASGI application: ``POST /ops`` and ``GET /sync/subscribe`` over an adapter.

``create_app(adapter, plugins=..., limits=...)`` returns a Starlette app that runs alone or
mounted inside another Starlette/FastAPI app. Its lifespan opens the adapter and starts the
notifications; when mounted (sub-app lifespans do not run), the first request does it, and
the host app should call ``await app.state.atoma.close()`` on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from atoma import protocol as p
from atoma.errors import AtomaError

from .adapters.base import Adapter
from .limits import LimitExceeded, Limits, check
from .notifier import Hub
from .observability import Event, LogSink, Sink
from .ops import OpsExecutor, principal_name
from .plugins import Plugin, RequestContext, compose
from .reads import resource_of
from .subscribe import EventStream, SubscribeSettings, parse_last_event_id, parse_resources

__all__ = ["create_app", "AtomaServer", "http_status"]

log = logging.getLogger("server_reference")

_STATUS = {
    p.VALIDATION: 400,
    p.UNSUPPORTED_VERSION: 400,
    p.UNKNOWN_RESOURCE: 400,
    p.UNAUTHORIZED: 401,
    p.FORBIDDEN: 403,
    p.LIMIT_EXCEEDED: 413,
}


def http_status(code: str) -> int:
    """The HTTP status of a request-level error code (500 for anything unexpected)."""
    return _STATUS.get(code, 500)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class AtomaServer:
    """Everything one app instance holds: adapter, hub, executor, plugins, limits, sink."""

    def __init__(
        self,
        adapter: Adapter,
        *,
        plugins: Sequence[Plugin] = (),
        limits: Limits | None = None,
        sink: Sink | None = None,
        subscribe: SubscribeSettings | None = None,
    ) -> None:
        self.adapter = adapter
        self.schema = adapter.schema
        self.limits = limits or Limits()
        self.sink: Sink = sink or LogSink()
        self.settings = subscribe or SubscribeSettings()
        self.hub = Hub()
        self.executor = OpsExecutor(adapter, self.schema, self.limits, plugins, self.sink)
        self._ops_chain = compose(plugins, "ops_request", self._ops_terminal)
        self._subscribe_chain = compose(plugins, "subscribe_request", self._subscribe_terminal)
        self._started = False
        self._start_lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the adapter and start notifications (idempotent)."""
        async with self._start_lock:
            if self._started:
                return
            await self.adapter.open()
            await self.adapter.start_notifications(self.hub.publish)
            self._started = True
            log.info("serving %s from %s", ", ".join(sorted(self.schema.resources)), self.adapter.describe())

    async def close(self) -> None:
        """End every stream and close the adapter."""
        self.hub.close()
        async with self._start_lock:
            self._started = False
            await self.adapter.close()

    def close_streams(self) -> None:
        """End every subscribe stream now (lets a server shut down without waiting for them)."""
        self.hub.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.close()

    # -- responses ----------------------------------------------------------------------------

    @staticmethod
    def _error_response(exc: BaseException) -> tuple[int, str, Response]:
        err = p.to_standard_error(exc)
        status = http_status(err.code)
        body = p.encode(p.OpsResponse(ok=False, error=err, meta=p.ResponseMeta(server_time_ms=_now_ms())))
        headers = {"www-authenticate": 'Bearer realm="atoma"'} if status == 401 else None
        return status, err.code, Response(body, status, headers=headers, media_type="application/json")

    def _request_done(self, name: str, started: float, status: int, code: str | None, ctx: RequestContext) -> None:
        """One observability event per request, whatever its outcome."""
        self.sink.emit(
            Event(
                kind="request",
                name=name,
                duration_ms=(time.perf_counter() - started) * 1000,
                status=status,
                error=code,
                principal=principal_name(ctx.principal),
            )
        )

    # -- POST /ops ----------------------------------------------------------------------------

    async def ops(self, request: Request) -> Response:
        started = time.perf_counter()
        ctx = RequestContext(request, "ops")
        status, code = 200, None
        try:
            if not self._started:
                await self.start()
            results = await self._ops_chain(ctx)
            body = p.encode(
                p.OpsResponse(ok=True, data=p.ResultsData(results=results), meta=p.ResponseMeta(server_time_ms=_now_ms()))
            )
            response = Response(body, media_type="application/json")
        except AtomaError as exc:
            status, code, response = self._error_response(exc)
        except ClientDisconnect:
            status, code, response = 499, None, Response(status_code=400)
        except Exception:
            log.exception("ops request failed")
            status, code, response = self._error_response(RuntimeError())
        self._request_done("ops", started, status, code, ctx)
        return response

    async def _read_body(self, request: Request) -> bytes:
        cap = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            check("the request body (bytes)", int(declared), cap)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise LimitExceeded(
                    f"the request body (bytes) may be at most {cap}; got more than that",
                    details={"max": cap, "actual": size},
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _ops_terminal(self, ctx: RequestContext) -> list[p.OpResult]:
        req = p.decode_request(await self._read_body(ctx.request))
        check("ops per request", len(req.ops), self.limits.max_ops)
        return await self.executor.run(ctx.request, req, ctx.principal)

    # -- GET /sync/subscribe ------------------------------------------------------------------

    async def subscribe(self, request: Request) -> Any:
        ctx = RequestContext(request, "subscribe", resources=parse_resources(request.query_params.get("resources")))
        started = time.perf_counter()
        try:
            if not self._started:
                await self.start()
            stream = await self._subscribe_chain(ctx)
            status, code = 200, None
        except AtomaError as exc:
            status, code, stream = self._error_response(exc)
        except Exception:
            log.exception("subscribe request failed")
            status, code, stream = self._error_response(RuntimeError())
        self._request_done("subscribe", started, status, code, ctx)
        return stream

    async def _subscribe_terminal(self, ctx: RequestContext) -> EventStream:
        if ctx.resources is None:
            resources = sorted(self.schema.resources)
        else:
            check("subscribed resources", len(ctx.resources), self.limits.max_subscribe_resources)
            for name in ctx.resources:
                resource_of(self.schema, name)
            resources = list(ctx.resources)
        sub = self.hub.subscribe(None if ctx.resources is None else resources)
        return EventStream(
            self.hub,
            sub,
            self.adapter,
            resources,
            parse_last_event_id(ctx.request.headers.get("last-event-id")),
            self.settings,
            self.sink,
            principal_name(ctx.principal),
        )


def create_app(
    adapter: Adapter,
    *,
    plugins: Sequence[Plugin] = (),
    limits: Limits | None = None,
    sink: Sink | None = None,
    subscribe: SubscribeSettings | None = None,
) -> Starlette:
    """The reference server as an ASGI app; ``app.state.atoma`` is its :class:`AtomaServer`."""
    server = AtomaServer(adapter, plugins=plugins, limits=limits, sink=sink, subscribe=subscribe)
    app = Starlette(
        routes=[
            Route("/ops", server.ops, methods=["POST"]),
            Route("/sync/subscribe", server.subscribe, methods=["GET"]),
        ],
        lifespan=server.lifespan,
    )
    app.state.atoma = server
    return app
