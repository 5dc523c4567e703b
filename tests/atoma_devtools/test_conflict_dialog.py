"""The conflict dialog against Conflict records built directly and an inbox stand-in with the
contract of ``client.sync.conflicts`` (list/get/check/resolve); end to end with the real inbox
and a live server in test_e2e.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

import atoma
from atoma.conflicts import Conflict, KeepLocal, Merged, TakeServer
from atoma_devtools import ConflictDialog

from .helpers import make_conflict, shot


class Inbox:
    """Behaves like ``client.sync.conflicts``; ``server`` lets a test move the server version."""

    def __init__(self, conflict: Conflict) -> None:
        self.conflict = conflict
        self.resolved: list[tuple[int, Any, str]] = []
        self.checks = 0

    def list(self, state: str | None = None) -> list[Conflict]:
        return [self.conflict] if state in (None, self.conflict.state) else []

    def get(self, cid: int) -> Conflict:
        return self.conflict

    async def check(self, cid: int) -> Conflict:
        self.checks += 1
        await asyncio.sleep(0)
        return self.conflict

    def resolve(self, cid: int, resolution: Any, *, by: str = "code") -> Conflict:
        self.resolved.append((cid, resolution, by))
        tag = type(resolution).__struct_config__.tag
        self.conflict = msgspec.structs.replace(self.conflict, state="resolved", resolution=tag, resolved_by=by, resolved_at_ms=1)
        return self.conflict


class GatedInbox(Inbox):
    """An inbox whose ``check`` waits for ``gate``: the server re-read is still running while
    the test acts; ``entered`` is set once the dialog is waiting on it."""

    def __init__(self, conflict: Conflict) -> None:
        super().__init__(conflict)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def check(self, cid: int) -> Conflict:
        self.checks += 1
        self.entered.set()
        await self.gate.wait()
        return self.conflict


@pytest.fixture
def inbox(client: atoma.Client) -> Inbox:
    box = Inbox(make_conflict())
    client.sync.conflicts = box  # type: ignore[attr-defined]
    return box


def test_three_way_view_premerges_and_requires_every_decision(client: atoma.Client, inbox: Inbox, shots: Path, app) -> None:  # type: ignore[no-untyped-def]
    dlg = ConflictDialog(client, inbox.conflict)
    dlg.resize(1000, 560)
    dlg.show()
    assert dlg.merge.sides == {"done": "server", "priority": "local", "title": "conflict"}
    assert list(dlg.choices) == ["title"]
    assert not dlg.merge_button.isEnabled() and "title" in dlg.status.text()
    assert dlg.keep_button.text() == "Keep mine" and dlg.take_button.text() == "Take theirs"
    shot(dlg, str(shots / "conflict_dialog.png"))
    dlg.choose("title", "mine")
    assert dlg.merge_button.isEnabled()
    assert dlg.merged_value() == {"title": "Buy oat milk", "done": True, "priority": 2, "notes": "", "project_id": None}
    dlg.choose("title", "edit", "Buy oat milk and eggs")
    assert dlg.merged_value()["title"] == "Buy oat milk and eggs"  # type: ignore[index]
    combo, edit = dlg.editors["title"]
    assert combo.currentIndex() == 3 and edit.text() == "Buy oat milk and eggs"  # strings edit as plain text
    dlg.choose("title", None)  # type: ignore[arg-type]
    assert not dlg.merge_button.isEnabled()
    dlg.show_unchanged.setChecked(True)
    shot(dlg, str(shots / "conflict_dialog_all_fields.png"))
    dlg.close()


def test_json_fields_are_validated(client: atoma.Client, app) -> None:  # type: ignore[no-untyped-def]
    c = make_conflict(
        base={"id": "t1", "title": "x", "priority": 1}, local={"id": "t1", "title": "x", "priority": 2},
        server={"id": "t1", "title": "x", "priority": 3}, local_changed=("priority",),
    )
    dlg = ConflictDialog(client, c)
    combo, edit = dlg.editors["priority"]
    edit.setText("{oops")
    dlg._on_edit("priority", "{oops")
    assert not dlg.merge_button.isEnabled() and "border" in edit.styleSheet()
    edit.setText("7")
    dlg._on_edit("priority", "7")
    assert dlg.merged_value() == {"title": "x", "priority": 7}
    dlg.close()


def test_an_invalid_edit_survives_a_rebuilt_view(client: atoma.Client, arun, shots: Path) -> None:  # type: ignore[no-untyped-def]
    c = make_conflict(
        base={"id": "t1", "version": 3, "title": "x", "priority": 1}, local={"id": "t1", "version": 3, "title": "x", "priority": 2},
        server={"id": "t1", "version": 5, "title": "x", "priority": 3}, local_changed=("priority",),
    )
    box = Inbox(c)
    client.sync.conflicts = box  # type: ignore[attr-defined]

    def assert_shows_the_bad_text(dlg: ConflictDialog) -> None:
        _combo, edit = dlg.editors["priority"]  # the current editor: the grid may be rebuilt
        assert edit.text() == "7{oops" and "border" in edit.styleSheet() and "JSON" in edit.toolTip()
        assert dlg.undecided == ["priority"] and "Still to decide: priority" in dlg.status.text()
        assert not dlg.merge_button.isEnabled()

    async def scenario() -> None:
        dlg = ConflictDialog(client, c)
        dlg.resize(1000, 560)
        dlg.open()
        _combo, edit = dlg.editors["priority"]
        QTest.keyClicks(edit, "7")  # typed, as a person would: textEdited fires
        assert dlg.merged_value() == {"title": "x", "priority": 7}
        QTest.keyClicks(edit, "{oops")  # now not JSON: the last valid value (7) must not come back
        assert_shows_the_bad_text(dlg)
        dlg.show_unchanged.setChecked(True)
        assert_shows_the_bad_text(dlg)
        shot(dlg, str(shots / "conflict_dialog_invalid_edit.png"))
        dlg.show_unchanged.setChecked(False)
        assert_shows_the_bad_text(dlg)
        # The server moves while deciding: the reload keeps what was typed, and its error.
        box.conflict = msgspec.structs.replace(c, server={**c.server, "version": 6, "title": "y"}, server_version=6)  # type: ignore[dict-item]
        assert await dlg.apply(KeepLocal()) is None and dlg.conflict.server_version == 6
        assert_shows_the_bad_text(dlg)
        # Fixing the text decides the field again.
        _combo, edit = dlg.editors["priority"]
        QTest.keyClick(edit, Qt.Key.Key_End)
        for _ in "{oops":
            QTest.keyClick(edit, Qt.Key.Key_Backspace)
        assert edit.styleSheet() == "" and dlg.merged_value() == {"title": "y", "priority": 7}
        dlg.close()

    arun(scenario())
    assert box.resolved == []


@pytest.mark.parametrize("how", ["decide_later", "window_close", "direct_apply"])
def test_closing_during_the_recheck_applies_nothing(client: atoma.Client, arun, how: str) -> None:  # type: ignore[no-untyped-def]
    box = GatedInbox(make_conflict())
    client.sync.conflicts = box  # type: ignore[attr-defined]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        leaked: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: leaked.append(ctx))  # e.g. "never retrieved"
        dlg = ConflictDialog(client, box.conflict)
        dlg.open()
        if how == "direct_apply":  # a caller awaiting apply() itself: cannot be cancelled by us
            task = asyncio.ensure_future(dlg.apply(KeepLocal()))
        else:
            task = dlg.keep_mine()  # what the "Keep mine" button calls; returns the apply task
        assert task is not None
        await asyncio.wait_for(box.entered.wait(), 5)
        # Busy: the deciding buttons and the fields are locked, the status says why, but
        # leaving is always possible (checked below, once the outcome is known).
        busy = (dlg.keep_button.isEnabled(), dlg.take_button.isEnabled(), dlg.grid_host.isEnabled(), dlg.later_button.isEnabled())
        assert "Checking" in dlg.status.text()
        if how == "window_close":
            dlg.close()  # what the title bar's close button does
        else:
            dlg.later_button.click()
        fut = dlg.result_future
        assert fut is not None and fut.done() and fut.result() is None and not dlg.isVisible()
        box.gate.set()  # the server answers only after the person has left
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task}
        if how == "direct_apply":
            assert task.result() is None
        else:
            assert task.cancelled()
        assert box.resolved == [] and box.conflict.state == "open"  # still in the inbox, to decide later
        assert busy == (False, False, False, True)
        assert not dlg._busy and dlg.keep_button.isEnabled() and dlg.grid_host.isEnabled()
        del task, done
        import gc

        gc.collect()  # an unretrieved task exception is reported when the task is collected
        assert leaked == []
        # Opened again, the dialog decides normally.
        dlg.open()
        box.gate.set()
        dlg.keep_button.click()
        out = await dlg.wait()
        assert out is not None and out.resolution == "keep_local"

    arun(scenario())
    assert [type(r).__name__ for _, r, _ in box.resolved] == ["KeepLocal"]


def test_apply_merge_rechecks_then_resolves_and_the_result_is_awaitable(client: atoma.Client, inbox: Inbox, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> Conflict | None:
        dlg = ConflictDialog(client, inbox.conflict)
        dlg.open()  # non-modal, inside a running qasync task
        assert dlg.isVisible() and not dlg.isModal()
        dlg.choose("title", "theirs")
        dlg.apply_merge()
        return await dlg.wait()

    out = arun(scenario())
    assert out is not None and out.state == "resolved" and out.resolution == "merged"
    (cid, res, by), = inbox.resolved
    assert inbox.checks == 1 and by == "user" and isinstance(res, Merged)
    assert res.value == {"title": "Buy milk and eggs", "done": True, "priority": 2, "notes": "", "project_id": None}


def test_refuses_to_apply_when_the_server_version_moved(client: atoma.Client, inbox: Inbox, arun, shots: Path) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        dlg = ConflictDialog(client, inbox.conflict)
        dlg.resize(1000, 560)
        dlg.open()
        dlg.choose("title", "mine")
        server = {**inbox.conflict.server, "version": 6, "title": "Buy milk, eggs, bread", "notes": "from the shop"}  # type: ignore[dict-item]
        inbox.conflict = msgspec.structs.replace(inbox.conflict, server=server, server_version=6)
        moved: list[Conflict] = []
        dlg.moved.connect(moved.append)
        assert await dlg.apply(Merged(value=dlg.merged_value() or {})) is None
        assert inbox.resolved == [] and moved and dlg.isVisible()
        assert dlg.conflict.server_version == 6 and "5 → 6" in dlg.notice.text()
        assert "notes" in dlg.merge.sides and dlg.choices["title"].choice == "mine"  # a person's pick survives
        shot(dlg, str(shots / "conflict_dialog_moved.png"))
        # now it applies over the version the person has seen
        assert await dlg.apply(KeepLocal()) is not None
        assert dlg.result_future is not None and (await dlg.wait()) is not None

    arun(scenario())
    assert [type(r).__name__ for _, r, _ in inbox.resolved] == ["KeepLocal"]


@pytest.mark.parametrize("side", ["local", "server"])
def test_deletes_are_shown_plainly(client: atoma.Client, side: str, shots: Path, arun) -> None:  # type: ignore[no-untyped-def]
    c = make_conflict(local=None, local_changed=None) if side == "local" else make_conflict(server=None)
    box = Inbox(c)
    client.sync.conflicts = box  # type: ignore[attr-defined]

    async def scenario() -> None:
        dlg = ConflictDialog(client, c)
        dlg.resize(1000, 560)
        dlg.open()
        assert not dlg.merge_button.isVisible()
        if side == "local":
            assert "You deleted this item" in dlg.banner.text() and dlg.keep_button.text() == "Keep my delete"
        else:
            assert "The server deleted this item" in dlg.banner.text() and dlg.take_button.text() == "Accept the delete"
        shot(dlg, str(shots / f"conflict_dialog_deleted_{side}.png"))
        dlg.take_theirs()
        assert isinstance(await dlg.wait(), Conflict)

    arun(scenario())
    assert isinstance(box.resolved[0][1], TakeServer)


def test_closing_without_deciding_resolves_to_none(client: atoma.Client, inbox: Inbox, arun) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> Any:
        dlg = ConflictDialog(client, inbox.conflict)
        dlg.open()
        asyncio.get_running_loop().call_later(0.05, dlg.later_button.click)
        return await dlg.wait()

    assert arun(scenario()) is None and inbox.resolved == []


def test_conflicts_panel_lists_the_inbox_and_opens_the_dialog(client: atoma.Client, inbox: Inbox, settings, shots: Path, arun) -> None:  # type: ignore[no-untyped-def]
    from atoma_devtools import Inspector

    async def scenario() -> None:
        win = Inspector(client, settings=settings)
        win.resize(1100, 700)
        win.show()
        p = win.show_panel("Conflicts")
        p.do_refresh()
        assert [r.key for r in p.md.rows()] == [1] and p.md.rows()[0].cells[4] == "title"
        assert p.badge() == "1 open"
        p.md.select_key(1)
        shot(win, str(shots / "conflicts_panel.png"))
        p.open_button.click()
        dlg = p.dialogs[-1]
        assert dlg.isVisible()
        dlg.keep_mine()
        await dlg.wait()
        await asyncio.sleep(0)
        assert p.md.rows()[0].status == "resolved"
        win.shutdown()

    arun(scenario())
