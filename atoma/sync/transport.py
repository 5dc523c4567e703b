"""HTTP at the edge: ``POST /ops`` and the ``/sync/subscribe`` SSE stream over httpx.

Everything the server or the network can do wrong becomes a :class:`~atoma.errors.SyncError`
with ``retryable`` set, and, in ``details["error"]``, the wire ``StandardError`` as a dict, so
the lanes decide with one rule: retryable -> back off and retry, otherwise settle the intent.
The ``httpx`` transport is injectable (``httpx.MockTransport`` in unit tests, a fault injector
in fault tests) and so is the auth (any ``httpx.Auth``), used for ops and subscribe alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec

# The public httpx-sse API yields events only, but a dead connection is detected by the
# *absence of any line* (heartbeats are SSE comments, which carry no event), so the stream is
# decoded line by line with httpx-sse's own decoders.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from httpx_sse import ServerSentEvent

from .. import protocol as p
from ..errors import SyncError

__all__ = ["Transport", "SSEStream", "error_dict", "is_retryable"]

_RETRY_KINDS = frozenset({"adapter", "internal"})


def is_retryable(err: p.StandardError) -> bool:
    """The protocol's rule: ``retryable`` when given, otherwise by ``kind``."""
    if err.retryable is not None:
        return err.retryable
    return err.kind in _RETRY_KINDS


def error_dict(err: p.StandardError) -> dict[str, Any]:
    return msgspec.to_builtins(err)


def _sync_error(err: p.StandardError, *, retryable: bool | None = None, status: int | None = None) -> SyncError:
    details = {"error": error_dict(err)}
    if status is not None:
        details["status"] = status
    return SyncError(
        f"{err.code}: {err.message}",
        code=err.code,
        retryable=is_retryable(err) if retryable is None else retryable,
        details=details,
    )


def transport_error(message: str, *, code: str = "TRANSPORT") -> SyncError:
    err = p.StandardError(code=code, message=message, kind="internal", retryable=True)
    return SyncError(message, code=code, retryable=True, details={"error": error_dict(err)})


