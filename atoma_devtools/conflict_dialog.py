"""The conflict dialog: base / mine / server per field, pre-merged, decided by a person.

Meant for end users as much as developers, so it speaks plainly ("You changed", "The server
has") and never hides a delete. It is non-modal: call :meth:`ConflictDialog.open` and await
:meth:`ConflictDialog.wait` (or the :attr:`ConflictDialog.result_future`); never ``exec()``
inside an asyncio task (it re-enters the loop).

Before applying any choice, the dialog asks the inbox to re-read the server's version
(``await client.sync.conflicts.check(id)``); if it moved since the dialog was filled, nothing
is applied: the view reloads with the new server value and the person decides again. The
decision is recorded with ``client.sync.conflicts.resolve(id, resolution, by="user")``.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Mapping
from typing import Any

import msgspec
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from atoma.conflicts import Conflict, KeepLocal, Merged, Resolution, TakeServer
from atoma.errors import ValidationError

from ._format import compact_json, fmt_ms, status_style

__all__ = ["ConflictDialog", "FieldChoice", "MISSING"]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()
_SKIP = ("id", "version")

# Per field: glyph, colour and the words shown (colour is never the only signal).
_SIDE_TEXT = {
    "same": ("=", "#718096", "unchanged"),
    "local": ("✎", "#2f855a", "your change, merged"),
    "server": ("⇣", "#2b6cb0", "server's change, merged"),
    "both": ("=", "#2f855a", "same change on both sides"),
    "conflict": ("⚠", "#c05621", "both changed — choose"),
}
CHOICES = ("Choose…", "Keep mine", "Take theirs", "Edit…")
_TINT = {"local": "#e6ffed", "server": "#e6f0ff", "both": "#e6ffed"}


def _text(value: Any, deleted: bool = False) -> str:
    """How a value reads to a person: strings as they are, everything else as JSON."""
    if deleted:
        return "(deleted)"
    if value is MISSING:
        return "(absent)"
    if isinstance(value, str):
        return value if value else "(empty text)"
    return compact_json(value)


class FieldChoice:
    """The decision for one conflicting field: ``mine``, ``theirs``, ``edit`` (with a value) or none.

    ``text`` is what the person typed in the editor (``None`` unless typed): kept as typed, so a
    rebuilt view shows the same (possibly invalid) text rather than the last valid ``value``.
    """

    __slots__ = ("field", "choice", "value", "valid", "text")

    def __init__(self, field: str) -> None:
        self.field = field
        self.choice: str | None = None
        self.value: Any = MISSING
        self.valid = True
        self.text: str | None = None

    @property
    def decided(self) -> bool:
        return self.choice is not None and self.valid


class ConflictDialog(QDialog):
    """Resolve one :class:`~atoma.conflicts.Conflict` of ``client``'s conflict inbox.

    ``resolved`` is emitted with the updated conflict record; :meth:`wait` returns it (or
    ``None`` if the dialog was closed without deciding).
    """

    resolved = Signal(object)
    moved = Signal(object)  # the re-read conflict, when the server version moved

    def __init__(self, client: Any, conflict: Conflict, parent: QWidget | None = None, *, by: str = "user", readonly: bool = False) -> None:
        super().__init__(parent)
        self.client = client
        self.by = by
        self.readonly = readonly
        self.conflict = conflict
        self.result_conflict: Conflict | None = None
        self._future: asyncio.Future[Conflict | None] | None = None
        self._busy = False
        self._task: asyncio.Task[Any] | None = None  # the apply() started by a button, if running
        self._finishes = 0  # how often the dialog was closed: apply() applies nothing after one
        self.setModal(False)
        self.setWindowTitle(f"Resolve conflict — {conflict.resource}")
        self.resize(900, 560)

        self.title = QLabel()
        self.title.setWordWrap(True)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fffaf0; border: 1px solid #c05621; border-radius: 4px; padding: 6px; }")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("QLabel { background: #fff5f5; border: 1px solid #c53030; border-radius: 4px; padding: 6px; color: #742a2a; }")
        self.notice.hide()
        self.show_unchanged = QCheckBox("Show unchanged fields")
        self.show_unchanged.toggled.connect(lambda *_: self._build_grid())

        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.StyledPanel)

        self.keep_button = QPushButton()
        self.take_button = QPushButton()
        self.merge_button = QPushButton("✓ Apply merge")
        self.later_button = QPushButton("Decide later")
        self.keep_button.clicked.connect(lambda: self.keep_mine())
        self.take_button.clicked.connect(lambda: self.take_theirs())
        self.merge_button.clicked.connect(lambda: self.apply_merge())
        # Never disabled, not even while busy: a person can always walk away, and closing
        # cancels the pending re-check so nothing is applied (see _on_finished).
        self.later_button.clicked.connect(self.reject)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        for b in (self.later_button, self.take_button, self.keep_button, self.merge_button):
            buttons.addWidget(b)
        self.merge_button.setDefault(True)

        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addWidget(self.banner)
        lay.addWidget(self.notice)
        lay.addWidget(self.show_unchanged)
        lay.addWidget(scroll, 1)
        lay.addLayout(buttons)
        self.finished.connect(self._on_finished)
        self._load(conflict)

    # -- the view --------------------------------------------------------------------------

    def _load(self, conflict: Conflict) -> None:
        self.conflict = conflict
        self.merge = conflict.merge()
        old = getattr(self, "choices", {})
        self.choices: dict[str, FieldChoice] = {}
        per_field = not (conflict.local_deleted or conflict.server_deleted)  # a delete is all-or-nothing
        for f in self.merge.conflicts if per_field else ():
            c = FieldChoice(f)
            prev = old.get(f)
            # Keep a person's decisions across a reload only where they still make sense.
            if prev is not None and prev.choice in ("mine", "edit"):
                c.choice, c.value, c.valid, c.text = prev.choice, prev.value, prev.valid, prev.text
                if c.text is not None:
                    # Re-read what was typed against the new record (text vs JSON may differ).
                    value, c.valid = self._parse_edit(f, c.text)
                    if c.valid:
                        c.value = value
            self.choices[f] = c
        c = conflict
        where = f"<b>{html.escape(c.resource)}</b> / <code>{html.escape(c.entity_id)}</code>"
        state = "" if c.state == "open" else f" — already {html.escape(c.state)} ({html.escape(str(c.resolution))})"
        self.title.setText(
            f"<span style='font-size:14pt'>⚠ Conflicting changes to {where}</span>{state}<br>"
            f"You edited version {c.base_version}; the server is now at version {c.server_version}. "
            f"Detected {fmt_ms(c.detected_at_ms)}."
        )
        if c.local_deleted and c.server_deleted:
            text = "Both you and the server deleted this item."
        elif c.local_deleted:
            text = "<b>You deleted this item</b>, but meanwhile the server changed it. Keep your delete, or keep the server's version?"
        elif c.server_deleted:
            text = "<b>The server deleted this item</b> while you were changing it. Restore it with your changes, or accept the delete?"
        else:
            n_auto = sum(1 for s in self.merge.sides.values() if s in ("local", "server", "both"))
            n_conf = len(self.merge.conflicts)
            text = (
                f"{n_auto} field{'s' if n_auto != 1 else ''} merged automatically (marked ✎ and ⇣). "
                + (
                    f"<b>{n_conf} field{'s' if n_conf != 1 else ''} changed on both sides</b> (⚠): choose mine or theirs, or edit the value."
                    if n_conf
                    else "Nothing overlaps: apply the merge, or keep one side whole."
                )
            )
        self.banner.setText(text)
        deletes = c.local_deleted or c.server_deleted
        self.keep_button.setText("Keep my delete" if c.local_deleted else "Restore with my changes" if c.server_deleted else "Keep mine")
        self.take_button.setText("Keep the server's version" if c.local_deleted else "Accept the delete" if c.server_deleted else "Take theirs")
        self.keep_button.setToolTip("Send your version again, on top of the server's current version")
        self.take_button.setToolTip("Drop your change; the server's version becomes yours")
        self.merge_button.setVisible(not deletes)
        self._build_grid()
        self._update_buttons()

    def _build_grid(self) -> None:
        # A fresh host widget each time: the scroll area deletes the old one at once, so no
        # stale row is ever painted over the new ones.
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setHorizontalSpacing(12)
        self.grid.setVerticalSpacing(6)
        c = self.conflict
        base, local, server = c.base or {}, c.local or {}, c.server or {}
        headers = ("Field", "Original", "Mine", "Server", "", "Result")
        for col, h in enumerate(headers):
            lab = QLabel(f"<b>{h}</b>")
            self.grid.addWidget(lab, 0, col)
        names = sorted((set(base) | set(local) | set(server)) - set(_SKIP))
        self.editors: dict[str, tuple[QComboBox, QLineEdit]] = {}
        r = 1
        deletes = c.local_deleted or c.server_deleted
        for f in names:
            side = self.merge.sides.get(f, "same")
            if deletes:
                # A delete is decided for the whole record: mark what the *other* side changed.
                other = server if c.local_deleted else local
                side = "same" if other.get(f, MISSING) == base.get(f, MISSING) else ("server" if c.local_deleted else "local")
            if side == "same" and not self.show_unchanged.isChecked():
                continue
            glyph, colour, words = _SIDE_TEXT[side]
            if deletes and side != "same":
                words = "changed on the server" if side == "server" else "you changed it"
            name = QLabel(f"<b>{html.escape(f)}</b><br><span style='color:{colour}'>{glyph} {words}</span>")
            self.grid.addWidget(name, r, 0)
            for col, (val, deleted) in enumerate(
                ((base.get(f, MISSING), c.base is None), (local.get(f, MISSING), c.local_deleted), (server.get(f, MISSING), c.server_deleted)),
                start=1,
            ):
                lab = QLabel()
                lab.setTextFormat(Qt.TextFormat.PlainText)
                lab.setText(_text(val, deleted))
                lab.setWordWrap(True)
                lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                lab.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
                chosen_side = (side == "local" and col == 2) or (side == "server" and col == 3) or (side == "both" and col in (2, 3))
                if chosen_side:  # the side the merge took: tinted, and named in the Field column
                    lab.setStyleSheet(f"QLabel {{ background: {_TINT[side]}; border-radius: 3px; padding: 2px 4px; }}")
                self.grid.addWidget(lab, r, col)
            if deletes:
                self.grid.addWidget(QLabel(""), r, 4)
                self.grid.addWidget(QLabel("(whole record)"), r, 5)
            elif side == "conflict":
                combo = QComboBox()
                combo.addItems(CHOICES)
                edit = QLineEdit()
                plain = self._plain_text_field(f)
                edit.setPlaceholderText("text" if plain else "JSON value")
                self.editors[f] = (combo, edit)
                choice = self.choices[f]
                if choice.choice is not None:
                    combo.setCurrentIndex({"mine": 1, "theirs": 2, "edit": 3}[choice.choice])
                    # What was typed, even if invalid, with its error style: the view must
                    # match the decision state ("Still to decide" while the text is bad).
                    edit.setText(choice.text if choice.text is not None else self._edit_text(f, choice.value))
                    self._style_editor(edit, choice.valid)
                combo.currentIndexChanged.connect(lambda i, f=f: self._on_choice(f, i))
                edit.textEdited.connect(lambda text, f=f: self._on_edit(f, text))
                self.grid.addWidget(combo, r, 4)
                self.grid.addWidget(edit, r, 5)
            else:
                merged = self.merge.value.get(f, MISSING)
                lab = QLabel(_text(merged, c.local_deleted and c.server_deleted))
                lab.setTextFormat(Qt.TextFormat.PlainText)
                lab.setWordWrap(True)
                self.grid.addWidget(QLabel(""), r, 4)
                self.grid.addWidget(lab, r, 5)
            line = QFrame()
            line.setFrameShape(QFrame.Shape.HLine)
            line.setStyleSheet("color: #e2e8f0")
            r += 1
            self.grid.addWidget(line, r, 0, 1, len(headers))
            r += 1
        if r == 1:
            self.grid.addWidget(QLabel("No field differs."), 1, 0, 1, len(headers))
        for col, stretch in enumerate((1, 2, 2, 2, 0, 2)):
            self.grid.setColumnStretch(col, stretch)
        self.grid.setRowStretch(r + 1, 1)
        self.grid_host.setEnabled(not self._busy)  # rebuilt mid-apply (server moved): stay locked
        self.scroll.setWidget(self.grid_host)

    # -- decisions --------------------------------------------------------------------------

    def choose(self, field: str, choice: str, value: Any = MISSING) -> None:
        """Decide a conflicting field: ``"mine"``, ``"theirs"`` or ``"edit"`` (with ``value``)."""
        if field not in self.choices:
            raise KeyError(f"{field!r} is not a conflicting field; conflicting: {list(self.choices)}")
        combo, edit = self.editors[field]
        if choice == "edit":
            combo.blockSignals(True)
            combo.setCurrentIndex(3)
            combo.blockSignals(False)
            edit.setText(self._edit_text(field, value))
            self._on_edit(field, edit.text())
        else:
            combo.setCurrentIndex({"mine": 1, "theirs": 2, None: 0}[choice])

    def _on_choice(self, field: str, index: int) -> None:
        c = self.choices[field]
        combo, edit = self.editors[field]
        local, server = self.conflict.local or {}, self.conflict.server or {}
        c.valid, c.text = True, None
        if index == 1:
            c.choice, c.value = "mine", local.get(field, MISSING)
        elif index == 2:
            c.choice, c.value = "theirs", server.get(field, MISSING)
        elif index == 3:
            c.choice = "edit"
            if c.value is MISSING:
                c.value = local.get(field, server.get(field, MISSING))
            edit.setFocus()
        else:
            c.choice, c.value = None, MISSING
        edit.setText(self._edit_text(field, c.value))
        self._style_editor(edit, True)
        self._update_buttons()

    def _on_edit(self, field: str, text: str) -> None:
        c = self.choices[field]
        combo, edit = self.editors[field]
        if combo.currentIndex() != 3:
            combo.blockSignals(True)
            combo.setCurrentIndex(3)
            combo.blockSignals(False)
        c.choice, c.text = "edit", text
        value, c.valid = self._parse_edit(field, text)
        if c.valid or not text.strip():
            c.value = value  # an unparsable text keeps the last valid value (used by "Edit…")
        self._style_editor(edit, c.valid)
        self._update_buttons()

    def _parse_edit(self, field: str, text: str) -> tuple[Any, bool]:
        """The value typed for ``field`` and whether it is acceptable (empty JSON is not)."""
        if self._plain_text_field(field):
            return text, True
        if not text.strip():
            return MISSING, False
        try:
            return msgspec.json.decode(text), True
        except msgspec.DecodeError:
            return MISSING, False

    @staticmethod
    def _style_editor(edit: QLineEdit, valid: bool) -> None:
        edit.setStyleSheet("" if valid else "QLineEdit { border: 2px solid #c53030; }")
        edit.setToolTip("" if valid else "Not valid JSON (strings need quotes: \"text\")")

    def _plain_text_field(self, field: str) -> bool:
        """Whether every side holds text here: then the editor takes plain text, not JSON."""
        values = [d.get(field, MISSING) for d in (self.conflict.base or {}, self.conflict.local or {}, self.conflict.server or {})]
        present = [v for v in values if v is not MISSING]
        return bool(present) and all(isinstance(v, str) for v in present)

    def _edit_text(self, field: str, value: Any) -> str:
        if value is MISSING:
            return ""
        if isinstance(value, str) and self._plain_text_field(field):
            return value
        return compact_json(value)

    @property
    def undecided(self) -> list[str]:
        return [f for f, c in self.choices.items() if not c.decided]

    def merged_value(self) -> dict[str, Any] | None:
        """The value "Apply merge" would send, or ``None`` while a conflicting field is undecided."""
        if self.undecided or self.conflict.local_deleted or self.conflict.server_deleted:
            return None
        value = dict(self.merge.value)
        for f, c in self.choices.items():
            if c.value is MISSING:
                value.pop(f, None)
            else:
                value[f] = c.value
        return value

    def _update_buttons(self) -> None:
        can_act = not self._busy and not self.readonly and self.conflict.state == "open"
        self.keep_button.setEnabled(can_act)
        self.take_button.setEnabled(can_act)
        undecided = self.undecided
        self.merge_button.setEnabled(can_act and self.merged_value() is not None)
        if self.readonly:
            self.status.setText("Read-only view: conflicts are resolved in the app that syncs this database.")
        elif self.conflict.state != "open":
            self.status.setText(f"This conflict was already resolved ({self.conflict.resolution}).")
        elif (self.conflict.local_deleted or self.conflict.server_deleted) and not self._busy:
            self.status.setText("A delete is decided for the whole record: choose one of the two versions.")
        elif undecided and not self._busy:
            glyph, colour = status_style("conflicted")
            self.status.setText(f"<span style='color:{colour}'>{glyph}</span> Still to decide: {html.escape(', '.join(undecided))}")
        elif not self._busy:
            self.status.setText("✓ Every field is decided.")

    # -- applying --------------------------------------------------------------------------

    def keep_mine(self) -> asyncio.Future[Any] | None:
        return self._spawn(KeepLocal())

    def take_theirs(self) -> asyncio.Future[Any] | None:
        return self._spawn(TakeServer())

    def apply_merge(self) -> asyncio.Future[Any] | None:
        value = self.merged_value()
        if value is None:
            self._show_notice("Decide every conflicting field first: " + ", ".join(self.undecided))
            return None
        return self._spawn(Merged(value=value))

    def _spawn(self, resolution: Resolution) -> asyncio.Future[Any] | None:
        if self._busy:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._show_notice("No asyncio loop is running; the dialog needs qasync's event loop to talk to the server.")
            return None
        self._task = task = loop.create_task(self.apply(resolution))

        def done(t: asyncio.Task[Any]) -> None:
            if self._task is t:
                self._task = None
            # Retrieve the exception (never "never retrieved"); a cancel is the person closing.
            exc = None if t.cancelled() else t.exception()
            if exc is not None:
                self._show_notice(f"Could not resolve: {exc}")

        task.add_done_callback(done)
        return task

    async def apply(self, resolution: Resolution) -> Conflict | None:
        """Re-check the server version, then resolve; returns the updated conflict, or
        ``None`` if the server moved (the view is reloaded for a new decision) or the
        conflict was resolved elsewhere meanwhile."""
        inbox = self.client.sync.conflicts
        finishes = self._finishes
        self._set_busy(True, "Checking that the server has not changed it again… (“Decide later” stops, applying nothing)")
        try:
            try:
                fresh = await inbox.check(self.conflict.id)
            except Exception as exc:
                # Cannot confirm the server's version (offline, server down): apply nothing.
                self._show_notice(f"Could not check the server's current version, so nothing was applied: {exc}")
                return None
            if self._finishes != finishes:
                # Closed ("Decide later", the close button) while checking: the person walked
                # away from this decision, so apply nothing; the conflict stays open.
                return None
            if fresh.server_version != self.conflict.server_version or fresh.server != self.conflict.server:
                self._server_moved(fresh)
                return None
            if fresh.state != "open":
                self._load(fresh)
                self._show_notice(f"This conflict was already resolved elsewhere ({fresh.resolution} by {fresh.resolved_by}).")
                return None
            self.status.setText("Applying…")
            try:
                updated = inbox.resolve(self.conflict.id, resolution, by=self.by)
            except ValidationError as exc:
                now = inbox.get(self.conflict.id)
                if now is not None and now.state != "open":
                    self._load(now)
                self._show_notice(f"Not applied: {exc}")
                return None
        finally:
            self._set_busy(False)
        self.result_conflict = updated
        if self._task is asyncio.current_task():
            self._task = None  # finishing by our own accept(): _on_finished must not cancel us
        self.resolved.emit(updated)
        self.accept()
        return updated

    def _server_moved(self, fresh: Conflict) -> None:
        old = self.conflict.server_version
        self._load(fresh)
        self._show_notice(
            f"⚠ The server changed this item again while you were deciding (version {old} → {fresh.server_version}). "
            "Nothing was applied. The view now shows the server's latest value: please review and choose again."
        )
        self.moved.emit(fresh)

    def _show_notice(self, text: str) -> None:
        self.notice.setText(html.escape(text, quote=False))
        self.notice.show()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if text:
            self.status.setText(text)
        # No edits while a decision is in flight: what is applied is what was on screen.
        self.grid_host.setEnabled(not busy)
        self._update_buttons()

    # -- awaiting ----------------------------------------------------------------------------

    def open(self) -> None:
        """Show the dialog without blocking anything; :meth:`wait` resolves when it closes.

        ``QDialog.open()`` would make it window-modal (the app's window frozen while a person
        reads three versions of a record); a conflict should not stop other work, so the
        dialog stays non-modal and never enters a nested event loop.
        """
        if self._future is not None and self._future.done():
            self._future = None  # opened again: a new outcome to wait for
        self._ensure_future()
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.show()
        self.raise_()
        self.activateWindow()

    def _ensure_future(self) -> asyncio.Future[Conflict | None] | None:
        if self._future is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                try:
                    loop = asyncio.get_event_loop_policy().get_event_loop()
                except RuntimeError:
                    return None
            self._future = loop.create_future()
        return self._future

    @property
    def result_future(self) -> asyncio.Future[Conflict | None] | None:
        """Completes with the updated conflict (or ``None`` if closed without deciding)."""
        return self._ensure_future()

    async def wait(self) -> Conflict | None:
        fut = self._ensure_future()
        assert fut is not None
        return await fut

    def _on_finished(self, _code: int) -> None:
        self._finishes += 1
        task, self._task = self._task, None
        if task is not None and not task.done():
            # Closed mid re-check: stop it (apply() also checks _finishes, for direct callers).
            task.cancel()
        fut = self._future
        if fut is not None and not fut.done():
            fut.set_result(self.result_conflict)

    @classmethod
    def ask(cls, client: Any, conflict: Conflict, parent: QWidget | None = None, **kw: Any) -> "ConflictDialog":
        """Open a dialog for ``conflict`` and return it (``await dlg.wait()`` for the outcome)."""
        dlg = cls(client, conflict, parent, **kw)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        dlg.open()
        return dlg


def conflict_summary(conflict: Conflict) -> Mapping[str, Any]:
    """A short, JSON-able description (used by the Conflicts panel)."""
    m = conflict.merge()
    return {"conflicting": list(m.conflicts), "merged": sorted(f for f, s in m.sides.items() if s != "conflict")}
