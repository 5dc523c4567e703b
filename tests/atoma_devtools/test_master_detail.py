"""The reusable list + detail piece: incremental model, search inside values, chips, detail tabs."""

from __future__ import annotations

import msgspec
from PySide6.QtCore import QPersistentModelIndex
from PySide6.QtGui import QGuiApplication

from atoma_devtools.master_detail import DetailPane, MasterDetail, Row, RowModel


def rows(keys: list[int], status: str = "pending") -> list[Row]:
    return [Row(k, [k, f"item {k}", status], {"n": k, "nested": {"word": f"w{k}"}}, status=status) for k in keys]


def test_model_updates_incrementally_and_passes_the_model_tester(qtmodeltester, app) -> None:  # type: ignore[no-untyped-def]
    m = RowModel(["n", "name", "state"], status_column=2)
    qtmodeltester.check(m)
    m.set_rows(rows([1, 2, 3]))
    qtmodeltester.check(m)
    seen: list[str] = []
    m.modelReset.connect(lambda: seen.append("reset"))
    m.rowsRemoved.connect(lambda *a: seen.append("removed"))
    m.rowsInserted.connect(lambda *a: seen.append("inserted"))
    m.dataChanged.connect(lambda *a: seen.append("changed"))
    m.set_rows(rows([2, 3, 4, 5]))  # a ring buffer: one fell off, two arrived
    assert seen == ["removed", "inserted"]
    assert [r.key for r in m.rows] == [2, 3, 4, 5]
    seen.clear()
    m.set_rows(rows([2, 3, 4, 5], status="acked"))  # same keys, new values
    assert seen == ["changed"]
    assert m.data(m.index(0, 2)) == "✓ acked"  # the colour is paired with a glyph and the word
    seen.clear()
    m.set_rows(rows([9, 1]))  # everything new: one run out, one run in, never a reset
    assert seen == ["removed", "inserted"] and [r.key for r in m.rows] == [9, 1]
    qtmodeltester.check(m)


def test_any_change_keeps_the_selected_row(qtmodeltester, app) -> None:  # type: ignore[no-untyped-def]
    """Rows leave from the middle, kept rows change order, new ones arrive between them: the
    model says so row by row, and a persistent index (what a view's selection is) stays on
    its row."""
    m = RowModel(["n", "name", "state"], status_column=2)
    qtmodeltester.check(m)
    m.set_rows(rows([1, 2, 3, 4, 5, 6]))
    seen: list[str] = []
    for signal, name in ((m.modelReset, "reset"), (m.rowsRemoved, "removed"), (m.rowsInserted, "inserted"),
                         (m.layoutChanged, "moved"), (m.dataChanged, "changed")):
        signal.connect(lambda *a, name=name: seen.append(name))
    selected = QPersistentModelIndex(m.index(4, 1))  # row of key 5
    m.set_rows(rows([6, 5, 10, 11, 1]) + rows([2], status="acked"))
    assert [r.key for r in m.rows] == [6, 5, 10, 11, 1, 2]
    assert "reset" not in seen and {"removed", "moved", "inserted", "changed"} <= set(seen)
    assert selected.isValid() and m.data(m.index(selected.row(), 0)) == "5" and selected.column() == 1
    assert m.data(m.index(5, 2)) == "✓ acked"
    qtmodeltester.check(m)
    seen.clear()
    m.set_rows(rows([1, 1]))  # duplicate keys cannot be matched: the one case for a reset
    assert seen == ["reset"]


def test_search_matches_inside_values_and_chips_filter_by_status(app) -> None:  # type: ignore[no-untyped-def]
    md = MasterDetail(["n", "name", "state"], status_column=2, statuses=("pending", "rejected"))
    md.set_rows(rows([1, 2, 3]) + rows([4], status="rejected"))
    assert md.proxy.rowCount() == 4
    md.search.setText("W3")  # only inside the nested record, case-insensitive
    assert [r.key for r in md.visible_rows()] == [3]
    md.search.setText("")
    md.chips.button("rejected").setChecked(True)
    assert [r.key for r in md.visible_rows()] == [4]
    assert "1 of 4" in md.count_label.text()
    assert md.chips.button("pending").text() == "◷ pending 3"
    md.chips.button("rejected").setChecked(False)
    assert md.proxy.rowCount() == 4
    assert md.count_label.text() == "4 items"
    md.set_rows(rows([1]))
    assert md.count_label.text() == "1 item"
    # A status that no row has any more counts 0, not what it last counted.
    assert md.chips.button("rejected").text() == "✕ rejected 0"
    assert md.chips.button("pending").text() == "◷ pending 1"


def test_detail_tabs_copy_and_state(app) -> None:  # type: ignore[no-untyped-def]
    md = MasterDetail(["n", "name", "state"], status_column=2)
    data = rows([1, 2])
    data[1].diff = ({"title": "a", "done": False}, {"title": "b", "done": False})
    data[1].meta = {"attempts": 2}
    md.set_rows(data)
    md.select_key(2)
    d: DetailPane = md.detail
    assert d.tree.topLevelItemCount() == 2
    d.setCurrentIndex(1)
    assert msgspec.json.decode(d.json.toPlainText()) == {"n": 2, "nested": {"word": "w2"}}
    d.setCurrentIndex(2)
    text = d.diff.toPlainText()
    assert '-  "title": "a"' in text and '+  "title": "b"' in text
    d.setCurrentIndex(3)
    assert d.meta.topLevelItem(1).text(0) == "attempts"
    copied = md.copy_json()
    assert msgspec.json.decode(copied)["n"] == 2
    assert QGuiApplication.clipboard().text() == copied
    md.search.setText("w")
    md.chips.set_selected(["pending"])
    state = md.save_state()
    other = MasterDetail(["n", "name", "state"], status_column=2)
    other.restore_state(msgspec.json.decode(msgspec.json.encode(state)))
    assert other.search.text() == "w" and other.chips.selected() == {"pending"} and other.detail.currentIndex() == 3


def test_actions_follow_the_selection(app) -> None:  # type: ignore[no-untyped-def]
    md = MasterDetail(["n", "name", "state"], status_column=2)
    got: list[list[int]] = []
    b = md.add_action("Retry", lambda rs: got.append([r.key for r in rs]), enabled=lambda rs: any(r.status == "rejected" for r in rs))
    md.set_rows(rows([1]) + rows([2], status="rejected"))
    assert not b.isEnabled()
    md.select_key(2)
    assert b.isEnabled()
    b.click()
    assert got == [[2]]


def test_the_view_keeps_its_selection_through_a_live_change(app) -> None:  # type: ignore[no-untyped-def]
    md = MasterDetail(["n", "name", "state"], status_column=2)
    md.set_rows(rows([1, 2, 3, 4, 5, 6]))
    md.select_key(4)
    md.set_rows(rows([7, 4, 1]) + rows([6], status="acked"))  # removed, moved, inserted, changed
    assert [r.key for r in md.selected_rows()] == [4]
    assert md.current_row() is not None and md.current_row().key == 4
