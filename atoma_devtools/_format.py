"""Small pure helpers shared by the panels: JSON text, times, status glyphs and colours.

No Qt widgets here (only the colour names), so the helpers are cheap to import and test.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

__all__ = ["STATUS_STYLE", "status_style", "to_plain", "json_text", "compact_json", "fmt_ms", "fmt_age", "fmt_bytes"]

_enc = msgspec.json.Encoder(order="sorted")

# Every status colour is paired with a glyph and the status word itself (accessibility: the
# colour is never the only carrier of meaning). Colours are mid-tone so they read on both
# light and dark palettes.
STATUS_STYLE: dict[str, tuple[str, str]] = {
    # outbox intents
    "pending": ("◷", "#b7791f"),
    "in_flight": ("⇡", "#2b6cb0"),
    "acked": ("✓", "#2f855a"),
    "conflicted": ("⚠", "#c05621"),
    "rejected": ("✕", "#c53030"),
    # conflicts
    "open": ("⚠", "#c05621"),
    "resolved": ("✓", "#2f855a"),
    # history steps
    "done": ("✓", "#2f855a"),
    "undone": ("↶", "#718096"),
    # remote cache
    "fetching": ("⟳", "#2b6cb0"),
    "stale": ("◔", "#b7791f"),
    "fresh": ("●", "#2f855a"),
    "error": ("✕", "#c53030"),
    # sync state
    "live": ("●", "#2f855a"),
    "connecting": ("…", "#2b6cb0"),
    "backoff": ("↻", "#c53030"),
    "offline": ("○", "#718096"),
    "paused": ("‖", "#b7791f"),
    # entities
    "synced": ("✓", "#2f855a"),
    "local": ("✎", "#b7791f"),
    "deleted": ("∅", "#718096"),
}


def status_style(status: str) -> tuple[str, str]:
    """``(glyph, colour)`` for a status word; unknown statuses get a neutral dot."""
    return STATUS_STYLE.get(status, ("•", "#4a5568"))


def to_plain(value: Any) -> Any:
    """Structs, tuples and the like as plain JSON-able builtins (for trees and search)."""
    return msgspec.to_builtins(value, str_keys=True, enc_hook=repr)


def json_text(value: Any) -> str:
    """Indented JSON, keys sorted (stable for diffs and copying)."""
    return msgspec.json.format(_enc.encode(to_plain(value)).decode(), indent=2)


def compact_json(value: Any) -> str:
    return _enc.encode(to_plain(value)).decode()


def fmt_ms(ms: int | None) -> str:
    """A client-clock millisecond timestamp as local ``HH:MM:SS.mmm`` (``—`` for none)."""
    if not ms:
        return "—"
    t = time.localtime(ms / 1000)
    return time.strftime("%H:%M:%S", t) + f".{ms % 1000:03d}"


def fmt_age(ms: int | None, now_ms: int) -> str:
    """How long ago (or, negative, how far ahead) ``ms`` is, short: ``3.2 s``, ``4 min``."""
    if ms is None:
        return "—"
    d = (now_ms - ms) / 1000
    sign = "in " if d < 0 else ""
    d = abs(d)
    if d < 60:
        text = f"{d:.1f} s"
    elif d < 3600:
        text = f"{d / 60:.0f} min"
    else:
        text = f"{d / 3600:.1f} h"
    return sign + text + ("" if sign else " ago")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)
