"""Identifiers: time-ordered entity ids (UUIDv7 layout) and idempotency keys."""

from __future__ import annotations

import os
import time

__all__ = ["new_id", "new_key"]


def new_id() -> str:
    """A UUIDv7-shaped id: ids made later sort later, which keeps SQLite's b-trees compact."""
    t = f"{time.time_ns() // 1_000_000:012x}"
    r = os.urandom(10).hex()
    # version nibble 7, then the RFC 4122 variant (10xx) in the first nibble of the 4th group
    return f"{t[:8]}-{t[8:12]}-7{r[:3]}-{'89ab'[int(r[3], 16) & 3]}{r[4:7]}-{r[7:19]}"


def new_key() -> str:
    """A fresh idempotency key (128 random bits)."""
    return os.urandom(16).hex()
