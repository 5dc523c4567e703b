"""Running a Qt app on asyncio (qasync), and making errors of async slots visible.

``atoma.qt.run(main)`` runs the coroutine function ``main`` on a qasync event loop over the
(existing or new) ``QApplication``: Qt events and asyncio tasks share the GUI thread, which is
where Atoma's sync engine, remote reads and live models run. It installs
:func:`install_excepthook`, so an exception in a task -- an async slot, a fetch, anything
started with :func:`spawn` -- reaches ``sys.excepthook`` (and the ``sink`` you pass) instead
of disappearing into "Task exception was never retrieved"::

    async def main():
        async with atoma.Client("app.db", schema, server=URL) as client:
            window = MainWindow(client)
            window.show()
            await window.closed          # a future the window completes in closeEvent

    atoma.qt.run(main)

By default closing the last window cancels ``main`` (Qt's usual "last window closed, app
ends"), so ``async with`` blocks unwind and the client closes cleanly; ``run`` then returns
``None``. Never call ``QDialog.exec()`` inside a task (it re-enters the loop): use ``open()``
and await a future completed from ``finished``.

Slots: ``qasync.asyncSlot`` fails on zero-argument signals under PySide6, so connect a plain
callable that starts the task: ``button.clicked.connect(async_slot(self.save))``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import qasync

__all__ = ["run", "spawn", "async_slot", "report_error", "install_excepthook"]

log = logging.getLogger("atoma.qt")
T = TypeVar("T")


def report_error(exc: BaseException) -> None:
    """Surface ``exc`` through ``sys.excepthook`` (what Qt apps, pytest-qt and
    :func:`install_excepthook` watch). Use it wherever an error would otherwise be lost."""
    sys.excepthook(type(exc), exc, exc.__traceback__)


def _report_outcome(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled() and task.exception() is not None:
        report_error(task.exception())  # type: ignore[arg-type]


def spawn(aw: Awaitable[T], *, name: str | None = None) -> "asyncio.Task[T]":
    """Start ``aw`` as a task on the running loop; if it fails, the error is reported
    (:func:`report_error`), never silently dropped. Returns the task (cancel it, or await it)."""
    task = asyncio.ensure_future(aw)
    if name is not None and isinstance(task, asyncio.Task):
        task.set_name(name)
    task.add_done_callback(_report_outcome)
    return task  # type: ignore[return-value]


def async_slot(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., "asyncio.Task[Any]"]:
    """A plain callable for ``signal.connect`` that runs the coroutine function ``fn`` as a
    task (:func:`spawn`). Extra signal arguments beyond what ``fn`` accepts are dropped."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        limit = None
    else:
        limit = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)

    @functools.wraps(fn)
    def slot(*args: Any) -> "asyncio.Task[Any]":
        return spawn(fn(*(args if limit is None else args[:limit])), name=getattr(fn, "__qualname__", None))

    return slot


def install_excepthook(
    loop: asyncio.AbstractEventLoop | None = None, *, sink: Callable[[BaseException], None] | None = None
) -> Callable[[], None]:
    """Route errors to one place; returns a function that undoes it.

    ``loop`` defaults to the running loop.

    * the loop's exception handler (errors of tasks nobody awaited, failing callbacks)
      hands exceptions to ``sys.excepthook``;
    * ``sys.excepthook`` logs the error (logger ``atoma.qt``) and calls ``sink(exc)`` -- for
      example a function that shows a message box -- or, without a sink, the previous hook.
    """
    loop = loop or asyncio.get_running_loop()
    previous_hook = sys.excepthook
    previous_handler = loop.get_exception_handler()

    def on_loop_error(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException) and not isinstance(exc, asyncio.CancelledError):
            report_error(exc)
        else:
            lp.default_exception_handler(context)

    def hook(etype: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.error("unhandled error: %s", exc, exc_info=(etype, exc, tb))
        if sink is not None:
            try:
                sink(exc)
            except Exception:  # noqa: BLE001 - the sink must not hide the original error
                log.exception("error sink %r failed", sink)
        else:
            previous_hook(etype, exc, tb)

    loop.set_exception_handler(on_loop_error)
    sys.excepthook = hook

    def uninstall() -> None:
        if sys.excepthook is hook:
            sys.excepthook = previous_hook
        if not loop.is_closed():
            loop.set_exception_handler(previous_handler)

    return uninstall


def run(
    main: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    app: Any = None,
    sink: Callable[[BaseException], None] | None = None,
    quit_on_last_window_closed: bool = True,
) -> T | None:
    """Run ``main(*args)`` on a qasync loop over ``app`` (default: the existing
    ``QApplication``, or a new one) until it returns; see the module docstring.

    Returns what ``main`` returned, or ``None`` when it was cancelled because the last window
    closed. Tasks still running at the end are cancelled, as ``asyncio.run`` does.
    """
    if app is None:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv)
    # Qt must not stop the loop under a running await: closing the last window cancels main
    # instead (below), which unwinds `async with` blocks before the loop ends.
    app.setQuitOnLastWindowClosed(False)
    state: dict[str, Any] = {"task": None, "closed": False}

    def on_last_window_closed() -> None:
        state["closed"] = True
        if quit_on_last_window_closed and state["task"] is not None:
            state["task"].cancel()

    async def wrapper() -> T | None:
        state["task"] = asyncio.current_task()
        try:
            return await main(*args)
        except asyncio.CancelledError:
            if state["closed"] and quit_on_last_window_closed:
                return None
            raise

    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        uninstall = install_excepthook(runner.get_loop(), sink=sink)
        app.lastWindowClosed.connect(on_last_window_closed)
        try:
            return runner.run(wrapper())
        finally:
            app.lastWindowClosed.disconnect(on_last_window_closed)
            uninstall()
