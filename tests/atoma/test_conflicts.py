"""Strategy decisions, pure: what each strategy does with a conflict."""

from __future__ import annotations

import pytest

from atoma.conflicts import Conflict, KeepLocal, Merged, TakeServer, decide


def conflict(base=None, local=None, server=None, changed=None) -> Conflict:
    return Conflict(
        id=1, resource="tasks", entity_id="t1", seq=5, state="open", strategy="manual",
        base=base, base_version=1, local=local, local_changed=changed, idempotency_key="k",
        server=server, server_version=2, detected_at_ms=0,
    )


BASE = {"id": "t1", "version": 1, "title": "a", "done": False, "notes": ""}


def test_named_strategies() -> None:
    c = conflict(BASE, {**BASE, "title": "mine"}, {**BASE, "title": "theirs", "version": 2}, ["title"])
    assert decide(c, "server-wins") == (TakeServer(), "strategy")
    assert decide(c, "client-wins") == (KeepLocal(), "strategy")
    assert decide(c, "manual") == (None, "strategy")
    assert decide(c, "merge") == (None, "strategy")  # same field both sides: waits for a person
    resolution, _ = decide(c, "merge", merge_fallback="local")
    assert isinstance(resolution, Merged) and resolution.value["title"] == "mine"
    resolution, _ = decide(c, "merge", merge_fallback="server")
    assert isinstance(resolution, Merged) and resolution.value["title"] == "theirs"
    with pytest.raises(ValueError, match="unknown conflict strategy"):
        decide(c, "coin-flip")  # type: ignore[arg-type]


def test_merge_of_disjoint_edits_is_automatic() -> None:
    c = conflict(BASE, {**BASE, "title": "mine"}, {**BASE, "done": True, "version": 2}, ["title"])
    resolution, by = decide(c, "merge")
    assert by == "strategy" and resolution == Merged(value={"title": "mine", "done": True, "notes": ""})


def test_deletes_fall_back() -> None:
    deleted_on_server = conflict(BASE, {**BASE, "title": "mine"}, None, ["title"])
    assert decide(deleted_on_server, "merge") == (None, "strategy")
    assert decide(deleted_on_server, "merge", merge_fallback="local") == (KeepLocal(), "strategy")
    deleted_here = conflict(BASE, None, {**BASE, "title": "theirs"})
    assert decide(deleted_here, "merge", merge_fallback="server") == (TakeServer(), "strategy")


def test_callable_strategy_is_code_and_checked() -> None:
    c = conflict(BASE, {**BASE, "title": "mine"}, {**BASE, "title": "theirs"}, ["title"])
    assert decide(c, lambda c: Merged(value={"title": c.local["title"] + "+" + c.server["title"]})) == (
        Merged(value={"title": "mine+theirs"}),
        "code",
    )
    with pytest.raises(TypeError, match="must return"):
        decide(c, lambda c: "keep")  # type: ignore[arg-type, return-value]
