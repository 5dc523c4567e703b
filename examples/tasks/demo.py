"""``make demo``: one server, two devices side by side, offline edits, a conflict a person resolves.

    python -m examples.tasks.demo [--headless] [--out DIR] [--data DIR] [--fresh]

It starts the reference server (``python -m server_reference``, embedded SQLite) as a child
process on a free port of 127.0.0.1, opens two clients with databases of their own (device A
and device B) and shows a :class:`~examples.tasks.app.TasksWindow` for each. Everything lives
in ``--data`` (default ``.atoma/demo`` in the repository, git-ignored). Closing both windows
(or Ctrl+C) closes the clients, then stops the server.

Without a display (no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux, or ``QT_QPA_PLATFORM=offscreen``)
or with ``--headless``, it plays the story by script on Qt's offscreen platform instead
(see :mod:`examples.tasks.scenario`), prints each step, writes screenshots to ``--out``
(default ``<data>/screenshots``), and exits with 0 only if the devices and the server agree.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT / ".atoma" / "demo"
DATABASES = ("server.db", "device-a.db", "device-b.db")

HELP = """\
Two devices are open side by side, syncing through the server. Try this:
  1. Device B: File > Work offline.
  2. Edit the same task in both windows (select it, change its title, Save).
  3. Device B: File > Work offline again, to come back online.
  4. Device B: click the conflict badge in the status bar and decide, field by field.
Tools > Inspector (Ctrl+Shift+I) shows each device's outbox, sync state and conflicts.
Close both windows (or press Ctrl+C here) to stop. Data stays in {data} (--fresh starts over)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.tasks.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--headless", action="store_true", help="play the scripted story offscreen and write screenshots")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder of the databases (default: {DEFAULT_DATA.relative_to(ROOT)})")
    parser.add_argument("--out", type=Path, help="folder of the screenshots (default: <data>/screenshots)")
    parser.add_argument("--fresh", action="store_true", help="start from empty databases (the scripted story always does)")
    return parser.parse_args(argv)


def has_display() -> bool:
    """Whether Qt can show windows here."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] not in ("offscreen", "minimal")
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def qt_window_problem() -> str | None:
    """Why Qt cannot open windows here, or None when it can.

    Qt aborts the whole process when its platform plugin cannot load (on Linux/X11 it needs
    system libraries such as ``libxcb-cursor0`` that pip cannot install), so a throw-away
    child process tries first and the demo can say what is missing instead of dying.
    """
    import subprocess

    probe = "from PySide6.QtGui import QGuiApplication; QGuiApplication([])"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Qt probe failed: {exc}"
    if done.returncode == 0:
        return None
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    hint = next((ln for ln in lines if "needed" in ln or "Could not" in ln), lines[-1] if lines else "unknown error")
    return hint


def reset(data: Path) -> None:
    """Remove the demo's databases (and their WAL, shared-memory and lock files)."""
    for name in DATABASES:
        for suffix in ("", "-wal", "-shm", ".lock"):
            (data / f"{name}{suffix}").unlink(missing_ok=True)


# -- running on qasync ----------------------------------------------------------------------------

@asynccontextmanager
async def devices(url: str, data: Path) -> AsyncIterator[tuple[Any, Any]]:
    """Device A and device B: two clients with their own databases, syncing with ``url``.

    ``conflict_strategy="manual"``: a conflict waits in the client's inbox for a person
    (the default, ``server-wins``, would settle it silently).
    """
    import atoma

    from .schema import schema

    a = atoma.Client(str(data / "device-a.db"), schema, server=url, conflict_strategy="manual")
    b = atoma.Client(str(data / "device-b.db"), schema, server=url, conflict_strategy="manual")
    await a.start()
    try:
        await b.start()
        try:
            yield a, b
        finally:
            await b.close()
    finally:
        await a.close()


