from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import atoma


class Project(atoma.Entity):
    name: str


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None
    due: dt.date | None = None
    tags: list[str] = []


def make_schema() -> atoma.Schema:
    return atoma.Schema(
        [
            atoma.Resource(
                "tasks",
                Task,
                indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.Index("priority"), atoma.TextIndex("title")],
                relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
            ),
            atoma.Resource(
                "projects",
                Project,
                relations={
                    "tasks": atoma.HasMany("tasks", foreign_key="project_id"),
                    "top": atoma.HasOne("tasks", foreign_key="project_id"),
                },
            ),
        ]
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "app.db")


@pytest.fixture
def client(db: str):
    c = atoma.Client(db, make_schema()).open()
    yield c
    c.close_sync()


def snapshot(client: atoma.Client) -> tuple:
    conn = client._connection()
    return (
        list(conn.execute("SELECT id, version, deleted, data, pending, base FROM r_tasks ORDER BY id")),
        list(conn.execute("SELECT * FROM atoma_outbox ORDER BY seq")),
    )


def test_add_get_and_outbox_intent(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    t = tasks.add({"title": "Buy milk", "due": dt.date(2026, 12, 24)})
    assert isinstance(t, Task) and t.id and t.version == 0
    assert tasks.get(t.id) == t
    assert tasks.get("missing") is None
    [intent] = client.outbox.list()
    assert intent.action == "create" and intent.entity_id == t.id and intent.resource == "tasks"
    assert intent.value == {"title": "Buy milk", "done": False, "priority": 0, "project_id": None, "due": "2026-12-24", "tags": [], "id": t.id, "version": 0}
    assert intent.state == "pending" and intent.attempts == 0 and intent.base_version == 0 and intent.base is None
    assert len(intent.idempotency_key) == 32
    assert client.outbox.count() == 1 and client.outbox.counts()["pending"] == 1


def test_update_records_changed_fields_and_base(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    t = tasks.add({"id": "t1", "title": "a"})
    u = tasks.update("t1", {"done": True, "title": "a"})
    assert u.done is True and u.title == "a"
    u2 = tasks.update("t1", lambda cur: {"priority": cur.priority + 5})
    assert u2.priority == 5
    u3 = tasks.update("t1", lambda cur: Task(id=cur.id, title="b", done=cur.done, priority=cur.priority))
    assert u3.title == "b"
    intents = client.outbox.list()
    assert [i.action for i in intents] == ["create", "update", "update", "update"]
    assert [i.changed for i in intents[1:]] == [("done",), ("priority",), ("title",)]
    assert intents[1].value["done"] is True
    # a no-op update records nothing
    tasks.update("t1", {"title": "b"})
    assert client.outbox.count() == 4
    assert tasks.get(t.id).title == "b"


def test_update_base_snapshot_is_the_server_value(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "t1", "title": "a"})
    conn = client._connection()
    # Pretend the server acknowledged the create at version 3 (what the sync engine does).
    with conn:
        conn.execute("UPDATE r_tasks SET version = 3, pending = 0, base = NULL, data = json_set(data, '$.version', 3) WHERE id = 't1'")
        conn.execute("UPDATE atoma_outbox SET state = 'acked'")
    tasks.update("t1", {"title": "b"})
    tasks.update("t1", {"title": "c"})
    first, second = client.outbox.list(state="pending")
    assert first.base_version == second.base_version == 3
    assert first.base["title"] == "a" and second.base["title"] == "a"  # both made on the server's value


def test_unknown_fields_from_elsewhere_survive_local_updates(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "t1", "title": "a"})
    conn = client._connection()
    with conn:  # a newer app version (or the server) stored a field this version does not know
        conn.execute("UPDATE r_tasks SET data = json_set(data, '$.colour', 'red') WHERE id = 't1'")
    tasks.update("t1", {"title": "b"})
    raw = conn.execute("SELECT data FROM r_tasks WHERE id = 't1'").fetchone()[0]
    assert '"colour":"red"' in raw and '"title":"b"' in raw


