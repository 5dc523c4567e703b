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
resources, "Clear" all of them (and resets the counters); stale and fetching rows they touch
are forgotten too (a request in flight is left to finish, and its answer is cached).

Storing an answer emits no event, and ages move with time anyway: while the panel is
visible and lists something it re-reads the cache every :data:`TICK_MS` (an idle or hidden
panel costs nothing). Ages of stored answers come from the cache's clock, times of events
from the client's (both injected in tests).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec
from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .._format import fmt_ms
from ..master_detail import MasterDetail, Row
from .base import Context, Panel

__all__ = ["CachePanel", "TICK_MS"]

_dec = msgspec.json.Decoder()
_MAX_TRACKED = 500  # keys remembered from events (fetching / stale), oldest forgotten first
TICK_MS = 1000  # how often a visible, non-empty panel re-reads the cache (ages, loads finished)
_AGE, _EXPIRY = 6, 7  # the columns that change with time alone


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 hit``, ``2 hits``, ``1 miss``, ``0 misses``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


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


class _CacheRow(Row):
    """A row whose age and expiry cells are not part of its identity: ticking them must not
    re-render the detail pane (which would reset the tree and the JSON scroll position every
    second); the panel repaints those two columns itself."""

    __slots__ = ()

    def same(self, other: Row) -> bool:
        if self is other:
            return True
        # age and expiry are the last two cells
        return self.cells[:_AGE] == other.cells[:_AGE] and self.status == other.status and self.meta == other.meta and self.data == other.data


