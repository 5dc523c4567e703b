"""The client database file: durability settings and in-place migration."""

from __future__ import annotations

from pathlib import Path

import pytest

import atoma
from atoma.database import open_database


class Task(atoma.Entity):
    title: str
    priority: int = 0


class Tag(atoma.Entity):
    label: str


def v1() -> atoma.Schema:
    return atoma.Schema([atoma.Resource("tasks", Task, indexes=[atoma.Index("priority")])])


def v2() -> atoma.Schema:
    return atoma.Schema(
        [
            atoma.Resource("tasks", Task, indexes=[atoma.Index("title"), atoma.TextIndex("title")]),
            atoma.Resource("tags", Tag, indexes=[atoma.Index("label", unique=True)]),
        ]
    )


def indexes(conn) -> set[str]:
    return {n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type IN ('index', 'table') AND name LIKE 'ix%' OR name LIKE 'fts%'")}


def test_wal_and_durability(tmp_path: Path) -> None:
    conn = open_database(str(tmp_path / "a.db"))
    assert conn.pragma("journal_mode") == "wal" and conn.pragma("synchronous") == 1
    conn.close()
    conn = open_database(str(tmp_path / "b.db"), durability="full")
    assert conn.pragma("synchronous") == 2
    conn.close()
    with pytest.raises(atoma.ValidationError, match="durability"):
        open_database(str(tmp_path / "c.db"), durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(atoma.ValidationError, match="does not exist"):
        open_database(str(tmp_path / "missing" / "d.db"))


def test_opening_with_a_newer_schema_migrates_in_place(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")
    with atoma.Client(path, v1()) as c:
        c.store("tasks").add_many([{"id": f"t{i}", "title": f"Title {i}", "priority": i} for i in range(20)])
        assert "ix_tasks_priority" in indexes(c._connection())
    with atoma.Client(path, v2()) as c:
        conn = c._connection()
        names = indexes(conn)
        assert "ix_tasks_priority" not in names  # no longer declared: dropped
        assert {"ix_tasks_title", "ix_tags_label_u", "fts_tasks_0"} <= names
        tasks = c.store("tasks")
        assert tasks.count() == 20 and tasks.get("t3").priority == 3
        # the new full-text index was filled from the rows already there
        assert [t.id for t in tasks.find(where={"title": {"match": "title"}}, limit=3)] == ["t0", "t1", "t10"]
        assert tasks.explain(where={"title": "Title 4"}).indexes == ["ix_tasks_title"]
        tags = c.store("tags")
        tags.add({"label": "home"})
        with pytest.raises(atoma.ValidationError, match="already exists"):
            tags.add({"label": "home"})
        assert tags.count() == 1
    with atoma.Client(path, v2()) as c:  # reopening with the same schema changes nothing
        assert c.store("tasks").count({"title": {"match": "title"}}) == 20
    with atoma.Client(path, v1()) as c:  # going back drops the text index and its triggers
        names = indexes(c._connection())
        assert "fts_tasks_0" not in names and "ix_tasks_priority" in names
        c.store("tasks").update("t1", {"title": "still writable"})


def test_refuses_a_file_from_a_newer_format(tmp_path: Path) -> None:
    path = str(tmp_path / "n.db")
    with atoma.Client(path, v1()) as c:
        c._connection().pragma("user_version", 99)
    with pytest.raises(atoma.AtomaError, match="newer than this Atoma"):
        atoma.Client(path, v1()).open()
