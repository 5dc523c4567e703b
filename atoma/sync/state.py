"""The sync state machine and the status snapshot. Pure: no clocks, no I/O.

States (``client.sync.status.state``):

* ``offline``    -- not syncing: no server configured, not started, or stopped;
* ``connecting`` -- syncing was started (or a backoff ran out, or the stream was lost) and no
  exchange with the server has succeeded since;
* ``live``       -- the last exchange with the server succeeded;
* ``backoff``    -- the last exchange failed; a lane waits (jittered, capped) before retrying.

Signals move between them; :func:`transition` is total (an irrelevant signal keeps the state),
so the engine can report whatever happens without first checking where it is.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["SyncState", "Signal", "SyncStatus", "transition"]

SyncState = Literal["offline", "connecting", "live", "backoff"]
Signal = Literal["start", "stop", "ok", "fail", "retry", "lost"]


def transition(state: SyncState, signal: Signal) -> SyncState:
    """The state after ``signal``.

    ``start``: begin syncing; ``stop``: end it; ``ok``: an exchange succeeded; ``fail``: one
    failed (transport, 5xx, retryable error); ``retry``: a backoff ran out and a lane tries
    again; ``lost``: the subscribe stream dropped while the server looked reachable.
    """
    if signal == "stop":
        return "offline"
    if state == "offline":
        return "connecting" if signal == "start" else "offline"
    if signal == "ok":
        return "live"
    if signal == "fail":
        return "backoff"
    if signal == "retry":
        return "connecting" if state == "backoff" else state
    if signal == "lost":
        return "connecting" if state == "live" else state
    return state  # "start" while already started


class SyncStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of ``client.sync.status``; a ``sync.status`` event carries each new one.

    ``cursor`` is the change-feed position pulled up to; the counts are outbox intents by
    state (``pending`` excludes in-flight ones); ``last_error`` is the last failure as a wire
    ``StandardError`` dict (``None`` after a success); ``last_sync_ms`` the client clock at the
    last successful exchange.
    """

    state: SyncState = "offline"
    cursor: int = 0
    pending: int = 0
    in_flight: int = 0
    conflicted: int = 0
    rejected: int = 0
    last_error: dict[str, Any] | None = None
    last_sync_ms: int | None = None
    stream: bool = False