class SSEStream:
    """The events of one subscribe connection; ``await next_event(timeout)`` returns the next
    event, ``None`` at the end of the stream, and raises ``TimeoutError`` when no line at
    all (not even a heartbeat) arrived within ``timeout`` seconds."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = SSELineDecoder()
        self._events = SSEDecoder()
        self._queue: list[str] = []
        self._done = False
        # A reader task feeds chunks through a queue: waiting on Queue.get() is always
        # cancellable, whereas cancelling a wait on the HTTP read itself can be swallowed by
        # the network stack, which once left close() waiting on the subscribe lane.
        self._chunks: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read(), name="atoma-sse-read")

    async def _read(self) -> None:
        try:
            async for chunk in self.response.aiter_text():
                self._chunks.put_nowait(chunk)
            self._chunks.put_nowait(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the reader of the stream
            self._chunks.put_nowait(exc)

    def close(self) -> None:
        """Stop reading (the connection itself is closed by the surrounding context)."""
        self._reader.cancel()

    async def _next_line(self, timeout: float | None) -> str | None:
        while not self._queue:
            if self._done:
                return None
            chunk = await asyncio.wait_for(self._chunks.get(), timeout)
            if chunk is None:
                self._done = True
                self._queue.extend(self._lines.flush())
                continue
            if isinstance(chunk, BaseException):
                self._done = True
                if isinstance(chunk, httpx.TimeoutException):
                    raise transport_error(f"subscribe timed out: {chunk!r}", code="TIMEOUT") from chunk
                if isinstance(chunk, httpx.TransportError):
                    raise transport_error(f"subscribe stream broke: {chunk!r}") from chunk
                raise chunk
            self._queue.extend(self._lines.decode(chunk))
        return self._queue.pop(0)

    async def next_event(self, timeout: float | None) -> ServerSentEvent | None:
        while True:
            line = await self._next_line(timeout)
            if line is None:
                return None
            event = self._events.decode(line.rstrip("\n"))
            if event is not None:
                return event


class Transport:
    """An ``httpx.AsyncClient`` bound to one server: :meth:`ops` and :meth:`subscribe`."""

    def __init__(
        self,
        server: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.server = server.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.server,
            transport=transport,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def ops(self, request: p.OpsRequest) -> p.OpsResponse:
        """Send one ops request; return the decoded ``ok`` response, or raise SyncError.

        A request-level error response raises with the server's StandardError; transport
        failures, timeouts and 5xx are retryable; an undecodable body is retryable too (a
        proxy's error page, a truncated body), since the outbox keeps the intents safe.
        """
        body = p.encode(request)
        try:
            resp = await self._client.post("/ops", content=body, headers={"content-type": "application/json"})
        except httpx.TimeoutException as exc:
            raise transport_error(f"request timed out: {exc!r}", code="TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise transport_error(f"cannot reach {self.server}: {exc!r}") from exc
        status = resp.status_code
        try:
            decoded = p.decode_response(resp.content, request)
        except Exception as exc:  # noqa: BLE001 - any undecodable answer is a (retryable) fault
            raise transport_error(f"HTTP {status}: undecodable response ({exc})", code="BAD_RESPONSE") from None
        if not decoded.ok:
            assert decoded.error is not None
            retry = status >= 500 or status == 429 or None
            raise _sync_error(decoded.error, retryable=retry if retry else None, status=status)
        if status != 200:
            raise transport_error(f"HTTP {status} with an ok body", code="BAD_RESPONSE")
        return decoded

    async def one(self, op: p.Op, *, device_id: str | None = None) -> p.ResultData:
        """Send a request with the single op ``op`` and return its result data; an op-level
        error raises :class:`SyncError` carrying the wire error (``retryable`` by the protocol's
        rule), like a request-level one."""
        response = await self.ops(p.OpsRequest(meta=p.RequestMeta(device_id=device_id), ops=[op]))
        assert response.data is not None
        result = response.data.results[0]
        if not result.ok:
            assert result.error is not None
            raise _sync_error(result.error)
        assert result.data is not None
        return result.data

    @asynccontextmanager
    async def subscribe(self, resources: list[str], last_event_id: str | None) -> AsyncIterator[SSEStream]:
        """Open ``GET /sync/subscribe``; yields an :class:`SSEStream`, raises SyncError."""
        headers = {"accept": "text/event-stream", "cache-control": "no-store"}
        if last_event_id:
            headers["last-event-id"] = last_event_id
        params = {"resources": ",".join(resources)} if resources else None
        try:
            # No read timeout: liveness is judged by heartbeats (SSEStream.next_event).
            async with self._client.stream(
                "GET", "/sync/subscribe", params=params, headers=headers, timeout=httpx.Timeout(None, connect=5.0)
            ) as resp:
                if resp.status_code != 200:
                    body = await resp.aread()
                    try:
                        decoded = p.decode_response(body, [])
                        err = decoded.error
                    except Exception:  # noqa: BLE001
                        err = None
                    if err is None:
                        err = p.StandardError(code="HTTP", message=f"subscribe answered HTTP {resp.status_code}", kind="internal")
                    raise _sync_error(err, retryable=resp.status_code >= 500 or resp.status_code == 429 or None, status=resp.status_code)
                ctype = resp.headers.get("content-type", "").partition(";")[0].strip()
                if ctype != "text/event-stream":
                    raise transport_error(f"subscribe answered {ctype!r}, not text/event-stream", code="BAD_RESPONSE")
                stream = SSEStream(resp)
                try:
                    yield stream
                finally:
                    stream.close()
        except httpx.TimeoutException as exc:
            raise transport_error(f"subscribe timed out: {exc!r}", code="TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise transport_error(f"subscribe: cannot reach {self.server}: {exc!r}") from exc