def test_upsert_delete_and_tombstone_recreate(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.upsert({"id": "u1", "title": "x"})
    tasks.upsert({"id": "u1", "title": "y", "done": True})
    assert tasks.get("u1").title == "y"
    tasks.delete("u1")
    assert tasks.get("u1") is None and tasks.count() == 0
    with pytest.raises(atoma.NotFound) as exc:
        tasks.delete("u1")
    assert exc.value.entity_id == "u1" and exc.value.resource == "tasks"
    again = tasks.add({"id": "u1", "title": "z"})
    assert tasks.get("u1") == again
    assert [i.action for i in client.outbox.list()] == ["upsert", "update", "delete", "create"]


def test_many_operations_are_all_or_nothing(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    made = tasks.add_many([{"id": f"m{i}", "title": f"t{i}"} for i in range(5)])
    assert [t.id for t in made] == [f"m{i}" for i in range(5)]
    assert [i.seq for i in client.outbox.list()] == [1, 2, 3, 4, 5]
    before = snapshot(client)
    with pytest.raises(atoma.ValidationError, match="already exists"):
        tasks.add_many([{"id": "new1", "title": "n"}, {"id": "m3", "title": "dup"}])
    with pytest.raises(atoma.ValidationError, match="appears twice"):
        tasks.add_many([{"id": "d", "title": "n"}, {"id": "d", "title": "n"}])
    with pytest.raises(atoma.ValidationError, match=r"\$\.title"):
        tasks.add_many([{"id": "ok", "title": "n"}, {"id": "bad", "title": 5}])
    with pytest.raises(atoma.NotFound):
        tasks.update_many({"m1": {"done": True}, "nope": {"done": True}})
    with pytest.raises(atoma.NotFound):
        tasks.delete_many(["m1", "nope"])
    assert snapshot(client) == before
    tasks.update_many(where={"id": {"in": ["m1", "m2"]}}, patch={"done": True})
    assert tasks.count({"done": True}) == 2
    tasks.delete_many(["m1", "m2"])
    assert [t.id for t in tasks.get_many(["m0", "m1", "m4"]) if t] == ["m0", "m4"]


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda s: s.add({"title": "x", "colour": "red"}), "unknown field 'colour'"),
        (lambda s: s.add({"title": 3}), "Expected `str`, got `int`"),
        (lambda s: s.add({"done": True}), "missing required field `title`"),
        (lambda s: s.add({"id": "", "title": "x"}), "entity id must be"),
        (lambda s: s.add("nope"), "expected a dict"),
        (lambda s: s.update("e1", {"priority": "high"}), "Expected `int`, got `str`"),
        (lambda s: s.update("e1", {"id": "other"}), "id of an entity cannot change"),
        (lambda s: s.update("e1", {"version": 9}), "assigned by the server"),
        (lambda s: s.update("e1", {"title; DROP TABLE r_tasks": 1}), "unknown field"),
        (lambda s: s.update("e1", lambda cur: 42), "must return"),
        (lambda s: s.find(where={"nope": 1}), "unknown field 'nope'"),
        (lambda s: s.find(where={"title": {"like": "x"}}), "unknown operator 'like'"),
        (lambda s: s.find(where={"done": "yes"}), "holds bool values"),
        (lambda s: s.find(where={"priority": {"gt": "5"}}), "holds num values"),
        (lambda s: s.find(where={"title": {"contains": 5}}), "contains takes a string"),
        (lambda s: s.find(where={"priority": {"contains": "5"}}), "applies to string fields"),
        (lambda s: s.find(where={"project_id": {"match": "x"}}), "needs a TextIndex"),
        (lambda s: s.find(where={"tags": {"eq": "x"}}), "not a scalar field"),
        (lambda s: s.find(where={"priority": {"in": 5}}), "in takes a list"),
        (lambda s: s.find(where={"or": {"done": True}}), "expected a list"),
        (lambda s: s.find(where={"done') OR 1=1 --": True}), "unknown field"),
        (lambda s: s.find(order_by=[("title; DROP TABLE x", "asc")]), "unknown field"),
        (lambda s: s.find(order_by=[("title", "sideways")]), "direction must be"),
        (lambda s: s.find(limit=-1), "limit must be"),
        (lambda s: s.find(after="garbage!"), "not a cursor token"),
        (lambda s: s.find(fields=["nope"]), "unknown field"),
        (lambda s: s.find(include={"owner": True}), "no relation 'owner'"),
        (lambda s: s.find(include={"project": {"sort": 1}}), "unknown include option"),
    ],
)
def test_bad_input_raises_validation_error_and_writes_nothing(client: atoma.Client, call, fragment: str) -> None:
    tasks = client.store("tasks")
    tasks.add({"id": "e1", "title": "t"})
    before = snapshot(client)
    with pytest.raises(atoma.ValidationError, match=fragment) as exc:
        call(tasks)
    assert exc.value.code in ("VALIDATION", "ALREADY_EXISTS")
    assert snapshot(client) == before


