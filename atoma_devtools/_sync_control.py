"""Steering ``client.sync`` from the inspector, tolerant of which controls the engine has.

The engine grows controls over time; the inspector uses what exists and says plainly when
something is not available, instead of reaching into the engine's internals.
"""

from __future__ import annotations

from typing import Any

__all__ = ["push_pause_supported", "push_paused", "set_push_paused", "is_offline", "set_offline", "conflict_inbox"]

_PAUSE_NAMES = (("pause_push", "resume_push", "push_paused"), ("pause", "resume", "paused"))


def _pause_api(sync: Any) -> tuple[str, str, str] | None:
    for names in _PAUSE_NAMES:
        if all(hasattr(sync, n) for n in names):
            return names
    return None


def push_pause_supported(sync: Any) -> bool:
    return _pause_api(sync) is not None


def push_paused(sync: Any) -> bool:
    api = _pause_api(sync)
    if api is None:
        return False
    flag = getattr(sync, api[2])
    return bool(flag() if callable(flag) else flag)


def set_push_paused(sync: Any, paused: bool) -> None:
    """Pause or resume pushing (intents keep queueing locally while paused)."""
    api = _pause_api(sync)
    if api is None:
        raise NotImplementedError("this sync engine cannot pause pushing")
    getattr(sync, api[0] if paused else api[1])()


def is_offline(sync: Any) -> bool:
    """Whether the user asked to work offline (or sync is simply not running)."""
    flag = getattr(sync, "offline", None)
    if flag is not None and not callable(flag):
        return bool(flag)
    return not getattr(sync, "running", False)


async def set_offline(sync: Any, offline: bool) -> None:
    """Work offline (stop the lanes; writes keep queueing) or go back online."""
    setter = getattr(sync, "set_offline", None)
    if setter is not None:
        out = setter(offline)
        if hasattr(out, "__await__"):
            await out
        return
    if offline:
        await sync.stop()
    else:
        await sync.start()


def conflict_inbox(client: Any) -> Any:
    """``client.sync.conflicts`` when the engine has a conflict inbox, else ``None``."""
    inbox = getattr(client.sync, "conflicts", None)
    return inbox if inbox is not None and hasattr(inbox, "list") else None
