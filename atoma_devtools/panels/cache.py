"""Remote cache: entries with status, observers, age and expiry; hit rate; invalidate, remove, clear.

The cache lives in :mod:`atoma.qt` (the remote-query cache behind ``LiveQuery``/``LiveOne``).
The panel reads it through a small duck-typed surface -- ``stats()`` and ``entries()`` (or
``values()``), ``invalidate(key)``, ``remove(key)``, ``clear()`` -- so it works with whatever
cache object the application passes to the inspector, and counts ``cache.hit`` /
``cache.miss`` / ``cache.evicted`` events itself when the cache keeps no statistics.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .._format import fmt_age, fmt_ms, to_plain
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["CachePanel", "find_cache"]


def find_cache(client: Any) -> Any:
    """The remote cache attached to ``client`` by :mod:`atoma.qt`, if any."""
    for name in ("remote_cache", "cache", "_remote_cache"):
        c = getattr(client, name, None)
        if c is not None and hasattr(c, "clear"):
            return c
    try:  # atoma.qt may keep one cache per client
        from atoma import qt as atoma_qt  # noqa: PLC0415 - optional, in progress elsewhere

        getter = getattr(atoma_qt, "remote_cache_for", None) or getattr(atoma_qt, "cache_for", None)
        if getter is not None:
            return getter(client)
    except Exception:  # noqa: BLE001 - atoma.qt not built yet or no cache
        pass
    return None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _entries(cache: Any) -> list[Any]:
    for name in ("entries", "values"):
        fn = getattr(cache, name, None)
        if callable(fn):
            out = fn()
            return list(out.values() if isinstance(out, dict) else out)
    return []


class CachePanel(Panel):
    title = "Remote cache"
    event_types = frozenset({"cache.hit", "cache.miss", "cache.evicted", "cache.fetched", "cache.invalidated", "store.changed", "pull.applied"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.cache = ctx.cache if ctx.cache is not None else find_cache(self.client)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.md = MasterDetail(
            ["key", "resource", "status", "observers", "rows", "age", "expires", "hits"], status_column=2, statuses=("fetching", "stale", "fresh", "error")
        )
        has = self.cache is not None and not ctx.readonly
        self.md.add_action("Invalidate", self.invalidate, enabled=lambda rows: has and bool(rows),
                           tooltip="Mark stale: observed entries refetch, others on next use")
        self.md.add_action("Remove", self.remove, enabled=lambda rows: has and bool(rows))
        self.md.add_action("Clear cache", lambda _r: self.clear(), enabled=lambda _r: has)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.md)
        self.hits = self.misses = self.evicted = 0

    def on_event(self, event: Any) -> None:
        tag = event.__struct_config__.tag
        if tag == "cache.hit":
            self.hits += 1
        elif tag == "cache.miss":
            self.misses += 1
        elif tag == "cache.evicted":
            self.evicted += 1

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {}
        fn = getattr(self.cache, "stats", None)
        if callable(fn):
            stats = dict(to_plain(fn()) or {})
        hits = stats.get("hits", self.hits)
        misses = stats.get("misses", self.misses)
        total = hits + misses
        stats.setdefault("hits", hits)
        stats.setdefault("misses", misses)
        stats.setdefault("evicted", self.evicted)
        stats["hit_rate"] = stats.get("hit_rate", hits / total if total else None)
        return stats

    def refresh(self) -> None:
        if self.cache is None:
            self.summary.setText(
                "ⓘ No remote cache is attached. Pass one with <code>Inspector(client, cache=...)</code> "
                "(the atoma.qt remote-query cache used by LiveQuery / LiveOne); hits and misses are still counted from events: "
                f"{self.hits} hits, {self.misses} misses."
            )
            self.md.set_rows([])
            return
        s = self.stats()
        rate = s.get("hit_rate")
        entries = _entries(self.cache)
        self.summary.setText(
            f"<b>Hit rate:</b> {'—' if rate is None else f'{rate:.0%}'} ({s.get('hits', 0):,} hits, {s.get('misses', 0):,} misses) · "
            f"<b>entries:</b> {len(entries):,}"
            + (f" of at most {s['max_entries']:,}" if s.get("max_entries") else "")
            + f" · <b>evicted:</b> {s.get('evicted', 0):,}"
        )
        now = int(time.time() * 1000)
        self.md.set_rows([self._row(e, now) for e in entries])

    @staticmethod
    def _row(e: Any, now: int) -> Row:
        key = _get(e, "key")
        status = str(_get(e, "status", "fresh"))
        fetched = _get(e, "fetched_at_ms")
        expires = _get(e, "expires_at_ms")
        rows = _get(e, "rows")
        if rows is None:
            items = _get(e, "items")
            rows = len(items) if items is not None else None
        data = to_plain(e)
        key_text = key if isinstance(key, str) else to_plain(key)
        return Row(
            key_text if isinstance(key_text, str) else str(key_text),
            [key_text, _get(e, "resource"), status, _get(e, "observers", 0), rows, fmt_age(fetched, now), fmt_age(expires, now), _get(e, "hits")],
            data,
            status=status,
            meta={"fetched": fmt_ms(fetched), "expires": fmt_ms(expires), "last error": _get(e, "error")},
        )

    def _key_of(self, row: Row) -> Any:
        d = row.data
        return d.get("key", row.key) if isinstance(d, dict) else row.key

    def invalidate(self, rows: list[Row]) -> None:
        for r in rows:
            self.ctx.run_sync(self.cache.invalidate, f"invalidate {r.key}", self._key_of(r))
        self.do_refresh()

    def remove(self, rows: list[Row]) -> None:
        for r in rows:
            self.ctx.run_sync(self.cache.remove, f"remove {r.key}", self._key_of(r))
        self.do_refresh()

    def clear(self) -> None:
        self.ctx.run_sync(self.cache.clear, "clear cache")
        self.do_refresh()

    def badge(self) -> str:
        return ""
