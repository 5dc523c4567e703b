"""Concurrent writers: compare-and-set picks exactly one winner; duplicated idempotency keys
apply once and every copy gets the same outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from .conftest import Backend
from .live import LiveServer, ops, write_op


async def _post(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/ops", json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]["results"][0]["data"]["results"][0]


def test_two_writers_on_the_same_base_version(live: LiveServer, client: httpx.Client) -> None:
    rounds = 10
    ops(client, write_op("tasks", "create", [{"entityId": f"t{i}", "value": {"title": "start"}} for i in range(rounds)]))

    async def race(i: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=live.url) as a, httpx.AsyncClient(base_url=live.url) as b:
            bodies = [
                {"ops": [write_op("tasks", "update", [{"entityId": f"t{i}", "baseVersion": 1, "value": {"title": who}}])]}
                for who in ("alice", "bob")
            ]
            return list(await asyncio.gather(_post(a, bodies[0]), _post(b, bodies[1])))

    for i in range(rounds):
        results = asyncio.run(race(i))
        winners = [r for r in results if r["ok"]]
        losers = [r for r in results if not r["ok"]]
        assert len(winners) == 1 and len(losers) == 1
        win, lose = winners[0], losers[0]
        assert win["version"] == 2
        assert lose["error"]["code"] == "CONFLICT"
        assert lose["current"] == {"value": win["data"], "version": 2}


def test_fifty_copies_of_one_idempotency_key(live: LiveServer, backend: Backend) -> None:
    body = {"ops": [write_op("tasks", "create", [{"value": {"title": "once"}, "meta": {"idempotencyKey": "the-one-key"}}])]}

    async def flood() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=live.url, limits=limits, timeout=60) as c:
            return list(await asyncio.gather(*(_post(c, body) for _ in range(50))))

    results = asyncio.run(flood())
    assert sum(1 for r in results if not r.get("replay")) == 1
    first = {k: v for k, v in results[0].items() if k != "replay"}
    assert first["ok"] and first["version"] == 1
    assert all({k: v for k, v in r.items() if k != "replay"} == first for r in results)
    assert len(backend.sql("SELECT * FROM atoma_entities")) == 1
    assert len(backend.sql("SELECT * FROM atoma_changes")) == 1
    assert len(backend.sql("SELECT * FROM atoma_idempotency")) == 1
