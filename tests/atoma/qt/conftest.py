"""Fixtures of the Qt layer tests: a qasync loop driven by Qt (qtbot-style waits), clients
over real SQLite files, and the real reference server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import qasync
from PySide6.QtCore import QTimer

import atoma
from atoma import protocol as p
from atoma.sync import SyncOptions

from ..sync.live import LiveServer


class Project(atoma.Entity):
    name: str


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


SCHEMA = atoma.Schema(
    [
        atoma.Resource(
            "tasks",
            Task,
            indexes=[atoma.Index("done"), atoma.Index("priority"), atoma.Index("project_id"), atoma.TextIndex("title")],
            relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
        ),
        atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
    ]
)

# Polling instead of the subscribe stream: stopping a client while its SSE read is in flight
# can hang (the lane's cancellation is swallowed inside the stream read; reported to the sync
# owner). The Qt layer only sees `store.changed` events, whichever lane brings the changes.
FAST = SyncOptions(
    debounce=0.0, backoff_base=0.02, backoff_cap=0.2, poll_interval=0.2, heartbeat_interval=1.0, confirm_timeout=10.0, subscribe=False
)


@pytest.fixture
def qloop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that Qt's own event processing drives: qtbot.waitSignal/waitUntil make
    asyncio tasks progress (QT_ASYNC_TESTING.md, pattern B)."""
    qapp.setQuitOnLastWindowClosed(False)
    # Qt objects must die on the GUI thread: a garbage collection that runs in the test
    # server's thread and frees a QObject (qasync's timers) corrupts Qt's timer bookkeeping.
    gc.collect()
    gc.disable()
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        for t in asyncio.all_tasks(loop):
            t.cancel()
        loop.stop()
        loop.close()
        asyncio.set_event_loop(None)
        asyncio.events._set_running_loop(None)
        del loop
        # qasync's stop() calls app.exit(), which leaves Qt's "quit now" state set: events
        # posted from other threads (queued signals) would wait for the next exec(). One
        # short exec() clears it for the tests that follow.
        QTimer.singleShot(0, qapp.quit)
        qapp.exec()
        gc.enable()
        gc.collect()


@pytest.fixture
def arun(qloop: asyncio.AbstractEventLoop, qtbot: Any) -> Callable[..., Any]:
    """Run a coroutine to completion while Qt processes events (a deadline, never a sleep)."""

    def run(coro: Coroutine[Any, Any, Any], timeout: float = 15.0) -> Any:
        fut = asyncio.ensure_future(coro)
        qtbot.waitUntil(fut.done, timeout=int(timeout * 1000))
        return fut.result()

    return run


@pytest.fixture
def client(tmp_path: Path) -> Iterator[atoma.Client]:
    """A local-only client over a real SQLite file."""
    c = atoma.Client(str(tmp_path / "app.db"), SCHEMA).open()
    yield c
    c.close_sync()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(str(tmp_path / "server.db"), SCHEMA).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def remote_clients(tmp_path: Path, server: LiveServer, arun: Callable[..., Any]) -> Iterator[Callable[..., atoma.Client]]:
    """``make(name, **client_kw)``: started clients of the live server, closed at the end
    (``sync_options=None``: pulls only once, at start, so what arrives later is fetched)."""
    made: list[atoma.Client] = []

    def make(name: str, **kw: Any) -> atoma.Client:
        opts = kw.pop("sync_options", FAST) or msgspec.structs.replace(FAST, poll_interval=3600)
        c = atoma.Client(str(tmp_path / name), SCHEMA, server=server.url, sync_options=opts, **kw)
        arun(c.start())
        made.append(c)
        return c

    yield make
    for c in made:
        arun(c.close())


class GatedServer:
    """An ``httpx.MockTransport`` handler: pulls answer "nothing new"; query ops by id wait
    until :attr:`gate` opens, and record whether they were cancelled meanwhile."""

    def __init__(self, entities: dict[str, dict[str, Any]] | None = None) -> None:
        self.entities = entities or {}
        self.gate = asyncio.Event()
        self.queries: list[p.QueryOp] = []
        self.cancelled = 0
        self.answered = 0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        req = p.decode_request(request.content)
        results = []
        for op in req.ops:
            if isinstance(op, p.PullOp):
                data: Any = p.PullResultData(next_cursor=op.cursor, has_more=False, changes=[])
            else:
                assert isinstance(op, p.QueryOp)
                self.queries.append(op)
                try:
                    await self.gate.wait()
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
                eid = (op.params.where or {}).get("id")
                items = [self.entities[eid]] if eid in self.entities else []
                data = p.QueryResultData(items=items, page_info=p.PageInfo(cursor=None, has_next=False))
                self.answered += 1
            results.append(p.OpResult(op_id=op.op_id, ok=True, data=data))
        resp = p.OpsResponse(ok=True, data=p.ResultsData(results=results), meta=p.ResponseMeta(server_time_ms=0))
        return httpx.Response(200, content=p.encode(resp), headers={"content-type": "application/json"})


@pytest.fixture
def gated(tmp_path: Path, arun: Callable[..., Any]) -> Iterator[tuple[atoma.Client, GatedServer]]:
    """A started client whose server is a :class:`GatedServer` (no socket)."""
    srv = GatedServer({"t-1": {"id": "t-1", "version": 3, "title": "from the server", "done": False, "priority": 1}})
    opts = msgspec.structs.replace(FAST, subscribe=False, poll_interval=60.0)
    c = atoma.Client(str(tmp_path / "gated.db"), SCHEMA, server="http://atoma.test", transport=httpx.MockTransport(srv.handler), sync_options=opts)
    arun(c.start())
    yield c, srv
    srv.gate.set()
    arun(c.close())
