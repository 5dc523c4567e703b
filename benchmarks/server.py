"""Reference server speed against floors measured in the same run (SQLite backend, loopback).

1. Write throughput through ``POST /ops`` (write ops of 100 creates, one client, then four)
   against the floor of raw apsw SQL writing the same rows in one process with the same
   durability (WAL, synchronous=NORMAL): entity row (with the same expression indexes),
   change row and idempotency row, 100 items per transaction.
2. 500 idle SSE subscribers (in a child process): database statements per second while idle
   (counted by an apsw exec tracer on every server connection; target 0), then the
   notification latency p50/p99 to all 500 after one write.

    .venv/bin/python benchmarks/server.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import apsw
import httpx
import msgspec

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import atoma  # noqa: E402
from atoma.ids import new_id, new_key  # noqa: E402
from server_reference import NullSink, SQLiteAdapter, SubscribeSettings, create_app  # noqa: E402
from server_reference.adapters.sqlite_schema import migrate  # noqa: E402
from server_reference.serve import bind_socket, make_server  # noqa: E402
from server_reference.writes import text_words  # noqa: E402


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


SCHEMA = atoma.Schema(
    [
        atoma.Resource("tasks", Task, indexes=[atoma.Index("done"), atoma.Index("project_id")], relations={}),
        atoma.Resource("projects", Task),
    ]
)
BATCH = 100
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
enc = msgspec.json.Encoder()


def task(i: int) -> dict[str, Any]:
    return {"title": f"task number {i}", "priority": i % 1000, "project_id": f"p{i % 2000}", "done": i % 2 == 0}


# -- floor ----------------------------------------------------------------------------------------


def floor_items_per_s(folder: str, n: int) -> float:
    """Raw apsw: the same three rows per item, 100 items per transaction, same layout."""
    conn = apsw.Connection(os.path.join(folder, "floor.db"))
    conn.pragma("journal_mode", "wal")
    conn.pragma("synchronous", "NORMAL")
    migrate(conn, SCHEMA, lambda: 0)
    res = SCHEMA["tasks"]
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        now = time.time_ns() // 1_000_000
        with conn:
            for i in range(start, min(n, start + BATCH)):
                eid = new_id()
                value = {"id": eid, "version": 1, **task(i)}
                data = enc.encode(value).decode()
                words = text_words(res, value)
                conn.execute(
                    "INSERT INTO atoma_entities(resource, id, version, deleted, data, words) VALUES (?, ?, 1, 0, ?, ?)",
                    ("tasks", eid, data, words),
                )
                conn.execute(
                    "INSERT INTO atoma_changes(resource, entity_id, kind, version, changed_at_ms) VALUES (?, ?, 'upsert', 1, ?)",
                    ("tasks", eid, now),
                )
                outcome = enc.encode({"index": i - start, "ok": True, "entityId": eid, "version": 1, "data": value}).decode()
                conn.execute(
                    "INSERT INTO atoma_idempotency(key, outcome, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (new_key(), outcome, now, now + 7 * 86400_000),
                )
    elapsed = time.perf_counter() - t0
    conn.close()
    return n / elapsed


# -- a server in a thread -------------------------------------------------------------------------


class Running:
    def __init__(self, app: Any) -> None:
        self.sock = bind_socket("127.0.0.1", 0, backlog=4096)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = make_server(app, log_level="warning", backlog=4096)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Running":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:  # uvicorn exposes no event; bounded wait
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def batch_body(start: int) -> bytes:
    items = [{"value": task(i), "meta": {"idempotencyKey": new_key()}} for i in range(start, start + BATCH)]
    return enc.encode({"meta": {"v": 1}, "ops": [{"opId": "w", "kind": "write", "resource": "tasks", "action": "create", "items": items}]})


def server_items_per_s(url: str, n: int, clients: int) -> float:
    bodies = [batch_body(s) for s in range(0, n, BATCH)]

    async def run() -> None:
        # TCP_NODELAY: httpx writes headers and body separately; Nagle would add 40 ms per request.
        transport = httpx.AsyncHTTPTransport(socket_options=NODELAY, limits=httpx.Limits(max_connections=clients))
        async with httpx.AsyncClient(base_url=url, timeout=60, transport=transport) as c:
            queue = list(bodies)

            async def worker() -> None:
                while queue:
                    body = queue.pop()
                    r = await c.post("/ops", content=body, headers={"content-type": "application/json"})
                    assert r.status_code == 200 and r.json()["data"]["results"][0]["ok"], r.text[:300]

            await asyncio.gather(*(worker() for _ in range(clients)))

    t0 = time.perf_counter()
    asyncio.run(run())
    return n / (time.perf_counter() - t0)


def bench_writes(folder: str, n: int) -> None:
    floor = max(floor_items_per_s(folder, n) for _ in range(2))
    print(f"\n1. write throughput, batches of {BATCH} creates, {n} items per run (SQLite, WAL, synchronous=NORMAL)")
    print(f"   floor: raw apsw, entity + change + idempotency rows     {floor:10.0f} items/s")
    for clients in (1, 4):
        path = os.path.join(folder, f"server{clients}.db")
        with Running(create_app(SQLiteAdapter(path, SCHEMA), sink=NullSink())) as srv:
            server_items_per_s(srv.url, BATCH * 5, clients)  # warm-up
            got = server_items_per_s(srv.url, n, clients)
        print(f"   POST /ops over HTTP, {clients} client(s)                     {got:10.0f} items/s   floor/server = {floor / got:5.2f}x")


# -- 500 idle subscribers -------------------------------------------------------------------------


async def _subscribers(url: str, n: int) -> None:
    """Child process: open n streams with plain asyncio sockets (a light client, so that the
    figures are the server's), report readiness, then print each stream's notify time."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    got: list[float] = []
    ready = 0
    done = asyncio.Event()
    all_ready = asyncio.Event()
    request = f"GET /sync/subscribe?resources=tasks HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode()

    async def one() -> None:
        nonlocal ready
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        counted = False
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if b"retry:" in line and not counted:
                    counted = True
                    ready += 1
                    if ready == n:
                        all_ready.set()
                elif b"event: sync.notify" in line:
                    got.append(time.monotonic())
                    if len(got) == n:
                        done.set()
                    return
        finally:
            writer.close()

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.wait_for(all_ready.wait(), 120)
    print("READY", flush=True)
    await asyncio.wait_for(done.wait(), 120)
    print(json.dumps(got), flush=True)
    await asyncio.gather(*tasks, return_exceptions=True)


def bench_subscribers(folder: str, n: int, idle_s: float) -> None:
    statements = [0]

    def count(sql: str) -> None:
        statements[0] += 1

    adapter = SQLiteAdapter(os.path.join(folder, "sse.db"), SCHEMA, on_statement=count)
    app = create_app(adapter, sink=NullSink(), subscribe=SubscribeSettings(heartbeat_s=15))
    print(f"\n2. {n} idle SSE subscribers (child process), one server process on SQLite")
    with Running(app) as srv:
        child = subprocess.Popen(
            [sys.executable, __file__, "--child-subscribers", srv.url, str(n)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"subscribers failed: {line!r}")
        before = statements[0]
        time.sleep(idle_s)  # the measurement window itself
        idle = (statements[0] - before) / idle_s
        subscribed = len(app.state.atoma.hub)
        with httpx.Client(base_url=srv.url, transport=httpx.HTTPTransport(socket_options=NODELAY)) as c:
            one_item = enc.encode(
                {"ops": [{"opId": "w", "kind": "write", "resource": "tasks", "action": "create",
                          "items": [{"value": task(1), "meta": {"idempotencyKey": new_key()}}]}]}
            )
            t0 = time.monotonic()
            r = c.post("/ops", content=one_item, headers={"content-type": "application/json"})
            t_ack = time.monotonic() - t0
            assert r.status_code == 200
        times = json.loads(child.stdout.readline())
        child.wait(60)
    lat = sorted((t - t0) * 1000 for t in times)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(round(0.99 * len(lat))) - 1)]
    print(f"   subscribers registered in the hub                        {subscribed:10d}")
    print(f"   database statements/s while idle ({idle_s:.0f} s window)            {idle:10.2f}   (target 0)")
    print(f"   write acknowledged after                                 {t_ack * 1000:10.1f} ms")
    print(f"   notification latency to all {len(lat)}: p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {lat[-1]:7.1f} ms")


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "--child-subscribers":
        asyncio.run(_subscribers(sys.argv[2], int(sys.argv[3])))
        return
    quick = "--quick" in sys.argv
    n = 5_000 if quick else 20_000
    with tempfile.TemporaryDirectory(prefix="atoma-bench-server-") as folder:
        print("Atoma reference server benchmark (loopback, SQLite)")
        bench_writes(folder, n)
        bench_subscribers(folder, 500, 2.0 if quick else 5.0)


if __name__ == "__main__":
    main()
