"""``GET /sync/subscribe``: the server-sent-events stream of change notifications.

The stream starts with ``retry:``, then sends ``event: sync.notify`` frames (``id:`` is the
cursor, ``data:`` the changed resources and the cursor) and ``: ping`` heartbeats while idle.
Frames are coalesced: at most one per ``min_notify_interval_ms``; what arrives in between is
merged into the next frame. Nothing here polls the database: the only query is the one
``Last-Event-ID`` needs when a client reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from atoma import protocol as p

from .adapters.base import Adapter
from .notifier import Hub, Subscription
from .observability import Event, Sink

__all__ = ["SubscribeSettings", "EventStream", "parse_resources", "parse_last_event_id"]

log = logging.getLogger("server_reference.subscribe")


@dataclass(frozen=True, slots=True)
class SubscribeSettings:
    """Stream timing: heartbeat period, suggested reconnect delay, coalescing window."""

    heartbeat_s: float = 15.0
    retry_ms: int = 3000
    min_notify_interval_ms: int = 100


def parse_resources(raw: str | None) -> list[str] | None:
    """``?resources=a,b`` as a list (None when absent); empty names are dropped."""
    if raw is None:
        return None
    return sorted({r.strip() for r in raw.split(",") if r.strip()})


def parse_last_event_id(raw: str | None) -> int | None:
    """The ``Last-Event-ID`` header as a cursor, or None when absent or not a cursor."""
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


def notify_frame(resources: Sequence[str], cursor: int) -> bytes:
    """One ``sync.notify`` frame."""
    data = p.encode(p.NotifyPayload(resources=list(resources), cursor=cursor)).decode()
    return f"event: sync.notify\nid: {cursor}\ndata: {data}\n\n".encode()


class EventStream:
    """The ASGI response of one subscription; ends on disconnect or server shutdown.

    It watches for the client's disconnect itself (whatever ASGI spec version the server
    speaks), so a stream is cleaned up at once rather than at its next heartbeat.
    """

    def __init__(
        self,
        hub: Hub,
        sub: Subscription,
        adapter: Adapter,
        resources: Sequence[str],
        last_event_id: int | None,
        settings: SubscribeSettings,
        sink: Sink,
        principal: str | None,
    ) -> None:
        self.hub = hub
        self.sub = sub
        self.adapter = adapter
        self.resources = resources
        self.last_event_id = last_event_id
        self.settings = settings
        self.sink = sink
        self.principal = principal
        self.frames = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        watcher = asyncio.create_task(self._watch(receive))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            async for chunk in self._frames():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-send
        finally:
            watcher.cancel()
            self.hub.unsubscribe(self.sub)
            self.sink.emit(
                Event(
                    kind="subscribe",
                    name="stream",
                    duration_ms=(time.perf_counter() - started) * 1000,
                    count=self.frames,
                    principal=self.principal,
                )
            )

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.sub.close()
                return

    async def _frames(self) -> AsyncIterator[bytes]:
        sub, settings = self.sub, self.settings
        yield f"retry: {settings.retry_ms}\n\n".encode()
        if self.last_event_id is not None:
            # The subscription is already registered, so nothing can slip between this read
            # and the notifications that follow it.
            heads = await self.adapter.head_cursors(self.resources)
            sub.offer([r for r, c in heads.items() if c > self.last_event_id], max(heads.values(), default=0))
        interval = settings.min_notify_interval_ms / 1000
        last_sent = float("-inf")
        while not sub.closed:
            if not sub.changed.is_set():
                try:
                    async with asyncio.timeout(settings.heartbeat_s):
                        await sub.changed.wait()
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
            if sub.closed:
                break
            delay = last_sent + interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # coalesce: later changes join this frame
                if sub.closed:
                    break
            resources, cursor = sub.take()
            if resources:
                self.frames += 1
                last_sent = time.monotonic()
                yield notify_frame(resources, cursor)
