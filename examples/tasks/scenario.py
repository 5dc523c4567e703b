"""The scripted demo (``--headless``): the story a person plays with the two windows.

Device A and device B share one server. B works offline; both rename the same task; B comes
back, meets the conflict, and its user settles it in the conflict dialog. Every step goes
through the windows' own actions, buttons and editor (the code paths a click takes), each is
printed, and screenshots are taken along the way. The story ends by checking that both devices
and the server hold the same value and version of every entity, and that a person resolved
the conflict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QWidget

import atoma

from .app import TasksWindow
from .seed import PLANTS, seed

__all__ = ["Story", "StoryFailed", "SCREENSHOTS", "A_TITLE", "B_TITLE", "B_NOTES"]

A_TITLE = "Water the plants and the herbs"
B_TITLE = "Water the balcony plants"
B_NOTES = "The ferns like rain water. Use the blue can."

#: The screenshots the story writes, in order.
SCREENSHOTS = (
    "device-b-offline.png",
    "device-a.png",
    "device-b.png",
    "both-devices.png",
    "conflict-dialog.png",
    "inspector.png",
    "resolved.png",
)


class StoryFailed(Exception):
    """A step did not happen, or the end state is wrong (the message says which)."""


async def until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait until ``check()`` holds, for at most ``timeout`` seconds (the GUI keeps running)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise StoryFailed(f"{what}: did not happen within {timeout:g} s")
        await asyncio.sleep(0.02)


def plain(entity: Any) -> dict[str, Any]:
    """An entity as a dict without ``id`` and ``version`` (what the user sees)."""
    return {k: v for k, v in msgspec.to_builtins(entity).items() if k not in ("id", "version")}


class Story:
    """One run of the scripted demo over two open windows (``a``, ``b``) and a server."""

    def __init__(self, a: TasksWindow, b: TasksWindow, server_url: str, out: Path, say: Callable[[str], None] = print) -> None:
        self.a, self.b = a, b
        self.A, self.B = a.client, b.client
        self.server_url = server_url
        self.out = out
        self.say = say
        self._step = 0
        self.conflict_id: int | None = None

    def step(self, text: str) -> None:
        self._step += 1
        self.say(f"\n[{self._step}] {text}")

    async def shot(self, widget: QWidget, name: str) -> Path:
        """Save a screenshot of ``widget`` (after letting Qt lay out and paint it)."""
        await asyncio.sleep(0.15)
        path = self.out / name
        if not widget.grab().save(str(path)):
            raise StoryFailed(f"could not write {path}")
        self.say(f"    screenshot: {path}")
        return path

    async def side_by_side(self, name: str) -> Path:
        await asyncio.sleep(0.15)
        left, right = self.a.grab(), self.b.grab()
        gap = 12
        canvas = QPixmap(left.width() + gap + right.width(), max(left.height(), right.height()))
        canvas.fill("#cbd5e0")
        painter = QPainter(canvas)
        painter.drawPixmap(0, 0, left)
        painter.drawPixmap(left.width() + gap, 0, right)
        painter.end()
        path = self.out / name
        canvas.save(str(path))
        self.say(f"    screenshot: {path}")
        return path

    # -- what a user does ---------------------------------------------------------------------

    @staticmethod
    def edit(window: TasksWindow, task_id: str, **fields: Any) -> None:
        """Select the task, type into the editor, click Save."""
        if not window.select_task(task_id):
            raise StoryFailed(f"{window.device_name}: task {task_id} is not in the list")
        editor = window.editor
        if "title" in fields:
            editor.title_edit.setText(fields["title"])
        if "notes" in fields:
            editor.notes_edit.setPlainText(fields["notes"])
        if "priority" in fields:
            editor.priority_combo.setCurrentIndex(editor.priority_combo.findData(fields["priority"]))
        if not editor.save_button.isEnabled():
            raise StoryFailed(f"{window.device_name}: Save is not enabled after editing")
        editor.save_button.click()

    # -- the story ------------------------------------------------------------------------------

    async def run(self) -> None:
        A, B, a, b = self.A, self.B, self.a, self.b
        tasks_a, tasks_b = A.store("tasks"), B.store("tasks")

        self.step("Device A adds two projects and six tasks")
        ids = seed(A)
        plants = ids[PLANTS]
        await until(lambda: tasks_b.count() == len(ids) and B.store("projects").count() == 2, "device B receives the tasks")
        self.say(f"    A pushed {len(ids)} tasks; the server notified B, which pulled them: B lists {b.model.count} tasks")

        self.step("Device B: File > Work offline")
        b.offline_action.trigger()
        await until(lambda: B.sync.offline and B.sync.status.state == "offline", "device B goes offline")
        self.say(f"    B's status bar: {b.sync_indicator.state_text}")

        self.step(f"Device A renames '{PLANTS}' and makes it high priority")
        self.edit(a, plants, title=A_TITLE, priority=1)
        await until(lambda: A.sync.status.pending + A.sync.status.in_flight == 0 and tasks_a.get(plants).version == 2, "A's edit reaches the server")
        self.say(f"    the server accepted it: version {tasks_a.get(plants).version}, title '{A_TITLE}'")

        self.step("Device B (offline) renames the same task and adds to its notes")
        self.edit(b, plants, title=B_TITLE, notes=B_NOTES)
        status = B.sync.status
        self.say(f"    B shows its edit at once; it waits in B's outbox ({status.pending} change to send, base version {tasks_b.get(plants).version})")
        await self.shot(b, "device-b-offline.png")

        self.step("Device B: File > Work offline (off): back online")
        b.offline_action.trigger()
        await until(lambda: B.sync.conflicts.count("open") == 1 and b.conflict_badge.isVisible(), "the conflict reaches B's inbox")
        conflict = B.sync.conflicts.list(state="open")[0]
        self.conflict_id = conflict.id
        merge = conflict.merge()
        self.say(
            f"    B's edit was made on version {conflict.base_version}; the server is at version {conflict.server_version}: conflict #{conflict.id}"
        )
        self.say(f"    strategy 'manual': it waits for a person; B shows the badge '{b.conflict_badge.text()}'")
        self.say(f"    fields changed on both sides: {', '.join(merge.conflicts)}; merged automatically: "
                 + ", ".join(f"{f} ({'B' if s == 'local' else 'A'})" for f, s in sorted(merge.sides.items()) if s in ("local", "server")))
        await self.shot(a, "device-a.png")
        await self.shot(b, "device-b.png")
        await self.side_by_side("both-devices.png")

        self.step("Device B: the user clicks the badge; the conflict dialog opens")
        b.conflict_badge.click()
        dialog = b.conflict_dialog
        if dialog is None or not dialog.isVisible():
            raise StoryFailed("clicking the conflict badge did not open the conflict dialog")
        self.say(f"    to decide: {', '.join(dialog.undecided)}")
        dialog.choose("title", "mine")
        self.say(f"    title: 'Keep mine' ('{B_TITLE}'); notes (B's) and priority (A's) stay as merged")
        self.say(f"    the dialog will send: title='{dialog.merged_value()['title']}', priority={dialog.merged_value()['priority']}")
        await self.shot(dialog, "conflict-dialog.png")

        self.step("Device B: Tools > Inspector, Conflicts panel")
        inspector = b.open_inspector()
        inspector.resize(1100, 620)
        panel = inspector.show_panel("Conflicts")
        inspector.refresh_now()
        view = getattr(getattr(panel, "md", None), "view", None)
        if view is not None:
            view.selectRow(0)
        await self.shot(inspector, "inspector.png")
        inspector.close()

        self.step("Device B: Apply merge")
        dialog.merge_button.click()
        resolved = await asyncio.wait_for(dialog.wait(), 20)
        if resolved is None:
            raise StoryFailed("the dialog closed without resolving the conflict")
        self.say(f"    resolved: {resolved.resolution} by {resolved.resolved_by}; B sends the merged value on version {resolved.server_version}")

        self.step("Both devices and the server converge")
        await self.converge()
        final = tasks_a.get(plants)
        self.say(f"    '{final.title}', priority {final.priority}, notes '{final.notes}', version {final.version} everywhere")
        await self.side_by_side("resolved.png")
        self.check_end_state(plants)

    # -- checks -----------------------------------------------------------------------------------

    async def server_entities(self) -> dict[str, dict[str, tuple[dict[str, Any], int]]]:
        """``{resource: {id: (value, version)}}`` as the server has them (one query op each)."""
        ops = [{"opId": r, "kind": "query", "resource": r, "params": {"limit": 1000}} for r in ("projects", "tasks")]
        async with httpx.AsyncClient(base_url=self.server_url, timeout=10) as http:
            response = await http.post("/ops", json={"meta": {"v": 1}, "ops": ops})
        response.raise_for_status()
        out: dict[str, dict[str, tuple[dict[str, Any], int]]] = {}
        for result in response.json()["data"]["results"]:
            out[result["opId"]] = {
                item["id"]: ({k: v for k, v in item.items() if k not in ("id", "version")}, item["version"])
                for item in result["data"]["items"]
            }
        return out

    @staticmethod
    def local_entities(client: atoma.Client) -> dict[str, dict[str, tuple[dict[str, Any], int]]]:
        return {r: {e.id: (plain(e), e.version) for e in client.store(r).find()} for r in ("projects", "tasks")}

    async def converge(self, timeout: float = 20.0) -> None:
        """Wait until A, B and the server hold the same entities (value and version)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            server = await self.server_entities()
            diffs = [
                f"{c.path}: {r} differ from the server"
                for c in (self.A, self.B)
                for r, rows in self.local_entities(c).items()
                if rows != server[r]
            ]
            idle = all(c.sync.status.pending + c.sync.status.in_flight == 0 for c in (self.A, self.B))
            if not diffs and idle:
                return
            if loop.time() > deadline:
                raise StoryFailed("the devices did not converge: " + "; ".join(diffs or ["changes still waiting to be sent"]))
            await asyncio.sleep(0.05)

    def check_end_state(self, plants: str) -> None:
        task = self.A.store("tasks").get(plants)
        want = {"title": B_TITLE, "notes": B_NOTES, "priority": 1}
        got = {k: getattr(task, k) for k in want}
        if got != want:
            raise StoryFailed(f"the merged task is {got}, expected {want}")
        assert self.conflict_id is not None
        record = self.B.sync.conflicts.get(self.conflict_id)
        if record is None or record.state != "resolved" or record.resolved_by != "user" or record.resolution != "merged":
            raise StoryFailed(f"conflict #{self.conflict_id} should be resolved (merged) by the user, got {record}")
        if self.A.sync.conflicts.count("open") or self.B.sync.conflicts.count("open"):
            raise StoryFailed("a conflict is still open")
