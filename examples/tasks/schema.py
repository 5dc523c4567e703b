"""The data of the task manager: projects and their tasks.

The reference server serves this schema by default (``python -m server_reference``), and
both the app and the server import it, so they agree on resources, fields and indexes.
"""

from __future__ import annotations

import atoma

__all__ = ["Project", "Task", "schema"]


class Project(atoma.Entity):
    name: str
    color: str = "#3b82f6"


class Task(atoma.Entity):
    title: str
    done: bool = False
    notes: str = ""
    priority: int = 0  # 0 normal, 1 high
    project_id: str | None = None


schema = atoma.Schema(
    [
        atoma.Resource(
            "tasks",
            Task,
            # Real SQLite indexes for the list's filters, full-text search for the search box.
            indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.TextIndex("title", "notes")],
            relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
        ),
        atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
    ]
)
