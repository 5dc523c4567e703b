"""Sample projects and tasks, written on one device (the others get them through sync)."""

from __future__ import annotations

import atoma

__all__ = ["seed", "PLANTS"]

#: The title of the task the scripted demo edits on both devices.
PLANTS = "Water the plants"


def seed(client: atoma.Client) -> dict[str, str]:
    """Add two projects and a handful of tasks in one undo step; returns ``{title: id}``."""
    projects, tasks = client.store("projects"), client.store("tasks")
    with client.history.action("Add sample tasks"):
        home = projects.add({"name": "Home", "color": "#38a169"})
        work = projects.add({"name": "Work", "color": "#3182ce"})
        added = tasks.add_many(
            [
                {"title": PLANTS, "notes": "The ferns like rain water.", "project_id": home.id},
                {"title": "Buy milk", "project_id": home.id},
                {"title": "Call the plumber", "notes": "Kitchen tap drips.", "priority": 1, "project_id": home.id},
                {"title": "Send the invoice", "notes": "March, to ACME.", "priority": 1, "project_id": work.id},
                {"title": "Book the team lunch", "project_id": work.id},
                {"title": "Renew passport", "done": True},
            ]
        )
    return {t.title: t.id for t in added}
