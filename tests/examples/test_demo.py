"""``make demo`` without a display: the scripted story, run exactly as a user would run it.

The demo runs as a subprocess (server, two devices, the dialog, screenshots); afterwards the
three databases are opened read-only to check its end state independently of the demo's own
checks: both devices and the server hold the same value and version of every entity, nothing
waits in an outbox, and device B's conflict was resolved by a person ("user").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import apsw
import msgspec
import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ("device-a.png", "device-b.png", "inspector.png", "conflict-dialog.png")
RESOURCES = ("projects", "tasks")

Rows = dict[str, dict[str, tuple[dict[str, Any], int]]]


def run_demo(tmp_path: Path, timeout: float = 90) -> tuple[int, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    cmd = [sys.executable, "-m", "examples.tasks.demo", "--headless", "--out", str(tmp_path / "shots"), "--data", str(tmp_path / "data")]
    # A session of its own: on a timeout the whole group (the demo and its server) is killed.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the headless demo did not finish within {timeout} s:\n{out}")
    return proc.returncode, out


def read_only(path: Path) -> apsw.Connection:
    assert path.exists(), f"{path} is missing"
    return apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)


def _value(data: str) -> dict[str, Any]:
    return {k: v for k, v in msgspec.json.decode(data).items() if k not in ("id", "version")}


def server_rows(path: Path) -> Rows:
    conn = read_only(path)
    try:
        out: Rows = {r: {} for r in RESOURCES}
        for resource, eid, version, deleted, data in conn.execute("SELECT resource, id, version, deleted, data FROM atoma_entities"):
            if not deleted:
                out[resource][eid] = (_value(data), version)
        return out
    finally:
        conn.close()


def device_rows(path: Path) -> tuple[Rows, int, list[tuple[Any, ...]]]:
    """Live rows per resource, the number of unsettled intents, and the conflict records."""
    conn = read_only(path)
    try:
        rows: Rows = {}
        for resource in RESOURCES:
            rows[resource] = {
                eid: (_value(data), version)
                for eid, version, data in conn.execute(f'SELECT id, version, data FROM "r_{resource}" WHERE deleted = 0')
            }
        unsettled = conn.execute("SELECT count(*) FROM atoma_outbox WHERE state NOT IN ('acked')").fetchone()[0]
        conflicts = list(conn.execute("SELECT state, resolution, resolved_by FROM atoma_conflicts ORDER BY id"))
        return rows, unsettled, conflicts
    finally:
        conn.close()


def distinct_colours(image: QImage, samples: int = 40) -> int:
    w, h = image.width(), image.height()
    return len({image.pixel(x * w // samples, y * h // samples) for x in range(samples) for y in range(samples)})


def test_headless_demo_plays_the_story_and_everyone_agrees(tmp_path: Path, qapp) -> None:  # type: ignore[no-untyped-def]
    code, out = run_demo(tmp_path)
    assert code == 0, out
    assert "Server stopped." in out and "OK: both devices and the server agree" in out, out
    for step in ("Work offline", "clicks the badge", "Apply merge", "converge"):
        assert step in out, f"step {step!r} not printed:\n{out}"

    for name in SHOTS:
        image = QImage(str(tmp_path / "shots" / name))
        assert not image.isNull(), f"{name} is not an image"
        assert image.width() >= 600 and image.height() >= 400, f"{name}: {image.width()}x{image.height()}"
        assert distinct_colours(image) > 5, f"{name} is (nearly) a single colour"

    data = tmp_path / "data"
    server = server_rows(data / "server.db")
    a, a_unsettled, a_conflicts = device_rows(data / "device-a.db")
    b, b_unsettled, b_conflicts = device_rows(data / "device-b.db")
    assert len(server["tasks"]) == 6 and len(server["projects"]) == 2
    assert a == server, "device A differs from the server"
    assert b == server, "device B differs from the server"
    assert a_unsettled == 0 and b_unsettled == 0
    assert a_conflicts == []
    assert b_conflicts == [("resolved", "merged", "user")]
    # The merge the user made: B's title (chosen in the dialog), B's notes and A's priority
    # (both merged automatically), on version 3 (seed, A's edit, the merge).
    merged = [(v, ver) for v, ver in server["tasks"].values() if v["title"] == "Water the balcony plants"]
    assert len(merged) == 1
    value, version = merged[0]
    assert value["notes"] == "The ferns like rain water. Use the blue can." and value["priority"] == 1 and version == 3
