"""Sync throughput and latency against the real reference server, with floors from the same run.

    python benchmarks/sync.py [--n 2000] [--rounds 200]

Prints, each as a ratio to a floor measured in the same run:

* push throughput: intents/s through the real server (``client.sync``), against raw ``httpx``
  posting the same write batches (same sizes, fresh keys) to the same server;
* pull apply rate: changes/s applied by ``client.sync.pull()``, against raw apsw inserting the
  same rows in the same page-sized transactions (same durability);
* end-to-end propagation latency between two clients (write on A -> ``store.changed`` on B),
  p50 / p99, next to the raw HTTP round trip of one small write.

The server runs in a thread of this process (uvicorn, SQLite adapter), so client and server
share one GIL: absolute figures are pessimistic, ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import apsw
import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import atoma  # noqa: E402
from atoma import protocol as p  # noqa: E402
from atoma.ids import new_id, new_key  # noqa: E402
from atoma.sync import SyncOptions  # noqa: E402


class Task(atoma.Entity):
    title: str
    done: bool = False
    note: str = ""


SCHEMA = atoma.Schema([atoma.Resource("tasks", Task, indexes=[atoma.Index("done")])])
BATCH = 100
PAGE = 500


def start_server(db: str) -> tuple[object, threading.Thread, str]:
    from server_reference import SQLiteAdapter, SubscribeSettings, create_app, make_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(SQLiteAdapter(db, SCHEMA), subscribe=SubscribeSettings(heartbeat_s=5, retry_ms=200, min_notify_interval_ms=0))
    server = make_server(app, port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


def value(i: int) -> dict[str, object]:
    return {"title": f"task {i}", "done": False, "note": "x" * 40}


async def raw_push(url: str, n: int) -> float:
    """Seconds to post n creates in BATCH-sized requests with plain httpx (the floor)."""
    async with httpx.AsyncClient(base_url=url) as http:
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            items = [
                p.WriteItem(entity_id=new_id(), base_version=0, value=value(i), meta=p.ItemMeta(idempotency_key=new_key()))
                for i in range(start, min(n, start + BATCH))
            ]
            req = p.OpsRequest(ops=[p.WriteOp(op_id="w0", resource="tasks", action="create", items=items)])
            resp = await http.post("/ops", content=p.encode(req), headers={"content-type": "application/json"})
            assert p.decode_response(resp.content, req).ok
        return time.perf_counter() - t0


def raw_apply(rows: list[tuple[str, int, str]]) -> float:
    """Seconds to insert the pulled rows with raw apsw, PAGE rows per transaction (the floor)."""
    with tempfile.TemporaryDirectory() as d:
        conn = apsw.Connection(os.path.join(d, "raw.db"))
        conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", "NORMAL")
        conn.execute("CREATE TABLE t (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, version INTEGER, data TEXT)")
        conn.execute("CREATE INDEX t_done ON t(json_extract(data, '$.done'), id)")
        t0 = time.perf_counter()
        for start in range(0, len(rows), PAGE):
            with conn:
                conn.executemany("INSERT INTO t(id, version, data) VALUES (?, ?, ?)", rows[start : start + PAGE])
        elapsed = time.perf_counter() - t0
        conn.close()
        return elapsed


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        server, thread, url = start_server(os.path.join(d, "server.db"))
        opts = SyncOptions(batch_size=BATCH, pull_page_size=PAGE, debounce=0.0, heartbeat_interval=5)
        try:
            # -- push ---------------------------------------------------------------------
            raw_s = await raw_push(url, n)
            a = atoma.Client(os.path.join(d, "a.db"), SCHEMA, server=url, sync_options=msgspec.structs.replace(opts, subscribe=False))
            a.open()
            a.store("tasks").add_many([value(i) for i in range(n)])
            t0 = time.perf_counter()
            await a.start()
            await a.sync.wait_idle(600)
            push_s = time.perf_counter() - t0
            assert a.outbox.counts()["acked"] == min(n, 1000) or a.outbox.counts()["pending"] == 0
            print(f"push   : {n / push_s:10.0f} intents/s   floor (raw httpx, same batches) {n / raw_s:10.0f} /s   ratio {raw_s / push_s:.2f}")

            # -- pull -----------------------------------------------------------------------
            b = atoma.Client(os.path.join(d, "b.db"), SCHEMA, server=url, sync_options=msgspec.structs.replace(opts, subscribe=False, poll_interval=3600))
            b.open()
            # start() pulls at once: the whole catch-up (all pages) is what is timed
            t0 = time.perf_counter()
            await b.start()
            await b.sync.wait_idle(600)
            pull_s = time.perf_counter() - t0
            total = b.store("tasks").count()
            rows = [(r[0], r[1], r[2]) for r in b._connection().execute("SELECT id, version, data FROM r_tasks")]
            floor_s = raw_apply(rows)
            print(f"pull   : {total / pull_s:10.0f} changes/s   floor (raw apsw, same rows/pages)  {total / floor_s:10.0f} /s   ratio {floor_s / pull_s:.3f}"
                  "   (Atoma includes the HTTP round trips of the pull)")
            await a.close()
            await b.close()

            # -- propagation latency ---------------------------------------------------------
            a = atoma.Client(os.path.join(d, "a.db"), SCHEMA, server=url, sync_options=opts)
            b = atoma.Client(os.path.join(d, "b.db"), SCHEMA, server=url, sync_options=opts)
            await a.start()
            await b.start()
            loop = asyncio.get_running_loop()
            while not b.sync.status.stream:
                await asyncio.sleep(0.01)
            target = a.store("tasks").add({"title": "latency", "done": False})
            await a.sync.wait_idle(30)
            await b.sync.wait_idle(30)
            while b.store("tasks").get(target.id) is None:
                await asyncio.sleep(0.01)
            arrived: dict[str, asyncio.Future[float]] = {}

            def on_change(ev: atoma.Event) -> None:
                if isinstance(ev, atoma.StoreChanged) and ev.origin == "sync" and target.id in ev.ids:
                    got = b.store("tasks").get(target.id)
                    fut = arrived.get(got.note) if got is not None else None
                    if fut is not None and not fut.done():
                        fut.set_result(time.perf_counter())

            b.events.subscribe(on_change, ["store.changed"])
            lat: list[float] = []
            for i in range(rounds):
                fut: asyncio.Future[float] = loop.create_future()
                arrived[f"r{i}"] = fut
                t0 = time.perf_counter()
                a.store("tasks").update(target.id, {"note": f"r{i}"})
                lat.append(await asyncio.wait_for(fut, 30) - t0)
            async with httpx.AsyncClient(base_url=url) as http:
                rtts = []
                for _ in range(50):
                    req = p.OpsRequest(ops=[p.WriteOp(op_id="w", resource="tasks", action="create", items=[
                        p.WriteItem(entity_id=new_id(), base_version=0, value=value(0), meta=p.ItemMeta(idempotency_key=new_key()))])])
                    t0 = time.perf_counter()
                    await http.post("/ops", content=p.encode(req))
                    rtts.append(time.perf_counter() - t0)
            lat.sort()
            p50 = statistics.median(lat) * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            rtt = statistics.median(rtts) * 1000
            print(f"latency: p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (A write -> B store.changed, {rounds} rounds)"
                  f"   floor: one raw write round trip p50 {rtt:.1f} ms; ratio p50/floor {p50 / rtt:.1f}")
            await a.close()
            await b.close()
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
            thread.join(10)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    asyncio.run(main(args.n, args.rounds))
