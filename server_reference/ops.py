"""The ops executor: runs the ops of one request in order, each through the op-level plugins.

A failing op becomes an op-level error result and does not stop the ops after it. Every op
and every write item emits an observability event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from starlette.requests import Request

from atoma import protocol as p
from atoma.errors import AtomaError
from atoma.schema import Schema

from . import reads
from .adapters.base import Adapter, WriteBatch
from .limits import LimitExceeded, Limits, check
from .observability import Event, Sink
from .plugins import OpContext, Plugin, compose

__all__ = ["OpsExecutor", "principal_name"]

log = logging.getLogger("server_reference.ops")


def principal_name(principal: object) -> str | None:
    """A short name of a principal for events (its ``name`` attribute, or its str)."""
    if principal is None:
        return None
    return str(getattr(principal, "name", principal))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _error_code(result: p.OpResult) -> str | None:
    return result.error.code if result.error is not None else None


class OpsExecutor:
    """Runs validated ops against an adapter, with limits, plugins and events."""

    def __init__(
        self,
        adapter: Adapter,
        schema: Schema,
        limits: Limits,
        plugins: Sequence[Plugin],
        sink: Sink,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.adapter = adapter
        self.schema = schema
        self.limits = limits
        self.sink = sink
        self.clock = clock
        self._run_op = compose(plugins, "op", self._dispatch)

    def validate(self, req: p.OpsRequest) -> None:
        """Check every op's resource, fields, operators and tokens before any op runs, so a
        malformed request is refused as a whole (HTTP 400) and changes nothing.

        Limits stay per op (their errors carry ``{max, actual}`` in the op's result)."""
        for index, op in enumerate(req.ops):
            try:
                if isinstance(op, p.QueryOp):
                    reads.plan_query(reads.resource_of(self.schema, op.resource), op.params, self.limits)
                elif isinstance(op, p.WriteOp):
                    reads.resource_of(self.schema, op.resource)
                else:
                    reads.plan_pull(self.schema, op, self.limits)
            except LimitExceeded:
                continue
            except AtomaError as exc:
                where = f"$.ops[{index}]"
                details = {**(exc.details or {}), "path": where, "opId": op.op_id}
                raise type(exc)(f"{where} ({op.op_id}): {exc.message}", code=exc.code, details=details) from None

    async def run(self, request: Request, req: p.OpsRequest, principal: object) -> list[p.OpResult]:
        """Run every op of ``req`` in order; one result per op."""
        self.validate(req)
        results: list[p.OpResult] = []
        who = principal_name(principal)
        for index, op in enumerate(req.ops):
            started = time.perf_counter()
            kind = "query" if isinstance(op, p.QueryOp) else "write" if isinstance(op, p.WriteOp) else "changes.pull"
            resource = None if isinstance(op, p.PullOp) else op.resource
            ctx = OpContext(request, op, kind, resource, principal, index, req.meta)
            try:
                result = await self._run_op(ctx)
            except AtomaError as exc:
                result = p.OpResult(op_id=op.op_id, ok=False, error=p.to_standard_error(exc))
            except Exception:
                log.exception("op %s (%s) failed", op.op_id, kind)
                result = p.OpResult(op_id=op.op_id, ok=False, error=p.to_standard_error(RuntimeError()))
            results.append(result)
            self.sink.emit(
                Event(
                    kind="op",
                    name=kind,
                    resource=resource,
                    op_id=op.op_id,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error=_error_code(result),
                    principal=who,
                )
            )
        return results

    async def _dispatch(self, ctx: OpContext) -> p.OpResult:
        op = ctx.op
        if isinstance(op, p.QueryOp):
            data: p.ResultData = await self._query(op)
        elif isinstance(op, p.WriteOp):
            data = await self._write(op, ctx)
        else:
            data = await self._pull(op, ctx.meta)
        return p.OpResult(op_id=op.op_id, ok=True, data=data)

    async def _query(self, op: p.QueryOp) -> p.QueryResultData:
        resource = reads.resource_of(self.schema, op.resource)
        spec = reads.plan_query(resource, op.params, self.limits)
        return reads.query_page(spec, await self.adapter.query(spec))

    async def _write(self, op: p.WriteOp, ctx: OpContext) -> p.WriteResultData:
        resource = reads.resource_of(self.schema, op.resource)
        check("a write's items", len(op.items), self.limits.max_items_per_write)
        started = time.perf_counter()
        outcome = await self.adapter.write(WriteBatch(resource, op.action, op.items, op.options, self.clock()))
        per_item = (time.perf_counter() - started) * 1000 / max(1, len(op.items))
        who = principal_name(ctx.principal)
        emit = self.sink.emit
        for r in outcome.results:
            code = r.error.code if r.error is not None else None
            emit(
                Event(
                    kind="item",
                    name=op.action,
                    resource=resource.name,
                    op_id=op.op_id,
                    entity_id=r.entity_id if r.entity_id is not None else op.items[r.index].entity_id,
                    duration_ms=per_item,
                    path=outcome.path,
                    conflict=code == p.CONFLICT,
                    replay=r.replay,
                    error=code,
                    principal=who,
                )
            )
        return p.WriteResultData(results=outcome.results)

    async def _pull(self, op: p.PullOp, meta: p.RequestMeta) -> p.PullResultData:
        spec = reads.plan_pull(self.schema, op, self.limits)
        data = reads.pull_page(spec, await self.adapter.pull(spec))
        if meta.device_id:
            await self.adapter.touch_device(meta.device_id, spec.cursor, self.clock())
        return data
