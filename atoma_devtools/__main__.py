"""``python -m atoma_devtools PATH.db`` (or ``atoma-devtools PATH.db``): inspect a client
database read-only, next to the running app that syncs it, refreshing as it changes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="atoma-devtools", description="Open an Atoma client database read-only in the inspector.")
    p.add_argument("path", help="the client database file (app.db)")
    p.add_argument("--schema", metavar="MODULE:ATTR", help="the application's atoma.Schema (default: inferred from the file)")
    p.add_argument("--poll-ms", type=int, default=300, help="how often to check for changes by other processes (default 300)")
    p.add_argument("--panel", help="panel to show first (Stores, Indexes, Outbox, Sync, Conflicts, History, Remote cache, Events)")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit (for docs and CI)")
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help="close after this many seconds")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from atoma.errors import AtomaError

    from .inspector import Inspector
    from .readonly import DataVersionWatcher, ReadOnlyClient, load_schema

    try:
        schema = load_schema(args.schema) if args.schema else None
        client = ReadOnlyClient(args.path, schema).open()
    except (AtomaError, ValueError, TypeError, ImportError, AttributeError) as exc:
        print(f"atoma-devtools: {exc}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Atoma Inspector")
    win = Inspector(client, readonly=True)
    watcher = DataVersionWatcher(client, args.poll_ms, win)
    watcher.changed.connect(win.mark_all_dirty)
    if args.panel:
        try:
            win.show_panel(args.panel)
        except KeyError:
            print(f"atoma-devtools: no panel {args.panel!r}", file=sys.stderr)
    win.show()
    win.refresh_now()
    if args.screenshot:
        def grab() -> None:
            win.refresh_now()
            ok = win.grab().save(args.screenshot)
            print(f"atoma-devtools: screenshot {'written to' if ok else 'FAILED'} {args.screenshot}")
            win.close()
            app.quit()

        QTimer.singleShot(50, grab)
    elif args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), lambda: (win.close(), app.quit()))
    try:
        return app.exec()
    finally:
        watcher.stop()
        win.shutdown()
        client.close_sync()


if __name__ == "__main__":
    sys.exit(main())
