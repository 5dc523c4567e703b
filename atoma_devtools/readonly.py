"""Opening a client database read-only, next to the app that syncs it.

:class:`ReadOnlyClient` is an :class:`atoma.Client` whose ``open()`` opens the file with
``SQLITE_OPEN_READONLY`` and never migrates, never takes the sync lock (no server is
configured) and never writes: any write attempt fails inside SQLite. Without the app's
schema, :func:`infer_schema` rebuilds one from the file (resource tables, index DDL, the
text-index registry in ``atoma_meta`` and a sample of the stored values).

Refreshing: :class:`DataVersionWatcher` polls ``PRAGMA data_version`` on a timer. We chose
it over a ``QFileSystemWatcher`` on the ``-wal`` file because ``data_version`` is exact --
it changes if and only if another connection committed -- and costs one trivial query,
whereas file watching is platform-dependent (inotify, kqueue and Windows notifications
differ), loses track when SQLite truncates or recreates the WAL at a checkpoint, fires for
the app's own read-side shared-memory traffic on some systems, and would still need a timer
to coalesce bursts.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

import apsw
import msgspec
from PySide6.QtCore import QObject, QTimer, Signal

import atoma
from atoma.database import FORMAT_VERSION, open_database
from atoma.errors import AtomaError

__all__ = ["ReadOnlyClient", "infer_schema", "check_atoma_database", "load_schema", "DataVersionWatcher"]

_FIELD_RE = re.compile(r"\$\.([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SAMPLE = 500


def infer_schema(path: str) -> atoma.Schema:
    """A schema good enough to browse and query ``path``: every resource table, its fields
    (from a sample of stored values, typed loosely), its indexes and text indexes.

    Raises :class:`atoma.AtomaError` (code ``DATABASE``) when ``path`` is not an Atoma client
    database."""
    conn = open_database(path, readonly=True)
    try:
        check_atoma_database(conn, path)
        return _infer(conn)
    finally:
        conn.close()


def check_atoma_database(conn: apsw.Connection, path: str) -> None:
    """Raise :class:`atoma.AtomaError` unless ``conn`` holds an Atoma client database whose
    format this version understands (read-only: nothing is created or migrated)."""
    try:
        has_meta = conn.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'atoma_meta'").fetchone()
        version = conn.pragma("user_version")
    except apsw.Error as exc:  # e.g. NotADBError: some other kind of file
        raise AtomaError(f"{path!r} is not an SQLite database: {exc}", code="DATABASE") from exc
    if not has_meta:
        raise AtomaError(f"{path!r} is an SQLite database but not an Atoma client database (it has no atoma_meta table)", code="DATABASE")
    if version > FORMAT_VERSION:
        raise AtomaError(f"database format {version} is newer than this Atoma understands ({FORMAT_VERSION})", code="DATABASE")


def _infer(conn: apsw.Connection) -> atoma.Schema:
    tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'r\\_%' ESCAPE '\\' ORDER BY name")]
    text_fields: dict[str, dict[int, list[str]]] = {}
    for key, value in conn.execute("SELECT key, value FROM atoma_meta WHERE key LIKE 'fts:fts\\_%' ESCAPE '\\'"):
        res, n = key[len("fts:fts_") :].rsplit("_", 1)
        text_fields.setdefault(res, {})[int(n)] = [f for f in str(value).split(",") if f]
    resources = []
    for table in tables:
        name = table[2:]
        if not _IDENT.match(name):
            continue
        fields: dict[str, None] = {}
        for (data,) in conn.execute(f'SELECT data FROM "{table}" WHERE deleted = 0 ORDER BY rid DESC LIMIT {_SAMPLE}'):
            try:
                value = msgspec.json.decode(data)
            except msgspec.DecodeError:
                continue
            if isinstance(value, dict):
                fields.update(dict.fromkeys(k for k in value if isinstance(k, str) and _IDENT.match(k)))
        indexes: list[Any] = []
        for ix_name, sql in conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ix\\_%' ESCAPE '\\'", (table,)):
            ix_fields = _FIELD_RE.findall(sql or "")
            if ix_fields:
                fields.update(dict.fromkeys(ix_fields))
                indexes.append(atoma.Index(*ix_fields, unique=(sql or "").upper().startswith("CREATE UNIQUE")))
        texts = text_fields.get(name, {})
        for n in sorted(texts):
            fields.update(dict.fromkeys(texts[n]))
        text_set = {f for fs in texts.values() for f in fs}
        specs = [(f, (str | None) if f in text_set else Any, None) for f in fields if f not in ("id", "version")]
        entity = msgspec.defstruct(f"{name.title().replace('_', '')}Record", specs, bases=(atoma.Entity,), kw_only=True)
        indexes += [atoma.TextIndex(*texts[n]) for n in sorted(texts)]
        resources.append(atoma.Resource(name, entity, indexes=indexes))
    return atoma.Schema(resources)


def load_schema(spec: str) -> atoma.Schema:
    """``"package.module:attribute"`` -> the application's :class:`atoma.Schema`."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"--schema wants 'module:attribute', got {spec!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, atoma.Schema):
        raise TypeError(f"{spec} is a {type(obj).__name__}, not an atoma.Schema")
    return obj


class ReadOnlyClient(atoma.Client):
    """A client over ``path`` that only reads: no migration, no sync lock, no writes.

    ``schema`` defaults to :func:`infer_schema`. Safe to open while another process syncs
    the same file (WAL lets readers and one writer work at once).
    """

    def __init__(self, path: str, schema: atoma.Schema | None = None) -> None:
        path = str(path)
        if not os.path.isfile(path):
            raise AtomaError(f"no database at {path!r}", code="DATABASE")
        super().__init__(path, schema if schema is not None else infer_schema(path), server=None, history=False)

    def open(self) -> "ReadOnlyClient":
        if self._conn is None:
            conn = open_database(self.path, readonly=True)
            try:
                check_atoma_database(conn, self.path)
            except AtomaError:
                conn.close()
                raise
            self._conn = conn
        return self

    async def start(self) -> "ReadOnlyClient":
        return self.open()

    @property
    def readonly(self) -> bool:
        return True

    def data_version(self) -> int:
        """SQLite's ``data_version``: changes whenever another connection commits."""
        return int(self._connection().pragma("data_version"))


class DataVersionWatcher(QObject):
    """Emits ``changed`` (coalesced: at most once per ``interval_ms``) when another process
    commits to the database of ``client``."""

    changed = Signal()

    def __init__(self, client: ReadOnlyClient, interval_ms: int = 300, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.changes = 0
        self._version = client.data_version()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def poll(self) -> bool:
        if not self.client.is_open:
            self.timer.stop()
            return False
        v = self.client.data_version()
        if v != self._version:
            self._version = v
            self.changes += 1
            self.changed.emit()
            return True
        return False

    def stop(self) -> None:
        self.timer.stop()