def windows(a: Any, b: Any, data: Path, *, fit_screen: bool) -> tuple[Any, Any]:
    """A window per device, side by side."""
    from PySide6.QtCore import QSettings

    from .app import TasksWindow

    # The inspector remembers its layout in the demo's folder, not in the user's settings.
    settings = QSettings(str(data / "inspector.ini"), QSettings.Format.IniFormat)
    left, right = TasksWindow(a, "Device A", settings=settings), TasksWindow(b, "Device B", settings=settings)
    width, height = 900, 600
    if fit_screen:
        screen = left.screen().availableGeometry()
        width, height = min(width, (screen.width() - 24) // 2), min(height, screen.height() - 60)
        left.move(screen.left() + 8, screen.top() + 30)
        right.move(screen.left() + 16 + width, screen.top() + 30)
    for w in (left, right):
        w.resize(width, height)
        w.show()
    return left, right


def quiet_offscreen_notes() -> None:
    """Drop the offscreen platform's "This plugin does not support raise()" notes; any
    other Qt message is printed as usual."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, context: Any, message: str) -> None:
        if not message.startswith("This plugin does not support"):
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def on_ctrl_c(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on Ctrl+C (and on SIGTERM where there is one), so that the demo
    shuts down in order: windows, clients, then the server. Returns a function that restores
    the previous handlers.

    Qt's event loop runs in C++, and Python only runs a signal handler when Python code
    runs: a timer gives it that chance every 200 ms.
    """
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(200)
    signals = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") and sys.platform != "win32" else [])
    previous = {sig: signal.signal(sig, lambda *_: callback()) for sig in signals}

    def restore() -> None:
        timer.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


async def interactive(url: str, data: Path, fresh: bool) -> int:
    from .seed import seed

    async with devices(url, data) as (a, b):
        if fresh:
            seed(a)
        left, right = windows(a, b, data, fit_screen=True)
        loop = asyncio.get_running_loop()
        closed = [loop.create_future() for _ in (left, right)]
        for window, future in zip((left, right), closed):
            window.closed.connect(lambda f=future: f.done() or f.set_result(None))
        restore = on_ctrl_c(lambda: [w.close() for w in (left, right)])
        print(HELP.format(data=data))
        try:
            await asyncio.gather(*closed)
        finally:
            restore()
        print("Windows closed: closing the clients…")
    return 0


async def scripted(url: str, data: Path, out: Path, errors: list[BaseException]) -> int:
    from .scenario import Story, StoryFailed

    out.mkdir(parents=True, exist_ok=True)
    async with devices(url, data) as (a, b):
        left, right = windows(a, b, data, fit_screen=False)
        story = Story(left, right, url, out)
        task = asyncio.ensure_future(story.run())
        restore = on_ctrl_c(task.cancel)
        try:
            await task
        except StoryFailed as exc:
            print(f"\nFAILED: {exc}")
            return 1
        except asyncio.CancelledError:
            print("\nInterrupted.")
            return 130
        except Exception:
            print("\nFAILED with an unexpected error:")
            traceback.print_exc()
            return 1
        finally:
            restore()
            left.close()
            right.close()
    if errors:
        print(f"\nFAILED: {len(errors)} error(s) were reported while the story ran (first: {errors[0]!r})")
        return 1
    print("\nOK: both devices and the server agree; the conflict was resolved by the user in the dialog.")
    print(f"Screenshots: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace", line_buffering=True)  # type: ignore[union-attr]
    headless = args.headless
    if not headless and not has_display():
        print("No display found: running the scripted demo (--headless)")
        headless = True
    problem = None if headless else qt_window_problem()
    if problem:
        print(f"Qt cannot open windows on this display: {problem}")
        if sys.platform == "linux":
            print("  (Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0)")
        print("Running the scripted demo (--headless) instead.")
        headless = True
    if headless:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before the QApplication exists
    data: Path = args.data.resolve()
    out: Path = (args.out or data / "screenshots").resolve()
    data.mkdir(parents=True, exist_ok=True)
    # The scripted story starts from empty databases every time; so does a first run (and one
    # whose server database was removed: devices and server must come from the same history).
    fresh = headless or args.fresh or not (data / "server.db").exists()
    if fresh:
        reset(data)

    # Imported here: QT_QPA_PLATFORM must be set before Qt loads.
    from PySide6.QtWidgets import QApplication

    import atoma.qt

    from .server_process import ServerError, ServerProcess

    print(f"Starting the reference server (SQLite: {data / 'server.db'})…")
    server = ServerProcess(data / "server.db", data / "server.log")
    try:
        try:
            url = server.start()
        except ServerError as exc:
            print(f"Could not start the server: {exc}")
            return 1
        print(f"Server listening on {url} (log: {server.log})")
        app = QApplication.instance() or QApplication([sys.argv[0]])
        app.setApplicationName("Atoma Tasks")
        errors: list[BaseException] = []
        if headless:
            quiet_offscreen_notes()
            code = atoma.qt.run(scripted, url, data, out, errors, app=app, sink=errors.append, quit_on_last_window_closed=False)
        else:
            code = atoma.qt.run(interactive, url, data, fresh, app=app, quit_on_last_window_closed=False)
        return 1 if code is None else code
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130
    finally:
        server.stop()
        print("Server stopped.")


if __name__ == "__main__":
    sys.exit(main())
