from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import QPushButton, QWidget

from atoma_devtools.flow_layout import FlowLayout
from atoma_devtools.master_detail import StatusChips


def _host(n: int) -> tuple[QWidget, FlowLayout, list[QPushButton]]:
    host = QWidget()
    lay = FlowLayout(host, spacing=4)
    buttons = [QPushButton(f"chip {i}") for i in range(n)]
    for b in buttons:
        b.setFixedSize(100, 20)
        lay.addWidget(b)
    return host, lay, buttons


def test_items_wrap_at_the_width_and_the_height_follows(app) -> None:  # type: ignore[no-untyped-def]
    host, lay, buttons = _host(5)
    assert lay.hasHeightForWidth()
    assert lay.heightForWidth(600) == 20  # 5 * 100 + 4 * 4 = 516: one line
    assert lay.heightForWidth(300) == 3 * 20 + 2 * 4  # two fit in 300 (204), so three lines
    assert lay.minimumSize() == QSize(100, 20)  # the widest item: never narrower
    assert lay.sizeHint() == QSize(516, 20)  # everything on one line
    host.resize(300, lay.heightForWidth(300))
    host.show()
    app.processEvents()
    assert [(b.x(), b.y()) for b in buttons] == [(0, 0), (104, 0), (0, 24), (104, 24), (0, 48)]


def test_hidden_items_take_no_room(app) -> None:  # type: ignore[no-untyped-def]
    host, lay, buttons = _host(3)
    host.show()
    buttons[0].hide()
    assert lay.sizeHint() == QSize(204, 20)
    lay.setGeometry(QRect(0, 0, 300, 20))
    assert (buttons[1].x(), buttons[2].x()) == (0, 104)


def test_many_status_chips_all_stay_in_sight(app) -> None:  # type: ignore[no-untyped-def]
    """The Events panel has a chip per event type: on a narrow widget they wrap onto more
    lines, each chip fully inside its parent, rather than scrolling out of sight."""
    statuses = [f"type.number{i}" for i in range(12)]
    chips = StatusChips(statuses)
    chips.set_counts({s: i for i, s in enumerate(statuses)})
    width = 360
    chips.resize(width, chips.heightForWidth(width))
    chips.show()
    app.processEvents()
    buttons = [chips.button(s) for s in statuses]
    assert all(b is not None and b.isVisible() for b in buttons)
    assert all(chips.rect().contains(b.geometry()) for b in buttons if b is not None)
    assert len({b.y() for b in buttons if b is not None}) > 1  # more than one line
