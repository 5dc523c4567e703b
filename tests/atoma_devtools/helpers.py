"""Shared data for the devtools tests: a schema with every index kind, realistic rows."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

import atoma
from atoma.conflicts import Conflict


class Project(atoma.Entity):
    name: str
    color: str = "blue"


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None
    notes: str = ""


SCHEMA = atoma.Schema(
    [
        atoma.Resource(
            "tasks",
            Task,
            indexes=[atoma.Index("done"), atoma.Index("project_id"), atoma.Index("priority"), atoma.TextIndex("title")],
            relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
        ),
        atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
    ]
)

WORDS = ["milk", "report", "invoice", "garden", "dentist", "taxes", "backup", "slides", "bike", "flowers"]


def populate(client: atoma.Client, n_tasks: int = 240) -> dict[str, Any]:
    """Projects, tasks, history steps in two scopes, and a rejected intent (as the push lane
    leaves one after a validation error)."""
    projects = client.store("projects")
    tasks = client.store("tasks")
    with client.history.action("Create projects"):
        ps = projects.add_many([{"name": n, "color": c} for n, c in (("Home", "green"), ("Work", "blue"), ("Errands", "orange"))])
    with client.history.action("Import tasks"):
        ts = tasks.add_many(
            [
                {
                    "title": f"{WORDS[i % len(WORDS)].title()} #{i}",
                    "done": i % 3 == 0,
                    "priority": i % 5,
                    "project_id": ps[i % 3].id,
                    "notes": "call first" if i % 7 == 0 else "",
                }
                for i in range(n_tasks)
            ]
        )
    tasks.update(ts[1].id, {"done": True})
    with client.history.action("Rename project", scope="projects-editor"):
        projects.update(ps[0].id, {"name": "Home & garden"})
    tasks.update(ts[2].id, {"title": "Buy milk and bread"})
    # A rejected intent: what the push lane records when the server refuses an item for good.
    from atoma.sync.rows import set_state

    bad = client.outbox.list(entity_id=ts[2].id)[-1]
    conn = client._connection()
    with conn:
        set_state(
            conn,
            [bad.seq],
            "rejected",
            client._now_ms(),
            error={"code": "VALIDATION", "message": "title: at most 16 characters", "kind": "validation"},
            count_attempt=True,
        )
    return {"projects": ps, "tasks": ts, "rejected_seq": bad.seq}


def make_conflict(**over: Any) -> Conflict:
    base = {"id": "t1", "version": 3, "title": "Buy milk", "done": False, "priority": 1, "notes": "", "project_id": None}
    local = {**base, "title": "Buy oat milk", "priority": 2}
    server = {**base, "version": 5, "title": "Buy milk and eggs", "done": True}
    fields: dict[str, Any] = dict(
        id=1, resource="tasks", entity_id="t1", seq=7, state="open", strategy="manual",
        base=base, base_version=3, local=local, local_changed=("title", "priority"), idempotency_key="k1",
        server=server, server_version=5, detected_at_ms=1_700_000_000_000,
    )
    fields.update(over)
    return Conflict(**fields)


def shot(widget: QWidget, path: str) -> QImage:
    """Grab ``widget`` to ``path`` and return the image (asserting it is not blank)."""
    pix = widget.grab()
    assert pix.save(path), path
    img = pix.toImage()
    assert img.width() > 100 and img.height() > 100, (img.width(), img.height())
    # Not uniform: count distinct colours on a sample grid.
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 8, f"{path} looks blank ({len(colours)} colours)"
    return img