def test_find_paging_total_and_sparse_fields(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add_many([{"id": f"t{i:02}", "title": f"task {i}", "priority": i % 3} for i in range(10)])
    page = tasks.find(order_by=[("priority", "desc")], limit=4, include_total=True)
    assert page.total == 10 and len(page) == 4 and page.prev_cursor is None
    assert [t.priority for t in page] == [2, 2, 2, 1]
    page2 = tasks.find(order_by=[("priority", "desc")], limit=4, after=page.next_cursor)
    assert [t.id for t in page2] == ["t04", "t07", "t00", "t03"]
    back = tasks.find(order_by=[("priority", "desc")], limit=4, before=page2.prev_cursor)
    assert [t.id for t in back] == [t.id for t in page]
    with pytest.raises(atoma.ValidationError, match="another order_by"):
        tasks.find(order_by=[("title", "asc")], after=page.next_cursor)
    offset = tasks.find(order_by=["-priority"], limit=3, offset=3)
    assert [t.id for t in offset] == [t.id for t in list(page) + list(page2)][3:6]
    sparse = tasks.find(where={"priority": 0}, fields=["title"], limit=2)
    assert sparse[0] == {"id": "t00", "version": 0, "title": "task 0"}


def test_include_relations_one_query_per_relation(client: atoma.Client) -> None:
    projects, tasks = client.store("projects"), client.store("tasks")
    projects.add_many([{"id": "p1", "name": "Home"}, {"id": "p2", "name": "Work"}, {"id": "p3", "name": "Empty"}])
    tasks.add_many(
        [{"id": f"h{i}", "title": f"home {i}", "project_id": "p1", "priority": i} for i in range(4)]
        + [{"id": f"w{i}", "title": f"work {i}", "project_id": "p2", "priority": i} for i in range(3)]
        + [{"id": "orphan", "title": "none"}]
    )
    statements: list[str] = []
    client._connection().exec_trace = lambda cursor, sql, bindings: statements.append(sql) or True
    page = projects.find(
        order_by=["name"],
        include={"tasks": {"order_by": [("priority", "desc")], "limit": 2, "include": {"project": True}}, "top": True},
    )
    client._connection().exec_trace = None
    assert [p.name for p in page] == ["Empty", "Home", "Work"]
    empty, home, work = page
    assert empty.tasks == [] and empty.top is None
    assert [t.id for t in home.tasks] == ["h3", "h2"] and [t.id for t in work.tasks] == ["w2", "w1"]
    assert home.tasks[0].project.name == "Home"
    assert home.top.project_id == "p1"
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4  # projects, tasks, top, nested project: never one per row
    tsk = tasks.find(where={"id": {"in": ["h0", "orphan"]}}, include={"project": True})
    assert {t.id: (t.project.name if t.project else None) for t in tsk} == {"h0": "Home", "orphan": None}


def test_match_uses_full_text_index_case_insensitively(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add_many([{"id": "1", "title": "Buy MILK and bread"}, {"id": "2", "title": "Milkshake"}, {"id": "3", "title": "Buy shoes"}])
    assert [t.id for t in tasks.find(where={"title": {"match": "milk"}})] == ["1", "2"]
    assert [t.id for t in tasks.find(where={"title": {"match": "buy mil"}})] == ["1"]
    tasks.update("2", {"title": "Juice"})
    tasks.delete("1")
    assert tasks.find(where={"title": {"match": "milk"}}).items == []
    plan = tasks.explain(where={"title": {"match": "juice"}})
    assert "fts_tasks_0" in plan.sql
    assert plan.indexes == ["fts_tasks_0", "INTEGER PRIMARY KEY"]  # the match, then rowid lookups
    # json_each (how `in` lists are passed) is a virtual table too, but not an index
    assert "json_each" not in tasks.explain(where={"title": {"in": ["Juice", "Milk"]}}).indexes


def test_everything_survives_close_and_reopen(db: str) -> None:
    with atoma.Client(db, make_schema()) as c:
        tasks = c.store("tasks")
        tasks.add_many([{"id": f"t{i}", "title": f"n{i}"} for i in range(50)])
        tasks.update("t3", {"done": True})
        tasks.delete("t4")
        before_rows = [t for t in tasks.find()]
        before_outbox = c.outbox.list()
    with atoma.Client(db, make_schema()) as c:
        tasks = c.store("tasks")
        assert list(tasks.find()) == before_rows
        assert c.outbox.list() == before_outbox
        assert tasks.get("t3").done is True and tasks.get("t4") is None


def test_closed_client_raises_client_closed(db: str) -> None:
    c = atoma.Client(db, make_schema()).open()
    tasks = c.store("tasks")
    c.close_sync()
    with pytest.raises(atoma.ClientClosed):
        tasks.add({"title": "x"})
    with pytest.raises(atoma.ClientClosed):
        c.store("tasks")
    with pytest.raises(atoma.ValidationError, match="unknown resource"):
        atoma.Client(db, make_schema()).open().store("nope")


def test_events_after_commit_with_origin(client: atoma.Client) -> None:
    seen: list[atoma.Event] = []
    unsubscribe = client.events.subscribe(seen.append, ["store.changed", "outbox.enqueued"])
    tasks = client.store("tasks")
    t = tasks.add({"title": "x"})
    tasks.update(t.id, {"done": True})
    tasks.delete(t.id)
    kinds = [(type(e).__name__, getattr(e, "action", None)) for e in seen]
    assert kinds == [
        ("StoreChanged", None), ("OutboxEnqueued", "create"),
        ("StoreChanged", None), ("OutboxEnqueued", "update"),
        ("StoreChanged", None), ("OutboxEnqueued", "delete"),
    ]
    assert all(e.origin == "local" for e in seen if isinstance(e, atoma.StoreChanged))
    assert seen[4].deleted == (t.id,) and seen[0].at_ms > 0
    unsubscribe()
    tasks.add({"title": "y"})
    assert len(seen) == 6
    # a failing listener neither breaks the write nor the other listeners
    got: list[atoma.Event] = []
    client.events.subscribe(lambda e: 1 / 0)
    client.events.subscribe(got.append, ["store.changed"])
    tasks.add({"title": "z"})
    assert len(got) == 1 and tasks.count() == 2


def test_explain_uses_indexes_on_100k(client: atoma.Client) -> None:
    tasks = client.store("tasks")
    tasks.add_many({"title": f"task {i}", "priority": i % 1000, "project_id": f"p{i % 2000}", "done": i % 2 == 0} for i in range(100_000))
    eq = tasks.explain(where={"project_id": "p7"})
    assert eq.indexes == ["ix_tasks_project_id"], eq.plan
    rng = tasks.explain(where={"priority": {"gte": 10, "lt": 20}}, order_by=[("priority", "asc")], limit=50)
    assert rng.indexes == ["ix_tasks_priority"], rng.plan
    assert any("<expr>>? AND <expr><?" in line for line in rng.plan)
    assert len(tasks.find(where={"project_id": "p7"})) == 50
    assert tasks.find(where={"priority": {"gte": 10, "lt": 20}}, limit=50, include_total=True).total == 1000
