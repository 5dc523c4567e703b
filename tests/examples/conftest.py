"""Fixtures of the example app tests: a local client of the tasks schema, and widget cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

import atoma
from examples.tasks.schema import schema


@pytest.fixture
def app(qapp):  # type: ignore[no-untyped-def]
    # Closing the last window must not quit the application in tests.
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


@pytest.fixture
def client(tmp_path: Path) -> Iterator[atoma.Client]:
    """A local-only client (no server): writes, queries and history need no event loop."""
    c = atoma.Client(str(tmp_path / "device.db"), schema).open()
    try:
        yield c
    finally:
        c.close_sync()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """The inspector's settings in a private file (never the user's)."""
    return QSettings(str(tmp_path / "inspector.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _delete_widgets(qapp):  # type: ignore[no-untyped-def]
    """Close and delete every top-level widget after each test, while the QApplication exists."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for w in qapp.topLevelWidgets():
        w.close()
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
