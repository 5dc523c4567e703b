"""Shared bits of the sync tests: a schema, fast sync options, waiting with deadlines."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import atoma
from atoma.sync import SyncOptions


class Task(atoma.Entity):
    title: str
    done: bool = False
    project_id: str | None = None


class Project(atoma.Entity):
    name: str


SCHEMA = atoma.Schema([
    atoma.Resource("tasks", Task, indexes=[atoma.Index("done")]),
    atoma.Resource("projects", Project),
])

FAST = SyncOptions(debounce=0.0, backoff_base=0.02, backoff_cap=0.2, poll_interval=0.3, heartbeat_interval=1.0, confirm_timeout=10.0)


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test body on a fresh event loop (no plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` seconds (a deadline, never a bare sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.01)
