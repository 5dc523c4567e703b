"""atoma.qt.run, spawn, async_slot and the excepthook."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QPushButton, QWidget

import atoma
from atoma.qt import LiveQuery, async_slot, run, spawn

from .conftest import SCHEMA


def test_run_drives_an_app_and_returns_mains_result(qapp: Any, tmp_path: Path) -> None:
    async def main(path: str) -> list[str]:
        async with atoma.Client(path, SCHEMA) as client:
            model = LiveQuery(client, "tasks", order_by=["title"])
            client.store("tasks").add({"title": "b"})
            await asyncio.sleep(0.01)  # a real await on the qasync loop
            client.store("tasks").add({"title": "a"})
            return [model.entity(i).title for i in range(model.count)]

    assert run(main, str(tmp_path / "app.db"), app=qapp) == ["a", "b"]


def test_closing_the_last_window_cancels_main(qapp: Any) -> None:
    steps: list[str] = []

    async def main() -> str:
        window = QWidget()
        window.show()
        QTimer.singleShot(20, window.close)
        try:
            await asyncio.sleep(30)
        finally:
            steps.append("unwound")
        return "not reached"

    assert run(main, app=qapp) is None and steps == ["unwound"]


def test_errors_in_tasks_and_slots_reach_the_sink(qapp: Any) -> None:
    seen: list[BaseException] = []

    async def boom(tag: str) -> None:
        await asyncio.sleep(0)
        raise RuntimeError(tag)

    async def main() -> None:
        spawn(boom("spawned"))
        button = QPushButton()
        button.clicked.connect(async_slot(lambda: boom("clicked")))  # a zero-argument emission
        button.click()
        asyncio.ensure_future(boom("never awaited"))  # reported by the loop's exception handler
        await asyncio.sleep(0.05)
        gc.collect()

    run(main, app=qapp, sink=seen.append)
    assert sorted(str(e) for e in seen if isinstance(e, RuntimeError)) == ["clicked", "never awaited", "spawned"]


def test_async_slot_drops_extra_signal_arguments(qloop: Any, qtbot: Any) -> None:
    got: list[Any] = []

    async def save(flag: bool) -> None:
        got.append(flag)

    slot = async_slot(save)
    qtbot.waitUntil(slot(True, "extra").done, timeout=2000)
    assert got == [True]
    with pytest.raises(TypeError):
        async_slot(save)()
