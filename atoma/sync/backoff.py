"""Exponential backoff with jitter: pure arithmetic, randomness injected.

Jitter spreads the retries of many clients after a server outage so that they do not all come
back in the same instant; the cap keeps a long outage from pushing the next attempt out for
hours. Nothing here sleeps: callers ask for a delay and wait it out themselves, which is what
lets the engine be tested without clocks.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

__all__ = ["backoff_delay", "Backoff"]


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    factor: float = 2.0,
    cap: float = 30.0,
    floor: float = 0.0,
    rand: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    "Equal jitter": half of the exponential step is kept and the other half is random, so a
    delay is never near zero (which would hammer a struggling server) yet retries still
    spread out. ``floor`` is a lower bound applied before jitter (a server's SSE ``retry``
    hint, for instance); ``cap`` bounds the result.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    step = min(cap, max(floor, base * factor ** min(attempt, 64)))
    r = rand()
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rand() must return a number in [0, 1], got {r!r}")
    return min(cap, step / 2 + step / 2 * r)


class Backoff:
    """A retry counter around :func:`backoff_delay`: ``next()`` after a failure, ``reset()``
    after a success. Each lane owns one, so lanes back off independently."""

    def __init__(
        self,
        *,
        base: float = 0.5,
        factor: float = 2.0,
        cap: float = 30.0,
        rand: Callable[[], float] = _random.random,
    ) -> None:
        if base <= 0 or factor < 1 or cap < base:
            raise ValueError(f"need base > 0, factor >= 1, cap >= base (got {base}, {factor}, {cap})")
        self.base = base
        self.factor = factor
        self.cap = cap
        self._rand = rand
        self.attempt = 0

    def next(self, floor: float = 0.0) -> float:
        """The delay before the next retry; each call counts one more failed attempt."""
        delay = backoff_delay(self.attempt, base=self.base, factor=self.factor, cap=self.cap, floor=floor, rand=self._rand)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self.attempt = 0
