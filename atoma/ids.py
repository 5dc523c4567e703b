"""Identifiers: time-ordered entity ids (UUIDv7 layout) and idempotency keys."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_key"]


def new_id() -> str:
    """A UUIDv7-shaped id: ids made later sort later, which keeps SQLite's b-trees compact."""
    ms = time.time_ns() // 1_000_000
    r = int.from_bytes(os.urandom(10), "big")
    n = (ms << 80) | (0x7 << 76) | ((r >> 64) & 0x0FFF) << 64 | (0b10 << 62) | (r & ((1 << 62) - 1))
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_key() -> str:
    """A fresh idempotency key (128 random bits)."""
    return os.urandom(16).hex()
