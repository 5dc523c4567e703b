"""Atoma in one page: declare a schema, write locally, query, and look at the outbox.

Run with ``.venv/bin/python examples/quickstart.py`` (``make demo`` runs the task manager,
``examples/tasks``, with a server and two devices).
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import atoma


class Project(atoma.Entity):
    name: str


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


schema = atoma.Schema(
    [
        atoma.Resource(
            "tasks",
            Task,
            indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.TextIndex("title")],
            relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
        ),
        atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
    ]
)


async def main() -> None:
    folder = tempfile.mkdtemp(prefix="atoma-quickstart-")
    path = os.path.join(folder, "app.db")
    async with atoma.Client(path, schema) as client:  # server=None: everything stays local
        client.events.subscribe(lambda e: print(f"  event {e.__struct_config__.tag}: {e.resource} {len(e.ids)} id(s)"), ["store.changed"])
        projects, tasks = client.store("projects"), client.store("tasks")

        home = projects.add({"name": "Home"})
        tasks.add_many(
            [
                {"title": "Buy milk", "project_id": home.id, "priority": 2},
                {"title": "Call the plumber", "project_id": home.id, "priority": 3},
                {"title": "Water the plants", "project_id": home.id},
            ]
        )
        milk = tasks.find(where={"title": {"match": "milk"}})[0]
        tasks.update(milk.id, {"done": True})

        print("\nOpen tasks, most urgent first:")
        page = tasks.find(where={"done": False}, order_by=[("priority", "desc")], include={"project": True})
        for t in page:
            print(f"  [{t.priority}] {t.title}  ({t.project.name})")

        print("\nProjects with their tasks:")
        for p in projects.find(include={"tasks": {"order_by": [("title", "asc")]}}):
            print(f"  {p.name}: {', '.join(t.title for t in p.tasks)}")

        plan = tasks.explain(where={"done": False})
        print(f"\nPlan for done = false: {plan.plan} (indexes: {plan.indexes})")

        print("\nOutbox (what will be pushed once a server is configured):")
        for intent in client.outbox.list():
            print(f"  #{intent.seq} {intent.action:6} {intent.resource}/…{intent.entity_id[-6:]} changed={intent.changed}")
    print(f"\nDatabase: {path}")


if __name__ == "__main__":
    asyncio.run(main())
