"""Local store speed against the floor of raw apsw SQL doing the same durable work.

Each measurement runs the Atoma API and, in the same run, raw SQL on a database with the
same layout and durability (WAL, synchronous=NORMAL): the entity row, its index entries
(expression indexes, FTS triggers) and the outbox row. Prints the ratio Atoma / floor.
Target: every ratio <= 1.5.

    .venv/bin/python benchmarks/local_store.py [--quick] [--history]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Callable

import msgspec

import atoma
from atoma.outbox import INSERT_SQL


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


SCHEMA = atoma.Schema(
    [atoma.Resource("tasks", Task, indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.Index("priority")])]
)
enc = msgspec.json.Encoder()


HISTORY = {"on": False}


def fresh(folder: str, name: str) -> atoma.Client:
    # The floor writes what issue #2 defines (entity row, index entries, outbox row); undo
    # history is measured separately (--history) since it writes more rows by design.
    return atoma.Client(os.path.join(folder, name), SCHEMA, history=HISTORY["on"]).open()


def best(fn: Callable[[], float], repeat: int = 3) -> float:
    return min(fn() for _ in range(repeat))


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def task_dict(i: int) -> dict:
    return {"title": f"task number {i}", "priority": i % 1000, "project_id": f"p{i % 2000}", "done": i % 2 == 0}


def raw_row(i: int) -> tuple[str, str, str]:
    eid = os.urandom(16).hex()
    d = task_dict(i)
    d["id"], d["version"] = eid, 0
    return eid, enc.encode(d).decode(), os.urandom(16).hex()


def bench_single_add(folder: str, n: int) -> tuple[float, float]:
    def api() -> float:
        c = fresh(folder, f"a{os.urandom(4).hex()}.db")
        tasks = c.store("tasks")
        t = timed(lambda: [tasks.add(task_dict(i)) for i in range(n)])
        c.close_sync()
        return t

    def floor() -> float:
        c = fresh(folder, f"f{os.urandom(4).hex()}.db")
        conn = c._connection()

        def run() -> None:
            for i in range(n):
                eid, data, key = raw_row(i)
                now = time.time_ns() // 1_000_000
                conn.execute("BEGIN")
                conn.execute("INSERT INTO r_tasks(id, version, data, pending) VALUES (?, 0, ?, 1)", (eid, data))
                conn.execute(INSERT_SQL, ("tasks", eid, "create", data, None, 0, None, key, now, now, "local"))
                conn.execute("COMMIT")

        t = timed(run)
        c.close_sync()
        return t

    return best(api), best(floor)


def bench_add_many(folder: str, n: int) -> tuple[float, float]:
    def api() -> float:
        c = fresh(folder, f"a{os.urandom(4).hex()}.db")
        tasks = c.store("tasks")
        values = [task_dict(i) for i in range(n)]
        t = timed(lambda: tasks.add_many(values))
        c.close_sync()
        return t

    def floor() -> float:
        c = fresh(folder, f"f{os.urandom(4).hex()}.db")
        conn = c._connection()

        def run() -> None:
            rows = [raw_row(i) for i in range(n)]
            now = time.time_ns() // 1_000_000
            with conn:
                conn.executemany("INSERT INTO r_tasks(id, version, data, pending) VALUES (?, 0, ?, 1)", [(e, d) for e, d, _ in rows])
                conn.executemany(INSERT_SQL, [("tasks", e, "create", d, None, 0, None, k, now, now, "local") for e, d, k in rows])

        t = timed(run)
        c.close_sync()
        return t

    return best(api), best(floor)


def bench_update(folder: str, n: int) -> tuple[float, float]:
    c = fresh(folder, f"u{os.urandom(4).hex()}.db")
    tasks = c.store("tasks")
    ids = [t.id for t in tasks.add_many(task_dict(i) for i in range(1000))]
    conn = c._connection()

    def api() -> float:
        return timed(lambda: [tasks.update(ids[i % 1000], {"title": f"renamed {i}", "priority": i}) for i in range(n)])

    def floor() -> float:
        def run() -> None:
            for i in range(n):
                eid = ids[i % 1000]
                now = time.time_ns() // 1_000_000
                conn.execute("BEGIN")
                rid, data = conn.execute("SELECT rid, data FROM r_tasks WHERE id = ? AND deleted = 0", (eid,)).fetchone()
                d = msgspec.json.decode(data)
                d["title"], d["priority"] = f"renamed {i}", i
                new = enc.encode(d).decode()
                conn.execute("UPDATE r_tasks SET data = ?, pending = pending + 1 WHERE rid = ?", (new, rid))
                conn.execute(INSERT_SQL, ("tasks", eid, "update", new, '["title","priority"]', 0, None, os.urandom(16).hex(), now, now, "local"))
                conn.execute("COMMIT")

        return timed(run)

    result = best(api), best(floor)
    c.close_sync()
    return result


def bench_find(folder: str, n_rows: int, n_queries: int) -> tuple[float, float]:
    c = fresh(folder, f"q{os.urandom(4).hex()}.db")
    tasks = c.store("tasks")
    tasks.add_many(task_dict(i) for i in range(n_rows))
    conn = c._connection()
    plan = tasks.explain(where={"project_id": "p7"}, limit=50)
    assert plan.indexes == ["ix_tasks_project_id"], plan.plan
    dec = msgspec.json.Decoder(Task)
    sql = (
        "SELECT data FROM r_tasks WHERE deleted = 0 AND json_extract(data, '$.project_id') = ? "
        "ORDER BY id LIMIT 50"
    )

    def api() -> float:
        return timed(lambda: [tasks.find(where={"project_id": f"p{i % 2000}"}, limit=50) for i in range(n_queries)])

    def floor() -> float:
        return timed(lambda: [[dec.decode(r[0]) for r in conn.execute(sql, (f"p{i % 2000}",))] for i in range(n_queries)])

    got = len(tasks.find(where={"project_id": "p7"}, limit=50))
    assert got == 50, got
    result = best(api), best(floor)
    c.close_sync()
    return result


def main() -> None:
    quick = "--quick" in sys.argv
    HISTORY["on"] = "--history" in sys.argv
    folder = tempfile.mkdtemp(prefix="atoma-bench-")
    rows = [
        ("single add per transaction", *bench_single_add(folder, 500 if quick else 3000), 500 if quick else 3000),
        ("add_many of 20,000", *bench_add_many(folder, 20_000), 20_000),
        ("update of one entity", *bench_update(folder, 500 if quick else 3000), 500 if quick else 3000),
        ("indexed find, 50 of 100,000", *bench_find(folder, 100_000, 200 if quick else 1000), 200 if quick else 1000),
    ]
    print(f"{'operation':32} {'atoma':>12} {'floor':>12} {'ratio':>7}   (per op; WAL, synchronous=NORMAL; undo history {'on' if HISTORY['on'] else 'off'})")
    worst = 0.0
    for name, api, floor, n in rows:
        ratio = api / floor
        worst = max(worst, ratio)
        unit = 1e6 / n
        print(f"{name:32} {api * unit:9.1f} µs {floor * unit:9.1f} µs {ratio:7.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
