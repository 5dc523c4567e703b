"""Fault tests against the real server: kill -9 mid-push, dropped and duplicated responses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import msgspec
import pytest

import atoma

from .fakes import FaultTransport
from .helpers import FAST, SCHEMA, async_test
from .live import LiveServer

CHILD = Path(__file__).with_name("push_child.py")
N = 120  # creates; half of them also get an update -> 180 intents


def _wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def _server_changes(server: LiveServer) -> int:
    return server.query("SELECT count(*) FROM atoma_changes")[0][0]


@pytest.mark.parametrize("kill_after", [1, 60, 150])
def test_kill_9_mid_push_then_restart_applies_each_intent_once(tmp_path: Path, live_server: LiveServer, kill_after: int) -> None:
    db = str(tmp_path / "victim.db")
    child = subprocess.Popen([sys.executable, str(CHILD), db, live_server.url, str(N)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        _wait_for(lambda: _server_changes(live_server) >= kill_after, 30, "the child pushed something")
        # While the child syncs, this file is locked for any other syncing process.
        with pytest.raises(atoma.ClientLocked):
            atoma.sync.SyncLock(db).acquire()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    before = _server_changes(live_server)
    assert before < N + N // 2, "the kill must land mid-push"

    async def resume() -> None:
        async with atoma.Client(db, SCHEMA, server=live_server.url, sync_options=msgspec.structs.replace(FAST, subscribe=False)) as c:
            await c.sync.wait_idle(30)
            assert c.outbox.counts()["acked"] == N + N // 2
            assert c.sync.status.pending == c.sync.status.in_flight == c.sync.status.rejected == 0
            server = live_server.entities("tasks")
            for t in c.store("tasks").find():
                assert server[t.id][0] == t.version

    import asyncio

    asyncio.run(resume())  # the crashed holder left no stale lock
    per_entity = live_server.changes_per_entity("tasks")
    expected = {f"t{i:04d}": (2 if i < N // 2 else 1) for i in range(N)}
    assert per_entity == expected  # the change log: every intent exactly once
    versions = {eid: v for eid, (v, _, _) in live_server.entities("tasks").items()}
    assert versions == expected


@async_test
async def test_dropped_and_duplicated_responses_against_the_real_server(tmp_path: Path, live_server: LiveServer) -> None:
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    options = msgspec.structs.replace(FAST, batch_size=4, subscribe=False)
    async with atoma.Client(str(tmp_path / "f.db"), SCHEMA, server=live_server.url, transport=faults, sync_options=options) as c:
        tasks = c.store("tasks")
        faults.drop = 3
        faults.duplicate = 3
        ids = [tasks.add({"title": f"t{i}"}).id for i in range(12)]
        for eid in ids[:6]:
            tasks.update(eid, {"done": True})
        tasks.delete(ids[11])
        await c.sync.wait_idle(30)
        assert faults.dropped == 3 and faults.duplicated == 3
        per_entity = live_server.changes_per_entity("tasks")
        assert per_entity == {eid: 2 if i < 6 or i == 11 else 1 for i, eid in enumerate(ids)}
        server = live_server.entities("tasks")
        for eid in ids[:11]:
            got = tasks.get(eid)
            assert got is not None and got.version == server[eid][0]
        assert tasks.get(ids[11]) is None and server[ids[11]][1] is True
        keys = live_server.query("SELECT count(*) FROM atoma_idempotency")[0][0]
        assert keys == 19