class CachePanel(Panel):
    title = "Remote cache"
    event_types = frozenset({"cache.hit", "cache.miss", "cache.evicted", "pull.applied"})

    def __init__(self, ctx: Context, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.cache = ctx.cache if ctx.cache is not None else getattr(self.client, "remote_cache", None)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.md = MasterDetail(
            ["resource", "query", "mode", "status", "observers", "rows", "age", "expiry"],
            status_column=3,
            statuses=("fetching", "stale", "fresh"),
        )
        # Show the columns that move with time beside the status, in sight without scrolling
        # sideways (the model's column order stays, and a saved header state still wins).
        hh = self.md.view.horizontalHeader()
        hh.moveSection(hh.visualIndex(_AGE), 4)
        hh.moveSection(hh.visualIndex(_EXPIRY), 5)
        self.md.splitter.setSizes([640, 260])  # the list needs the room; a saved layout wins
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
        # Keys whose rows a person removed (key -> client ms): their queued expiry is ignored.
        self._forgotten: OrderedDict[Any, int] = OrderedDict()
        # Fresh entries listed by the last refresh (key -> stored_at), to see them expire.
        self._listed: dict[Any, float] = {}
        # Answers as builtins, per (key, stored_at): converted once, not on every tick.
        self._answers: dict[tuple[Any, float], Any] = {}
        self.ticker = QTimer(self)
        self.ticker.setInterval(TICK_MS)
        self.ticker.timeout.connect(self._tick)

    def _now_ms(self) -> int:
        # The client's clock (injectable), the one events' ``at_ms`` come from.
        return int(self.client._now_ms())

    def on_events(self, events: list[Any], lost: int = 0) -> None:
        from atoma.remote_cache import CacheKey

        now = self._now_ms()
        for ev in events:
            tag = ev.__struct_config__.tag
            if tag == "cache.miss":
                key = CacheKey(ev.resource, ev.params, ev.mode)
                self._tracked.pop(key, None)
                self._tracked[key] = ("fetching", ev.at_ms or now)
            elif tag == "cache.evicted":
                key = CacheKey(ev.resource, ev.params, ev.mode)
                if ev.reason == "expired" and self._tracked.get(key, ("",))[0] == "stale":
                    continue  # a refresh already saw it expire (and when)
                forgotten = self._forgotten.get(key)
                if forgotten is not None and (ev.at_ms or now) <= forgotten:
                    continue  # swept before the person removed its row: keep it removed
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
            self._update_ticker(0)
            return
        now_c = cache.clock()
        now_ms = self._now_ms()
        # Answers listed last time that have outlived stale_time are about to be swept (by
        # stats() below): show them as stale now, when they expired, rather than dropping
        # the row until the cache.evicted events arrive on the inspector's next drain.
        for key, stored_at in self._listed.items():
            left = stored_at + cache.stale_time - now_c
            if left <= 0 and key not in self._tracked and cache.peek(key) is None:
                self._tracked[key] = ("stale", now_ms + int(left * 1000))
        s = self.stats()
        rate = s["hit_rate"]
        self.summary.setText(
            f"<b>Hit rate:</b> {'—' if rate is None else f'{rate:.0%}'} "
            f"({_count(s['hits'], 'hit')}, {s['joined']:,} shared in flight, {_count(s['misses'], 'miss', 'misses')}) · "
            f"<b>entries:</b> {s['entries']:,} of at most {cache.max_entries:,} · <b>fresh for</b> {_secs(cache.stale_time)} · "
            f"<b>in flight:</b> {s['in_flight']:,} · <b>evicted:</b> {s['evictions']:,} over the cap, {s['expired']:,} expired"
        )
        rows: list[Row] = []
        listed: dict[Any, float] = {}
        answers: dict[tuple[Any, float], Any] = {}
        for e in cache.entries():
            listed[e.key] = e.stored_at
            self._tracked.pop(e.key, None)  # stored again: no longer stale, its load finished
            status = "fetching" if cache.in_flight(e.key) else "fresh"
            age = now_c - e.stored_at
            memo = (e.key, e.stored_at)
            answer = self._answers.get(memo)
            if answer is None:
                answer = msgspec.to_builtins(e.value)
            answers[memo] = answer
            rows.append(self._row(e.key, status, e.value, answer, age, cache.stale_time - age))
        self._listed, self._answers = listed, answers
        for key, (status, at) in list(reversed(self._tracked.items())):
            if status == "fetching" and not cache.in_flight(key):
                del self._tracked[key]  # finished (stored, so listed above) or failed
                continue
            shown = "fetching" if cache.in_flight(key) else status
            rows.append(self._row(key, shown, None, None, None, None, seen_ms=at, now_ms=now_ms, expired=status == "stale"))
        self.md.set_rows(rows)
        if rows:
            # Same rows, newer ages: _CacheRow.same ignores these two columns, so repaint them.
            m = self.md.model
            m.dataChanged.emit(m.index(0, _AGE), m.index(len(rows) - 1, _EXPIRY))
        # A request in flight with no row (its row was removed) still ends with no event.
        self._update_ticker(len(rows) + s["in_flight"])

    def _row(
        self, key: Any, status: str, value: Any, answer: Any, age: float | None, left: float | None,
        *, seen_ms: int | None = None, now_ms: int = 0, expired: bool = False,
    ) -> Row:
        items = getattr(value, "items", None)
        n = len(items) if items is not None else None
        params = _params_text(key.params)
        # expiry: "in 18.0 s" while fresh, "2.0 s ago" once expired (the answer, and its age, gone)
        age_text = None if age is None else _secs(age)
        if left is not None:
            expiry = f"in {_secs(max(left, 0))}"
        elif expired and seen_ms:
            expiry = f"{_secs(max(0, now_ms - seen_ms) / 1000)} ago"
        else:
            expiry = None
        data: dict[str, Any] = {"resource": key.resource, "params": _dec.decode(key.params), "mode": key.mode, "status": status}
        if value is not None:
            data["answer"] = answer
        # Metadata holds what does not change with time (the table's columns tick).
        meta: dict[str, Any] = {"resource": key.resource, "mode": key.mode, "params": key.params, "rows": n}
        if value is not None:
            meta["has next page"] = getattr(value, "has_next", None)
        elif expired:
            meta["expired at"] = fmt_ms(seen_ms) if seen_ms else None
        else:
            meta["first seen"] = fmt_ms(seen_ms) if seen_ms else None
        return _CacheRow(
            key,
            [key.resource, params, key.mode, status, self.cache.observers(key), n, age_text, expiry],
            data,
            status=status,
            meta=meta,
        )

    # -- the ticker: ages move and loads finish without an event ---------------------------

    def _update_ticker(self, things: int) -> None:
        if things and self.isVisible() and self.cache is not None:
            if not self.ticker.isActive():
                self.ticker.start()
        else:
            self.ticker.stop()

    def _tick(self) -> None:
        if not self.isVisible() or not self.client.is_open:
            self.ticker.stop()
            return
        self.do_refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.cache is not None and (len(self.cache) or self._tracked or self.cache.stats().in_flight):
            self.ticker.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.ticker.stop()
        if self.cache is not None and (self._listed or self._tracked):
            self.dirty = True  # its ages are out of date once hidden: refresh when shown

    def close_panel(self) -> None:
        self.ticker.stop()

    # -- actions ------------------------------------------------------------------------------

    def _resources(self, rows: list[Row]) -> list[str]:
        return list(dict.fromkeys(r.key.resource for r in rows))

    def _forget(self, keys: list[Any]) -> tuple[int, int]:
        """Drop ``keys`` from the rows learnt from events; returns how many stale rows were
        dropped and how many of the keys have a request in flight. Such a request is not
        cancelled (the cache has no way to): its answer is cached, and listed, when it arrives."""
        stale = flying = 0
        now = self._now_ms()
        for key in keys:
            self._forgotten.pop(key, None)
            self._forgotten[key] = now  # an expiry event still queued must not bring it back
            self._listed.pop(key, None)  # gone on purpose: not to be shown as expired
            seen = self._tracked.pop(key, None)
            if self.cache.in_flight(key):
                flying += 1
            elif seen is not None and seen[0] == "stale":
                stale += 1
        while len(self._forgotten) > _MAX_TRACKED:
            self._forgotten.popitem(last=False)
        return stale, flying

    @staticmethod
    def _forgot_text(stale: int, flying: int) -> str:
        parts = []
        if stale:
            parts.append(f"forgot {stale} stale row{'s' if stale != 1 else ''}")
        if flying:
            parts.append(f"{flying} request{'s' if flying != 1 else ''} in flight left to finish (the answer will be cached)")
        return "".join(f"; {p}" for p in parts)

    def remove(self, rows: list[Row]) -> None:
        """Drop the selected cached answers (and forget the selected stale / fetching rows)."""
        keys = [r.key for r in rows]
        n = sum(self.cache.remove(k) for k in keys)
        stale, flying = self._forget(keys)
        self.ctx.report(f"removed {n} cached answer{'s' if n != 1 else ''}" + self._forgot_text(stale, flying))
        self.do_refresh()

    def invalidate(self, rows: list[Row]) -> None:
        """Drop the cached answers of the selected rows' resources (stale / fetching rows of
        those resources are forgotten too)."""
        texts = []
        for res in self._resources(rows):
            n = self.cache.invalidate(res)
            stale, flying = self._forget([k for k in dict.fromkeys((*self._tracked, *self._listed)) if k.resource == res])
            texts.append(f"invalidated {n} cached answer{'s' if n != 1 else ''} of {res}" + self._forgot_text(stale, flying))
        self.ctx.report(" · ".join(texts))
        self.do_refresh()

    def clear(self) -> None:
        keys = list(dict.fromkeys((*self._tracked, *self._listed)))
        self.ctx.run_sync(self.cache.clear, "clear cache")
        self._forget(keys)
        self._tracked.clear()
        self._listed.clear()
        self.do_refresh()

    def badge(self) -> str:
        c = self.cache
        n = len(c) if c is not None else 0
        return f"{n}" if n else ""
