from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

import atoma

from .helpers import SCHEMA, populate


@pytest.fixture
def app(qapp):  # type: ignore[no-untyped-def]
    # Closing the last window must not quit the app (and stop a qasync loop) in tests.
    qapp.setQuitOnLastWindowClosed(False)
    return qapp


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A private settings file: tests never touch the user's Inspector settings."""
    return QSettings(str(tmp_path / "inspector.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[atoma.Client]:
    c = atoma.Client(str(tmp_path / "app.db"), SCHEMA).open()
    c.seeded = populate(c)  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        c.close_sync()


@pytest.fixture
def qloop(app):  # type: ignore[no-untyped-def]
    """A fresh qasync loop per test, driven by ``arun`` (pattern A of QT_ASYNC_TESTING.md)."""
    import asyncio

    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def arun(qloop):  # type: ignore[no-untyped-def]
    import asyncio

    def run(coro, timeout: float = 20):  # type: ignore[no-untyped-def]
        return qloop.run_until_complete(asyncio.wait_for(coro, timeout))

    return run


@pytest.fixture(autouse=True)
def _delete_widgets(qapp):  # type: ignore[no-untyped-def]
    """Delete every top-level widget after each test, while the QApplication still exists:
    widgets kept alive by Python reference cycles would otherwise be destroyed at interpreter
    exit, after Qt's own teardown."""
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for w in qapp.topLevelWidgets():
        w.close()
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # Collect reference cycles holding Qt objects now, on the GUI thread: left to chance, the
    # collector may run on a server thread and destroy widgets there.
    import gc

    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def inspector(client: atoma.Client, settings: QSettings, app):  # type: ignore[no-untyped-def]
    """An Inspector over ``client``, shown at 1100x700 and refreshed once."""
    from atoma_devtools import Inspector

    win = Inspector(client, settings=settings)
    win.resize(1100, 700)
    win.show()
    win.refresh_now()
    yield win
    win.shutdown()
    win.deleteLater()
