from atoma import protocol as p
from atoma.sync.rebase import Row, after_ack, after_conflict, after_discard, after_pull, replay

from .test_batching import intent


def test_replay_applies_changed_fields_on_the_server_value() -> None:
    server = {"id": "a", "version": 4, "title": "server", "done": False, "extra": 1}
    later = [intent(5, "a", value={"id": "a", "title": "mine", "done": True}, changed=("done",))]
    assert replay(server, later) == {**server, "done": True}
    assert replay(server, [intent(6, "a", "delete")]) is None
    assert replay(None, later) is None  # an update of a deleted entity stays deleted


def test_ack_of_the_last_intent_merges_server_data_under_local() -> None:
    row = Row(entity_id="a", version=3, server_version=3, data={"id": "a", "version": 3, "title": "t", "done": True}, base={"id": "a", "version": 3, "title": "t", "done": False}, pending=1)
    new, rb = after_ack(row, intent(1, "a"), 4, {"id": "a", "version": 4, "title": "t", "done": True, "unknown": "kept"}, [])
    assert rb is None
    assert new == Row(entity_id="a", version=4, server_version=4, data={"id": "a", "version": 4, "title": "t", "done": True, "unknown": "kept"}, base=None, pending=0)


def test_ack_rebases_later_intents_onto_the_new_version() -> None:
    row = Row(entity_id="a", version=3, server_version=3, data={"id": "a", "version": 3, "title": "later", "done": True}, base={"id": "a", "version": 3, "title": "t", "done": False}, pending=2)
    later = [intent(2, "a", value={"id": "a", "title": "later", "done": True}, changed=("title",))]
    new, rb = after_ack(row, intent(1, "a"), 4, None, later)
    assert rb is not None and rb.base_version == 4
    assert rb.base == {"id": "a", "version": 4, "title": "t", "done": True}  # rebuilt: base + changed fields
    assert new.pending == 1 and new.version == 4 and new.data["title"] == "later" and new.base == rb.base


def test_ack_when_a_pull_already_saw_a_newer_server_version() -> None:
    newer = {"id": "a", "version": 6, "title": "theirs", "done": True}
    row = Row(entity_id="a", version=3, server_version=6, data={"id": "a", "version": 3, "title": "t", "done": True}, base=newer, pending=1)
    new, rb = after_ack(row, intent(1, "a"), 4, None, [])
    assert rb is None and new.version == 6 and new.data == newer and not new.deleted


def test_ack_of_a_delete_keeps_a_tombstone_with_the_version() -> None:
    row = Row(entity_id="a", version=3, server_version=3, deleted=True, data={"id": "a", "version": 3}, base={"id": "a"}, pending=1)
    new, _ = after_ack(row, intent(1, "a", "delete"), 4, None, [])
    assert new.deleted and new.version == 4 and new.base is None and new.pending == 0


def test_conflict_server_wins_and_replays_later_intents() -> None:
    row = Row(entity_id="a", version=3, server_version=3, data={"id": "a", "version": 3, "title": "mine", "done": True}, pending=2)
    later = [intent(2, "a", value={"id": "a", "title": "mine", "done": True}, changed=("done",))]
    current = {"id": "a", "version": 5, "title": "theirs", "done": False}
    new, rb = after_conflict(row, current, 5, later)
    assert rb is not None and rb.base_version == 5 and rb.base == current
    assert new.data == {"id": "a", "version": 5, "title": "theirs", "done": True}
    alone, rb2 = after_conflict(row, None, 5, [])
    assert rb2 is None and alone.deleted and alone.version == 5


def test_pull_never_clobbers_pending_edits_and_ignores_stale_versions() -> None:
    ch = p.Change(resource="tasks", entity_id="a", kind="upsert", version=5, changed_at_ms=0, value={"id": "a", "version": 5, "title": "s"})
    assert after_pull(None, ch) == Row(entity_id="a", version=5, server_version=5, data={"id": "a", "version": 5, "title": "s"})
    pending = Row(entity_id="a", version=3, server_version=3, data={"id": "a", "title": "mine"}, pending=1)
    moved = after_pull(pending, ch)
    assert moved is not None and moved.data == pending.data and moved.base == ch.value and moved.server_version == 5
    assert after_pull(moved, ch) is None  # same version again: no-op
    clean = Row(entity_id="a", version=3, server_version=3, data={"id": "a"})
    dl = p.Change(resource="tasks", entity_id="a", kind="delete", version=6, changed_at_ms=0)
    gone = after_pull(clean, dl)
    assert gone is not None and gone.deleted and gone.version == 6
    assert after_pull(None, dl) is None


def test_discard_restores_the_server_base_or_removes_a_never_synced_row() -> None:
    base = {"id": "a", "version": 3, "title": "server"}
    row = Row(entity_id="a", version=3, server_version=3, data={"id": "a", "title": "bad"}, base=base, pending=1)
    restored = after_discard(row, [])
    assert restored is not None and restored.data == base and restored.pending == 0 and not restored.deleted
    fresh = Row(entity_id="b", data={"id": "b", "title": "x"}, pending=1)
    assert after_discard(fresh, []) is None
