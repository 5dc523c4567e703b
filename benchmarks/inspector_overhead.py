"""What an open Inspector costs the app it inspects (offscreen, bounded, about 2 minutes).

1. The app writes 1,000 entities per second (10 every 10 ms from a QTimer, one durable
   transaction each) on one client and file, in blocks alternating between no inspector and
   an inspector open on one panel (ABBA, so the drift of a growing file cancels out). Prints the time per write, events/s, how many coalesced
   refreshes ran and their share of wall time, and the throughput the app could sustain
   (writes + the inspector's refreshes) -- with the drop against no inspector. Target < 10 %.
2. Stress: the app writes as fast as it can, letting the event loop run every 20 writes.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/inspector_overhead.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

import atoma  # noqa: E402
from atoma_devtools import Inspector  # noqa: E402


class Task(atoma.Entity):
    title: str
    done: bool = False
    priority: int = 0
    project_id: str | None = None


SCHEMA = atoma.Schema(
    [atoma.Resource("tasks", Task, indexes=[atoma.Index("done"), atoma.Index("priority"), atoma.Index("project_id")])]
)
PANELS = ("Stores", "Outbox", "Events", "History", "Sync")


def _client(tmp: str, name: str) -> atoma.Client:
    client = atoma.Client(os.path.join(tmp, f"{name}.db"), SCHEMA).open()
    client.store("tasks").add_many([{"title": f"seed {i}", "priority": i % 5} for i in range(2000)])
    return client


def _inspector(app: QApplication, client: atoma.Client, tmp: str, panel: str) -> Inspector:
    settings = QSettings(os.path.join(tmp, "inspector.ini"), QSettings.Format.IniFormat)
    win = Inspector(client, settings=settings)
    win.resize(1100, 700)
    win.show()
    win.show_panel(panel)
    app.processEvents()
    return win


def throughput(app: QApplication, tmp: str, panel: str | None, seconds: float, tag: str) -> float:
    """Entities per second written one by one with the event loop turning every 20 writes."""
    client = _client(tmp, tag)
    win = _inspector(app, client, tmp, panel) if panel else None
    tasks = client.store("tasks")
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        for _ in range(20):
            tasks.add({"title": f"task {n}", "priority": n % 5})
            n += 1
        app.processEvents()
    rate = n / (time.perf_counter() - t0)
    if win is not None:
        win.shutdown()
        win.close()
        win.deleteLater()
    client.close_sync()
    app.processEvents()
    return rate


def alternating(app: QApplication, tmp: str, panel: str, blocks: int, block_s: float) -> dict[str, float]:
    """1,000 entities/s on ONE client and file, in blocks that alternate between no inspector
    and an inspector open on ``panel`` (ABBA order). Durable write times drift as the file
    and its WAL grow; alternating on the same file cancels that drift, which comparing
    separate runs on separate files cannot. Returns capacity with and without, and the
    inspector's refresh share."""
    client = _client(tmp, f"alt-{panel}")
    tasks = client.store("tasks")
    acc = {m: {"n": 0, "write_s": 0.0, "wall": 0.0, "refresh_s": 0.0, "refreshes": 0} for m in ("base", "insp")}
    count = [0]
    for i in range(blocks):
        for mode in (("base", "insp") if i % 2 == 0 else ("insp", "base")):
            win = _inspector(app, client, tmp, panel) if mode == "insp" else None
            r0, s0 = (win.refreshes, win.refresh_seconds) if win else (0, 0.0)
            a = acc[mode]

            def tick(a: dict[str, float] = a) -> None:
                t = time.perf_counter()
                for _ in range(10):
                    tasks.add({"title": f"alt {count[0]}"})
                    count[0] += 1
                    a["n"] += 1
                a["write_s"] += time.perf_counter() - t

            timer = QTimer()
            timer.setInterval(10)
            timer.timeout.connect(tick)
            t0 = time.perf_counter()
            timer.start()
            while time.perf_counter() - t0 < block_s:
                app.processEvents()
                time.sleep(0.0005)
            timer.stop()
            a["wall"] += time.perf_counter() - t0
            if win is not None:
                a["refresh_s"] += win.refresh_seconds - s0
                a["refreshes"] += win.refreshes - r0
                win.shutdown()
                win.close()
                win.deleteLater()
            app.processEvents()
    client.close_sync()
    out = {}
    for m, a in acc.items():
        out[f"{m}_capacity"] = a["n"] / (a["write_s"] + a["refresh_s"])
        out[f"{m}_write_us"] = 1e6 * a["write_s"] / max(a["n"], 1)
    insp = acc["insp"]
    out["refresh_share"] = insp["refresh_s"] / insp["wall"]
    out["refreshes_per_s"] = insp["refreshes"] / insp["wall"]
    return out


def main() -> int:
    quick = "--quick" in sys.argv
    seconds = 1.5 if quick else 2.0
    rounds = 2 if quick else 5
    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="atoma-inspector-bench-") as tmp:
        throughput(app, tmp, None, 0.5, "warmup")
        blocks = 4 if quick else 10
        print(
            f"1. The app writes 1,000 entities/s (one per transaction) on one client and file, in {blocks} pairs of "
            f"0.5 s blocks alternating without / with the inspector open (ABBA):"
        )
        for p in PANELS:
            r = alternating(app, tmp, p, blocks, 0.5)
            ratio = r["insp_capacity"] / r["base_capacity"]
            drop = 1 - ratio
            worst = max(worst, drop)
            print(
                f"  inspector {p:<7}: {r['base_write_us']:6.1f} -> {r['insp_write_us']:6.1f} us per write; "
                f"{r['refreshes_per_s']:4.1f} refreshes/s taking {r['refresh_share']:4.1%} of wall; "
                f"sustainable {r['base_capacity']:6.0f} -> {r['insp_capacity']:6.0f} entities/s, ratio {ratio:.3f}, drop {drop:5.1%}"
            )
        print(f"2. Stress: the app writes as fast as it can, {seconds / 1.5:g} s runs (refresh budget: <= 2 % of the GUI thread):")
        base = statistics.median(throughput(app, tmp, None, seconds / 1.5, f"fb{r}") for r in range(rounds))
        print(f"  no inspector    : {base:8.0f} entities/s")
        for p in PANELS:
            rate = statistics.median(throughput(app, tmp, p, seconds / 1.5, f"f{p}{r}") for r in range(rounds))
            print(f"  inspector {p:<7}: {rate:8.0f} entities/s  ratio {rate / base:.3f}  drop {1 - rate / base:6.1%}")
    print(f"worst drop at 1,000 entities/s: {worst:.1%} (target < 10 %): {'OK' if worst < 0.10 else 'OVER TARGET'}")
    return 0 if worst < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
