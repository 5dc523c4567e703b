"""The History panel over a real client: a step older than the newest few shows its changes
when it is selected (Diff tab, metadata, Copy as JSON), never an empty "identical" pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

import atoma
from atoma_devtools import Inspector
from atoma_devtools.panels import HistoryPanel
from atoma_devtools.panels.history import StepRow

from ..helpers import shot

DIFF_TAB, META_TAB = 2, 3


@pytest.fixture
def many_steps(client: atoma.Client) -> atoma.Client:
    """35 steps before the inspector opens: the seeded five, then 30 single edits (the newest
    25 of which are the steps a refresh reads the changes of)."""
    tasks = client.store("tasks")
    for t in client.seeded["tasks"][10:40]:  # type: ignore[attr-defined]
        tasks.update(t.id, {"priority": 9})
    return client


@pytest.fixture
def inspector(many_steps: atoma.Client, inspector: Inspector) -> Inspector:
    """The shared inspector, opened after ``many_steps`` wrote its steps."""
    return inspector


@pytest.fixture
def history(inspector: Inspector) -> HistoryPanel:
    p = inspector.show_panel("History")
    assert isinstance(p, HistoryPanel)
    assert len(p.md.rows()) == 35
    return p


def step_key(p: HistoryPanel, label: str) -> Any:
    return next(r.key for r in p.md.rows() if r.cells[2] == label)


def test_an_old_step_shows_its_changes_when_selected(history: HistoryPanel, inspector: Inspector, app: Any, shots: Path) -> None:
    p = history
    first = step_key(p, "Create projects")
    p.md.detail.setCurrentIndex(DIFF_TAB)
    assert p.md.select_key(first)
    diff = p.md.detail.diff.toPlainText()
    assert "identical" not in diff
    assert '+    "name": "Home",' in diff and '+    "name": "Errands",' in diff
    copied = msgspec.json.decode(p.md.copy_json())
    assert [c["after"]["name"] for c in copied["changes"]] == ["Home", "Work", "Errands"]
    assert all(c["before"] is None for c in copied["changes"])
    app.processEvents()
    shot(inspector, str(shots / "history_old_step_diff.png"))
    # A big old step: its first 50 changes, and the diff and metadata say so.
    assert p.md.select_key(step_key(p, "Import tasks"))
    assert "before the step (first 50 of 240 changes)" in p.md.detail.diff.toPlainText()
    p.md.detail.setCurrentIndex(META_TAB)
    meta = p.md.detail.meta
    shown = {meta.topLevelItem(i).text(0): meta.topLevelItem(i).text(1) for i in range(meta.topLevelItemCount())}
    assert shown["changes shown"] == "50 of 240"
    # Copy as JSON with nothing selected reads the old steps' changes too.
    p.md.view.clearSelection()
    everything = msgspec.json.decode(p.md.copy_json())
    assert len(everything) == 35 and all(len(s["changes"]) == min(s["step"]["change_count"], 50) > 0 for s in everything)


def test_a_refresh_reads_only_the_newest_steps_and_keeps_what_was_read(history: HistoryPanel, client: atoma.Client) -> None:
    p = history
    rows = p.md.rows()
    assert all(isinstance(r, StepRow) for r in rows)
    assert [r.loaded for r in rows] == [False] * 10 + [True] * 25  # type: ignore[attr-defined]
    first = step_key(p, "Create projects")
    p.md.detail.setCurrentIndex(DIFF_TAB)
    assert p.md.select_key(first)
    read: list[list[int]] = []
    real = p._changes
    p._changes = lambda ids: read.append(list(ids)) or real(ids)  # type: ignore[method-assign]
    client.store("tasks").update(client.seeded["tasks"][50].id, {"priority": 9})  # type: ignore[attr-defined]
    p.do_refresh()
    # One query for the new step; the step shown in the detail pane is not read again.
    assert read == [[max(r.key for r in p.md.rows())]]
    assert p.md.current_row() is not None and p.md.current_row().key == first
    assert '"name": "Home"' in p.md.detail.diff.toPlainText()
