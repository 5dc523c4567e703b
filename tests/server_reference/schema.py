"""The schema the server tests serve: tasks/projects (as in the examples) and a record type
with fields of every kind (including a mixed one) for the query-conformance property test."""

from __future__ import annotations

import atoma


class Project(atoma.Entity):
    name: str
    owner: str | None = None


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


class Rec(atoma.Entity):
    s: str | None = None
    n: int | None = None
    f: float | None = None
    b: bool | None = None
    m: int | float | str | None = None  # a mixed-type field
    t: str = ""  # full-text indexed


schema = atoma.Schema(
    [
        atoma.Resource(
            "tasks",
            Task,
            indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.TextIndex("title")],
            relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
        ),
        atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
        atoma.Resource("recs", Rec, indexes=[atoma.Index("s"), atoma.Index("n", "m"), atoma.TextIndex("t")]),
    ]
)
