"""Remote cache: ``client.remote_cache`` entries with status, age and expiry; hit rate;
invalidate a resource's entries or clear the cache.

The cache (:class:`atoma.remote_cache.RemoteCache`) keeps the answers of remote queries
(``await store.query(..., cache=True)``, ``LiveQuery`` / ``LiveOne`` remote reads) for
``stale_time`` seconds. The panel shows:

* **fresh** -- a stored answer younger than ``stale_time`` (``entries()``, read with
  ``peek`` semantics: looking never counts a hit or reorders the LRU);
* **fetching** -- a request in flight for a key (learnt from ``cache.miss`` events and
  confirmed with ``in_flight(key)``), with or without an older answer;
* **stale** -- an answer that expired (``cache.evicted`` with reason ``expired``): the next
  read of that query goes to the server.

"observers" counts the live objects (``LiveQuery`` / ``LiveOne``) showing a query.
"Remove" drops the selected answers, "Invalidate" every answer of the selected rows'
resources, "Clear" all of them (and resets the counters).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import msgspec
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .._format import fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["CachePanel"]

_dec = msgspec.json.Decoder()
_MAX_TRACKED = 500  # keys remembered from events (fetching / stale), oldest forgotten first


def _secs(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _params_text(params: str) -> str:
    try:
        p = _dec.decode(params)
    except msgspec.DecodeError:
        return params
    if not isinstance(p, dict):
        return params
    parts = []
    for k in ("where", "orderBy", "limit", "after", "before", "fields"):
        v = p.get(k)
        if v in (None, {}, []):
            continue
        if k == "orderBy" and isinstance(v, list):
            text = ", ".join(f"{o.get('field')} {o.get('direction', 'asc')}" for o in v if isinstance(o, dict))
            parts.append(f"order by {text}")
        else:
            parts.append(f"{k}={msgspec.json.encode(v).decode()}")
    return " · ".join(parts) or "(all)"


class CachePanel(Panel):
    title = "Remote cache"
    event_types = frozenset({"cache.hit", "cache.miss", "cache.evicted", "pull.applied"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.cache = ctx.cache if ctx.cache is not None else getattr(self.client, "remote_cache", None)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.md = MasterDetail(
            ["resource", "query", "mode", "status", "observers", "rows", "age", "expires in"],
            status_column=3,
            statuses=("fetching", "stale", "fresh"),
        )
        has = self.cache is not None and not ctx.readonly
        self.remove_button = self.md.add_action(
            "Remove", self.remove, enabled=lambda rows: has and bool(rows),
            tooltip="Drop the selected cached answers (the next read of those queries asks the server)",
        )
        self.invalidate_button = self.md.add_action(
            "Invalidate", self.invalidate, enabled=lambda rows: has and bool(rows),
            tooltip="Drop the cached answers of the selected rows' resources (the next read asks the server)",
        )
        self.clear_button = self.md.add_action("Clear cache", lambda _r: self.clear(), enabled=lambda _r: has,
                                               tooltip="Drop every cached answer and reset the counters")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.md)
        # Keys seen in events: CacheKey -> ("fetching" | "stale", client ms when seen)
        self._tracked: OrderedDict[Any, tuple[str, int]] = OrderedDict()

    def on_events(self, events: list[Any], lost: int = 0) -> None:
        from atoma.remote_cache import CacheKey

        now = int(time.time() * 1000)
        for ev in events:
            tag = ev.__struct_config__.tag
            if tag == "cache.miss":
                key = CacheKey(ev.resource, ev.params, ev.mode)
                self._tracked.pop(key, None)
                self._tracked[key] = ("fetching", now)
            elif tag == "cache.evicted":
                key = CacheKey(ev.resource, ev.params, ev.mode)
                self._tracked.pop(key, None)
                if ev.reason == "expired":
                    self._tracked[key] = ("stale", ev.at_ms or now)
        while len(self._tracked) > _MAX_TRACKED:
            self._tracked.popitem(last=False)

    def stats(self) -> dict[str, Any]:
        """``client.remote_cache.stats()`` as a dict, plus ``hit_rate`` (None before any read)."""
        s = msgspec.structs.asdict(self.cache.stats())
        reads = s["hits"] + s["joined"] + s["misses"]
        s["hit_rate"] = (s["hits"] + s["joined"]) / reads if reads else None
        return s

    def refresh(self) -> None:
        cache = self.cache
        if cache is None:
            self.summary.setText("ⓘ This client has no remote cache.")
            self.md.set_rows([])
            return
        s = self.stats()
        rate = s["hit_rate"]
        self.summary.setText(
            f"<b>Hit rate:</b> {'—' if rate is None else f'{rate:.0%}'} "
            f"({s['hits']:,} hits, {s['joined']:,} shared in flight, {s['misses']:,} misses) · "
            f"<b>entries:</b> {s['entries']:,} of at most {cache.max_entries:,} · <b>fresh for</b> {_secs(cache.stale_time)} · "
            f"<b>in flight:</b> {s['in_flight']:,} · <b>evicted:</b> {s['evictions']:,} over the cap, {s['expired']:,} expired"
        )
        now_c = cache.clock()
        now_ms = int(time.time() * 1000)
        rows: list[Row] = []
        seen = set()
        for e in cache.entries():
            seen.add(e.key)
            status = "fetching" if cache.in_flight(e.key) else "fresh"
            age = now_c - e.stored_at
            rows.append(self._row(e.key, status, e.value, age, cache.stale_time - age, e.stored_at))
        for key, (status, at) in reversed(self._tracked.items()):
            if key in seen:
                continue
            if status == "fetching" and not cache.in_flight(key):
                continue  # finished (stored, so listed above) or failed
            rows.append(self._row(key, "fetching" if cache.in_flight(key) else status, None, None, None, None, seen_ms=at, now_ms=now_ms))
        self.md.set_rows(rows)

    def _row(
        self, key: Any, status: str, value: Any, age: float | None, left: float | None, stored_at: float | None,
        *, seen_ms: int | None = None, now_ms: int = 0,
    ) -> Row:
        items = getattr(value, "items", None)
        n = len(items) if items is not None else None
        params = _params_text(key.params)
        if age is not None:
            age_text = _secs(age)
        elif status == "stale" and seen_ms:
            age_text = f"expired {_secs(max(0, now_ms - seen_ms) / 1000)} ago"
        else:
            age_text = None
        data: dict[str, Any] = {"resource": key.resource, "params": _dec.decode(key.params), "mode": key.mode, "status": status}
        if value is not None:
            data["answer"] = msgspec.to_builtins(value)
        return Row(
            key,
            [key.resource, params, key.mode, status, self.cache.observers(key), n, age_text, None if left is None else _secs(max(left, 0))],
            data,
            status=status,
            meta={
                "resource": key.resource,
                "mode": key.mode,
                "params": key.params,
                "rows": n,
                "age": age_text,
                "expires in": None if left is None else _secs(max(left, 0)),
                "has next page": getattr(value, "has_next", None),
                "first seen": fmt_ms(seen_ms) if seen_ms else None,
            },
        )

    def _resources(self, rows: list[Row]) -> list[str]:
        return list(dict.fromkeys(r.key.resource for r in rows))

    def remove(self, rows: list[Row]) -> None:
        """Drop the selected cached answers."""
        n = sum(self.cache.remove(r.key) for r in rows)
        self.ctx.report(f"removed {n} cached answer{'s' if n != 1 else ''}")
        self.do_refresh()

    def invalidate(self, rows: list[Row]) -> None:
        """Drop the cached answers of the selected rows' resources."""
        for res in self._resources(rows):
            n = self.cache.invalidate(res)
            self.ctx.report(f"invalidated {n} cached answer{'s' if n != 1 else ''} of {res}")
        self.do_refresh()

    def clear(self) -> None:
        self.ctx.run_sync(self.cache.clear, "clear cache")
        self._tracked.clear()
        self.do_refresh()

    def badge(self) -> str:
        c = self.cache
        n = len(c) if c is not None else 0
        return f"{n}" if n else ""
