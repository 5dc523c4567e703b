from typing import Any

from atoma.outbox import Intent
from atoma.sync.batching import build_request, group_batch, select_batch, to_write_item
from atoma import protocol as p


def intent(seq: int, eid: str, action: str = "update", state: str = "pending", res: str = "tasks", **kw: Any) -> Intent:
    value = kw.pop("value", {"id": eid, "version": 3, "title": "t", "done": True})
    return Intent(
        seq=seq, resource=res, entity_id=eid, action=action, value=None if action == "delete" else value,  # type: ignore[arg-type]
        changed=kw.pop("changed", ("done",) if action == "update" else None), base_version=kw.pop("base_version", 3), base=None,
        idempotency_key=f"k{seq}", state=state, attempts=0, created_at_ms=1000 + seq, updated_at_ms=0,  # type: ignore[arg-type]
    )


def test_only_the_oldest_unsettled_intent_of_an_entity_is_sent() -> None:
    xs = [intent(1, "a"), intent(2, "a"), intent(3, "b"), intent(4, "c", state="in_flight"), intent(5, "c"),
          intent(6, "d", state="rejected"), intent(7, "d"), intent(8, "e", state="acked"), intent(9, "e"),
          intent(10, "f", state="conflicted"), intent(11, "f")]
    assert [i.seq for i in select_batch(xs)] == [1, 3, 9]  # an open conflict holds "f" back


def test_limit_stops_consuming_early() -> None:
    consumed = []

    def stream():
        for n in range(1000):
            consumed.append(n)
            yield intent(n + 1, f"e{n}")

    batch = select_batch(stream(), limit=10)
    assert len(batch) == 10 and len(consumed) == 10


def test_grouping_keeps_first_appearance_order() -> None:
    batch = [intent(1, "a", "create"), intent(2, "b", "update"), intent(3, "p", "create", res="projects"),
             intent(4, "c", "create"), intent(5, "d", "delete")]
    groups = group_batch(batch)
    assert [(g.resource, g.action, [i.seq for i in g.intents]) for g in groups] == [
        ("tasks", "create", [1, 4]), ("tasks", "update", [2]), ("projects", "create", [3]), ("tasks", "delete", [5])]


def test_wire_items() -> None:
    up = to_write_item(intent(1, "a", "update", base_version=7))
    assert up.entity_id == "a" and up.base_version == 7 and up.value == {"done": True}
    assert up.meta.idempotency_key == "k1" and up.meta.client_time_ms == 1001
    cr = to_write_item(intent(2, "b", "create", base_version=0))
    assert cr.value == {"title": "t", "done": True} and cr.base_version == 0
    de = to_write_item(intent(3, "c", "delete"))
    assert de.value is None and de.base_version == 3
    req = build_request(group_batch([intent(1, "a"), intent(2, "b", "create")]), device_id="dev")
    assert [op.op_id for op in req.ops] == ["w0", "w1"]
    p.validate_request(p.decode_request(p.encode(req)))
