"""A writer killed with SIGKILL at random moments never leaves a change without its intent
(or an intent without its change)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import msgspec

import atoma

from .crash_writer import SCHEMA

RUNS = 25


def check_invariants(path: str) -> int:
    """Each entity row agrees with its intents: pending count, last value, tombstone."""
    with atoma.Client(path, SCHEMA) as client:
        conn = client._connection()
        intents: dict[str, list[atoma.Intent]] = {}
        for i in client.outbox.list():
            intents.setdefault(i.entity_id, []).append(i)
        rows = list(conn.execute("SELECT id, deleted, data, pending FROM r_notes"))
        assert {r[0] for r in rows} == set(intents), "every change has an intent and every intent a change"
        for eid, deleted, data, pending in rows:
            mine = intents[eid]
            assert pending == len(mine), eid
            last = mine[-1]
            if last.action == "delete":
                assert deleted == 1
            else:
                assert deleted == 0 and last.value == msgspec.json.decode(data), eid
        live = conn.execute("SELECT count(*) FROM r_notes WHERE deleted = 0").fetchone()[0]
        # the full-text index agrees with the table after recovery
        assert client.store("notes").count({"body": {"match": "note"}}) + client.store("notes").count(
            {"body": {"match": "edit"}}
        ) + client.store("notes").count({"body": {"match": "bulk"}}) == live
        assert conn.pragma("integrity_check") == "ok"
        return len(rows)


def test_sigkill_at_random_moments_leaves_changes_and_intents_together(tmp_path: Path) -> None:
    path = str(tmp_path / "crash.db")
    rnd = random.Random(1234)
    writer = Path(__file__).with_name("crash_writer.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")])}
    total = 0
    for run in range(RUNS):
        proc = subprocess.Popen(
            [sys.executable, "-c", f"import runpy, sys; sys.argv = ['w', {path!r}, '{run}']; runpy.run_path({str(writer)!r}, run_name='__main__')"],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            wanted = rnd.randint(1, 200)
            assert proc.stdout is not None
            for _ in range(wanted):  # wait for this many commits (the child's own progress), then kill
                if not proc.stdout.readline():
                    break
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stdout.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL, f"writer exited on its own ({proc.returncode})"
        total = check_invariants(path)
    assert total > RUNS
