"""Child process of the kill -9 test: records intents, then syncs them slowly until killed.

Usage: python push_child.py DB_PATH SERVER_URL N
Prints "ready" once every intent is durable and syncing has started.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import atoma  # noqa: E402
from tests.atoma.sync.helpers import FAST, SCHEMA  # noqa: E402


class Slow(httpx.AsyncBaseTransport):
    """Holds each response a little, so the parent's SIGKILL lands between sent and settled."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await asyncio.sleep(0.02)
        return response


async def main(path: str, url: str, n: int) -> None:
    client = atoma.Client(path, SCHEMA, server=url, transport=Slow(), sync_options=msgspec.structs.replace(FAST, batch_size=5, subscribe=False))
    client.open()
    tasks = client.store("tasks")
    if tasks.count() == 0:
        made = tasks.add_many([{"id": f"t{i:04d}", "title": f"t{i}"} for i in range(n)])
        for t in made[: n // 2]:
            tasks.update(t.id, {"done": True})
    await client.start()
    print("ready", flush=True)
    await asyncio.sleep(60)  # killed long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
