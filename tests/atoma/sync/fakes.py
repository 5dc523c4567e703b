"""An in-memory ops-v1 server for ``httpx.MockTransport`` (unit tests of the lanes), and a
fault-injecting transport wrapper usable with any inner transport.

The fake follows docs/PROTOCOL.md for what the client uses: write CAS with tombstones and
idempotency replay, changes.pull with a resource filter and CURSOR_EXPIRED, and a query by id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from atoma import protocol as p


class FakeServer:
    def __init__(self) -> None:
        self.entities: dict[tuple[str, str], tuple[int, dict[str, Any] | None]] = {}
        self.changes: list[tuple[int, str, str, str, int]] = []
        self.keys: dict[str, p.WriteItemResult] = {}
        self.min_cursor = 0
        self.requests: list[p.OpsRequest] = []
        self.applied: list[str] = []  # idempotency keys, once per applied item
        self.reject: Callable[[str, p.WriteItem], p.StandardError | None] = lambda res, item: None
        self.fail_requests = 0  # answer this many next requests with HTTP 503

    # -- server-side writes by "another client" ------------------------------------------
    def put(self, res: str, eid: str, value: dict[str, Any] | None) -> int:
        version = self.entities.get((res, eid), (0, None))[0] + 1
        self.entities[(res, eid)] = (version, None if value is None else {**value, "id": eid, "version": version})
        self.changes.append((len(self.changes) + 1, res, eid, "delete" if value is None else "upsert", version))
        return version

    def trim(self) -> None:
        self.min_cursor = len(self.changes)

    # -- HTTP ---------------------------------------------------------------------------
    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.fail_requests:
            self.fail_requests -= 1
            body = {"ok": False, "error": {"code": "INTERNAL", "message": "down", "kind": "internal"}}
            return httpx.Response(503, content=msgspec.json.encode(body))
        req = p.decode_request(request.content)
        self.requests.append(req)
        results = [self._op(op) for op in req.ops]
        resp = p.OpsResponse(ok=True, data=p.ResultsData(results=results), meta=p.ResponseMeta(server_time_ms=int(time.time() * 1000)))
        return httpx.Response(200, content=p.encode(resp), headers={"content-type": "application/json"})

    def _op(self, op: p.Op) -> p.OpResult:
        if isinstance(op, p.WriteOp):
            return p.OpResult(op_id=op.op_id, ok=True, data=p.WriteResultData(results=[self._item(op, i, it) for i, it in enumerate(op.items)]))
        if isinstance(op, p.PullOp):
            if op.cursor < self.min_cursor:
                err = p.standard_error(p.CURSOR_EXPIRED, "trimmed", retryable=False, details={"minCursor": self.min_cursor})
                return p.OpResult(op_id=op.op_id, ok=False, error=err)
            sel = [c for c in self.changes if c[0] > op.cursor and (op.resources is None or c[1] in op.resources)]
            limit = op.limit or 100
            page, more = sel[:limit], len(sel) > limit
            next_cursor = page[-1][0] if page else max(op.cursor, len(self.changes) if not more else op.cursor)
            if not more:
                next_cursor = max(next_cursor, len(self.changes))
            changes = []
            for cur, res, eid, kind, version in page:
                latest_v, latest = self.entities[(res, eid)]
                if kind == "upsert" and latest is not None:
                    changes.append(p.Change(resource=res, entity_id=eid, kind="upsert", version=latest_v, changed_at_ms=cur, value=latest))
                else:
                    changes.append(p.Change(resource=res, entity_id=eid, kind="delete", version=latest_v if latest is None else version, changed_at_ms=cur))
            return p.OpResult(op_id=op.op_id, ok=True, data=p.PullResultData(next_cursor=next_cursor, has_more=more, changes=changes))
        assert isinstance(op, p.QueryOp)
        rows = sorted((eid, v) for (res, eid), (_, v) in self.entities.items() if res == op.resource and v is not None)
        if op.params.after:
            rows = [r for r in rows if r[0] > op.params.after]
        limit = op.params.limit or 100
        page = rows[:limit]
        info = p.PageInfo(cursor=page[-1][0] if page else None, has_next=len(rows) > limit)
        return p.OpResult(op_id=op.op_id, ok=True, data=p.QueryResultData(items=[v for _, v in page], page_info=info))

    def _item(self, op: p.WriteOp, index: int, item: p.WriteItem) -> p.WriteItemResult:
        key = item.meta.idempotency_key
        if key in self.keys:
            return msgspec.structs.replace(self.keys[key], index=index, replay=True)
        res, eid = op.resource, item.entity_id
        assert eid is not None
        err = self.reject(res, item)
        if err is not None:
            out = p.WriteItemResult(index=index, ok=False, error=err)
            if err.code != p.ADAPTER:
                self.keys[key] = out
            return out
        version, current = self.entities.get((res, eid), (0, None))
        exists = (res, eid) in self.entities
        conflict = p.WriteItemResult(
            index=index, ok=False, error=p.standard_error(p.CONFLICT, "version moved"), current=p.CurrentValue(value=current, version=version)
        )
        if op.action == "create":
            if current is not None:
                out = conflict
            else:
                out = self._apply(res, eid, {**(item.value or {})}, version)
        elif op.action in ("update", "delete"):
            if not exists:
                out = p.WriteItemResult(index=index, ok=False, error=p.standard_error(p.NOT_FOUND, "no such entity"))
            elif current is None or item.base_version != version:
                out = conflict
            elif op.action == "update":
                out = self._apply(res, eid, {**current, **(item.value or {})}, version)
            else:
                out = self._apply(res, eid, None, version)
        else:  # upsert, strict
            if current is not None and item.base_version != version:
                out = conflict
            else:
                out = self._apply(res, eid, {**(current or {}), **(item.value or {})}, version)
        out = msgspec.structs.replace(out, index=index)
        self.keys[key] = out
        if out.ok:
            self.applied.append(key)
        return out

    def _apply(self, res: str, eid: str, value: dict[str, Any] | None, version: int) -> p.WriteItemResult:
        v = self.put(res, eid, value)
        data = None if value is None else self.entities[(res, eid)][1]
        return p.WriteItemResult(index=0, ok=True, entity_id=eid, version=v, data=data)


class FaultTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: ``drop`` next responses *after* the server processed the request
    (the client sees a network error), or ``duplicate`` next requests (sent twice, the second
    answer is returned)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.drop = 0
        self.duplicate = 0
        self.dropped = 0
        self.duplicated = 0
        self.only_ops = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.only_ops and request.url.path != "/ops":
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        if self.duplicate:
            self.duplicate -= 1
            self.duplicated += 1
            first = await self.inner.handle_async_request(_copy(request, body))
            await first.aread()
            await first.aclose()
        response = await self.inner.handle_async_request(_copy(request, body))
        if self.drop:
            self.drop -= 1
            self.dropped += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("response dropped by the fault injector", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _copy(request: httpx.Request, body: bytes) -> httpx.Request:
    return httpx.Request(request.method, request.url, headers=request.headers, content=body, extensions=request.extensions)
