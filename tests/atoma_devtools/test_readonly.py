"""Opening a client database read-only next to another process that holds its sync lock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

import atoma
from atoma.errors import AtomaError, ClientLocked
from atoma.sync.lock import SyncLock
from atoma_devtools import Inspector
from atoma_devtools.__main__ import main as cli_main
from atoma_devtools.readonly import DataVersionWatcher, ReadOnlyClient, infer_schema

from .helpers import populate, shot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "app.db")
    with atoma.Client(path, __import__("tests.atoma_devtools.helpers", fromlist=["SCHEMA"]).SCHEMA) as c:
        populate(c, 60)
    return path


def test_infer_schema_from_the_file(db: str) -> None:
    schema = infer_schema(db)
    tasks = schema["tasks"]
    assert {"title", "done", "priority", "project_id", "notes"} <= set(tasks.fields)
    assert {ix.fields for ix in tasks.indexes} == {("done",), ("project_id",), ("priority",)}
    assert [tx.fields for tx in tasks.text_indexes] == [("title",)]
    with ReadOnlyClient(db) as c:
        assert c.store("tasks").count({"title": {"match": "milk"}}) >= 1
        assert c.store("tasks").explain(where={"done": True}).indexes == ["ix_tasks_done"]


def test_readonly_next_to_a_process_that_syncs(db: str, settings, app, qtbot, shots: Path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.atoma_devtools.writer_child", db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT), env=env,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(ClientLocked):  # the other process really holds the lock
            SyncLock(db).acquire()
        client = ReadOnlyClient(db).open()
        win = Inspector(client, readonly=True, settings=settings)
        win.resize(1100, 700)
        win.show()
        watcher = DataVersionWatcher(client, 50, win)
        watcher.changed.connect(win.mark_all_dirty)
        win.refresh_now()
        stores = win.show_panel("Stores")

        def tasks_count() -> str:
            items = [stores.resources.topLevelItem(i) for i in range(stores.resources.topLevelItemCount())]
            return next(i.text(1) for i in items if i.text(0) == "tasks")

        assert tasks_count() == "60"
        child.stdin.write("25\n")
        child.stdin.flush()
        assert child.stdout.readline().startswith("wrote")
        qtbot.waitUntil(lambda: tasks_count() == "85", timeout=5000)
        assert watcher.changes >= 1
        outbox = win.show_panel("Outbox")
        outbox.md.select_key(client.outbox.list(state="rejected")[0].seq)
        assert not outbox.retry_button.isEnabled() and not outbox.discard_button.isEnabled()  # read-only: no actions
        sync_panel = win.panel("Sync")
        assert not sync_panel.sync_now_button.isEnabled()
        assert "read-only view" in sync_panel.fields["State"].text()  # not "no server configured"
        shot(win, str(shots / "readonly_outbox.png"))
        with pytest.raises(Exception):  # noqa: B017 - SQLite itself refuses: the connection is read-only
            client._connection().execute("DELETE FROM atoma_outbox")
        watcher.stop()
        win.shutdown()
        client.close_sync()
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(15)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == 0
    # we never held the lock: the writer released it and it is free now
    lock = SyncLock(db)
    lock.acquire()
    lock.release()


def test_cli_screenshot(db: str, tmp_path: Path, app, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cli.png"
    assert cli_main([db, "--panel", "History", "--screenshot", str(out)]) == 0
    assert out.stat().st_size > 5000
    assert cli_main([str(tmp_path / "missing.db")]) == 2
    assert "no database" in capsys.readouterr().err


def test_files_that_are_not_atoma_databases_are_refused_plainly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "other.db"  # an SQLite database of some other program
    conn = apsw.Connection(str(other))
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, " * 100)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for path, says in ((other, "not an Atoma client database"), (text, "is not a database"), (empty, "not an Atoma client database")):
        with pytest.raises(AtomaError, match=says) as info:
            ReadOnlyClient(str(path))
        assert info.value.code == "DATABASE"
        assert cli_main([str(path)]) == 2
        assert says in capsys.readouterr().err
    assert other.read_bytes()[:16] == b"SQLite format 3\x00"  # untouched
    assert empty.stat().st_size == 0  # nothing created in it
