"""Undo/redo: grouping, exact round trips, outbox cancellation, respect for others' edits, persistence."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import atoma


class Task(atoma.Entity):
    title: str
    done: bool = False
    notes: str = ""


def schema() -> atoma.Schema:
    return atoma.Schema([atoma.Resource("tasks", Task, indexes=[atoma.Index("done")])])


@pytest.fixture
def client(tmp_path: Path):
    c = atoma.Client(str(tmp_path / "h.db"), schema()).open()
    yield c
    c.close_sync()


def values(e: atoma.Entity | None) -> dict | None:
    return None if e is None else {k: v for k, v in msgspec.to_builtins(e).items() if k != "version"}


def mark_sent(client: atoma.Client) -> None:
    """What the sync engine does once intents were pushed and acknowledged."""
    conn = client._connection()
    with conn:
        conn.execute("UPDATE atoma_outbox SET state = 'acked', attempts = 1 WHERE state = 'pending'")
        conn.execute(
            "UPDATE r_tasks SET pending = 0, base = NULL, version = version + 1, server_version = version + 1, "
            "data = json_set(data, '$.version', version + 1) WHERE pending > 0"
        )


def remote_edit(client: atoma.Client, eid: str, **fields: object) -> None:
    """What a pull does to an entity with no pending intents: the server value replaces the row."""
    conn = client._connection()
    data = msgspec.json.decode(conn.execute("SELECT data FROM r_tasks WHERE id = ?", (eid,)).fetchone()[0])
    data.update(fields)
    data["version"] += 1
    with conn:
        conn.execute("UPDATE r_tasks SET data = ?, version = version + 1 WHERE id = ?", (msgspec.json.encode(data).decode(), eid))


def test_action_groups_writes_and_round_trips_exactly(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    a = tasks.add({"id": "a", "title": "A"})
    b = tasks.add({"id": "b", "title": "B", "notes": "n"})
    mark_sent(client)
    with client.history.action("Complete all"):
        tasks.update("a", {"done": True})
        tasks.update("b", {"done": True, "notes": "done!"})
        tasks.delete("a")
    steps = client.history.steps("default")
    assert [s.label for s in steps] == ["Add task", "Add task", "Complete all"]
    assert steps[-1].change_count == 3 and steps[-1].resources == ("tasks",)
    after = (tasks.get("a"), tasks.get("b"))

    result = client.history.undo()
    assert result is not None and result.applied == 3 and result.skipped == ()
    assert values(tasks.get("a")) == values(a) and values(tasks.get("b")) == values(b)
    # none of the step's intents had been sent: undo cancelled them instead of sending reverses
    assert client.outbox.count("pending") == 0

    client.history.redo()
    assert (tasks.get("a"), tasks.get("b")) == after
    redone = client.outbox.list(state="pending")
    assert [(i.action, i.origin) for i in redone] == [("update", "history"), ("update", "history"), ("delete", "history")]
    assert redone[1].changed == ("done", "notes")
    assert client.history.can_undo and not client.history.can_redo


def test_undo_of_unpushed_create_sends_nothing(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "x", "title": "draft"})
    assert client.outbox.count() == 1
    client.history.undo()
    assert tasks.get("x") is None
    assert client.outbox.count() == 0  # the create intent was cancelled, no delete is sent
    assert client._connection().execute("SELECT count(*) FROM r_tasks").fetchone()[0] == 0
    client.history.redo()
    assert tasks.get("x").title == "draft" and [i.action for i in client.outbox.list()] == ["create"]


def test_undo_of_unsent_update_rewrites_the_intent(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "x", "title": "t"})
    mark_sent(client)
    tasks.update("x", {"title": "t2", "done": True})
    assert client.outbox.count("pending") == 1
    client.history.undo()
    assert tasks.get("x").title == "t" and tasks.get("x").done is False
    assert client.outbox.count("pending") == 0  # cancelled: nothing to send
    row = client._connection().execute("SELECT pending, base FROM r_tasks WHERE id = 'x'").fetchone()
    assert row == (0, None)
    # once an intent may have reached the server, undo sends a compensating write instead
    tasks.update("x", {"notes": "sent"})
    conn = client._connection()
    with conn:
        conn.execute("UPDATE atoma_outbox SET attempts = 1")
    client.history.undo()
    assert [i.origin for i in client.outbox.list(state="pending")] == ["local", "history"]


def test_remote_change_to_another_field_survives_and_same_field_is_reported(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "x", "title": "t"})
    mark_sent(client)
    tasks.update("x", {"title": "mine", "done": True})
    mark_sent(client)
    remote_edit(client, "x", notes="theirs", done=False)
    events: list[atoma.HistoryChanged] = []
    client.events.subscribe(events.append, ["history.changed"])
    result = client.history.undo()
    assert result is not None
    now = tasks.get("x")
    assert now.title == "t"  # undone
    assert now.notes == "theirs" and now.done is False  # their edits are untouched
    assert [(s.fields, s.reason) for s in result.skipped] == [(("done",), "changed by someone else since")]
    assert events[-1].what == "undo" and events[-1].skipped == result.skipped


def test_nothing_applicable_raises_history_conflict(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "x", "title": "t"})
    mark_sent(client)
    tasks.update("x", {"title": "mine"})
    mark_sent(client)
    remote_edit(client, "x", title="theirs")
    with pytest.raises(atoma.HistoryConflict) as exc:
        client.history.undo()
    assert exc.value.skipped[0].fields == ("title",)
    assert tasks.get("x").title == "theirs"
    assert client.history.undo_step().label == "Edit task"  # the step stays where it was


def test_history_persists_is_bounded_and_scoped(tmp_path: Path) -> None:
    path = str(tmp_path / "p.db")
    with atoma.Client(path, schema(), history_max_steps=5) as c:
        tasks = c.store("tasks")
        for i in range(8):
            tasks.add({"id": f"t{i}", "title": str(i)})
        with c.history.action("Rename", scope="editor"):
            tasks.update("t0", {"title": "renamed"})
        assert len(c.history.steps("default")) == 5
    with atoma.Client(path, schema(), history_max_steps=5) as c:
        tasks = c.store("tasks")
        assert [s.label for s in c.history.steps("editor")] == ["Rename"]
        c.history.undo("editor")
        assert tasks.get("t0").title == "0"
        assert not c.history.can_redo  # the default scope has nothing undone
        assert c.history.redo_step("editor").label == "Rename"
        for _ in range(5):
            c.history.undo()
        assert c.history.undo() is None  # older steps were trimmed
        assert [t.id for t in tasks.find()] == ["t0", "t1", "t2"]
        # a new write clears the redo stack of its scope only
        tasks.add({"title": "new"})
        assert not c.history.can_redo and c.history.redo_step("editor") is not None
        c.history.clear()
        assert c.history.steps() == []


def test_disabled_history_records_nothing(tmp_path: Path) -> None:
    with atoma.Client(str(tmp_path / "d.db"), schema(), history=False) as c:
        c.store("tasks").add({"title": "x"})
        assert c.history.steps() == [] and c.history.undo() is None
