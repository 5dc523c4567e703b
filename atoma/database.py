"""The client's SQLite file: opening it (WAL, durability), and migrating its layout in place.

Layout (``PRAGMA user_version`` = :data:`FORMAT_VERSION`):

* ``r_<resource>`` — one row per entity: ``rid`` (rowid, used by FTS), ``id``, ``version``
  (the server version the local copy is based on), ``deleted`` (tombstone flag),
  ``data`` (the entity as JSON text), ``pending`` (unacknowledged intents) and ``base``
  (the server value the pending edits were made on; once sync runs, the newest server value
  known while intents are unsettled) and ``server_version`` (the newest server version known,
  format 2).
* ``ix_<resource>_<fields>`` — a partial expression index per declared :class:`Index`.
* ``fts_<resource>_<n>`` — a contentless FTS5 table per :class:`TextIndex`, kept by triggers.
* ``atoma_outbox`` — the durable intents (see :mod:`atoma.outbox`).
* ``atoma_meta`` — key/value facts (device id, sync cursor, ...).
* ``atoma_history`` / ``atoma_history_changes`` — undo/redo steps (see :mod:`atoma.history`).
* ``atoma_conflicts`` — the conflict inbox (see :mod:`atoma.sync.conflict_inbox`).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import apsw

from .errors import AtomaError, ValidationError
from .schema import Index, Resource, Schema, TextIndex
from .sqlite_sql import FOLD_FUNCTION, field_expr, fold_sql_function

__all__ = ["open_database", "migrate", "table_of", "index_name", "fts_name", "Durability", "FORMAT_VERSION"]

Durability = Literal["normal", "full"]
FORMAT_VERSION = 5
FTS_TOKENIZE = "unicode61 remove_diacritics 0 categories 'L* N* Co'"

# Internal layout migrations, by the user_version they lead to. Appending a step here is
# how a later release changes the layout of existing files.
_FORMAT_STEPS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE IF NOT EXISTS atoma_meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID",
            """CREATE TABLE IF NOT EXISTS atoma_outbox (
                seq INTEGER PRIMARY KEY,
                resource TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                action TEXT NOT NULL,
                value TEXT,
                changed TEXT,
                base_version INTEGER NOT NULL,
                base TEXT,
                idempotency_key TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                next_attempt_at_ms INTEGER,
                last_error TEXT,
                origin TEXT NOT NULL DEFAULT 'local'
            )""",
            "CREATE INDEX IF NOT EXISTS atoma_outbox_entity ON atoma_outbox(resource, entity_id, seq)",
        ),
    ),
    (
        # Sync (issue #4): the push lane scans by state; entity tables gain server_version
        # (added per table by _migrate_resource, since the tables depend on the schema).
        2,
        ("CREATE INDEX IF NOT EXISTS atoma_outbox_state ON atoma_outbox(state, seq)",),
    ),
    (
        # Undo/redo history (issue #7): steps per scope and the entity changes of each step.
        3,
        (
            """CREATE TABLE IF NOT EXISTS atoma_history (
                id INTEGER PRIMARY KEY,
                scope TEXT NOT NULL,
                label TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'done',
                created_at_ms INTEGER NOT NULL,
                resources TEXT NOT NULL DEFAULT '[]',
                change_count INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX IF NOT EXISTS atoma_history_scope ON atoma_history(scope, id)",
            """CREATE TABLE IF NOT EXISTS atoma_history_changes (
                step_id INTEGER NOT NULL REFERENCES atoma_history(id) ON DELETE CASCADE,
                n INTEGER NOT NULL,
                resource TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                before TEXT,
                after TEXT,
                changed TEXT,
                seq INTEGER,
                PRIMARY KEY (step_id, n)
            ) WITHOUT ROWID""",
        ),
    ),
    (
        # The conflict inbox (issue #5): every conflict with its three copies, open or resolved.
        4,
        (
            """CREATE TABLE IF NOT EXISTS atoma_conflicts (
                id INTEGER PRIMARY KEY,
                resource TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                seq INTEGER,
                state TEXT NOT NULL DEFAULT 'open',
                strategy TEXT NOT NULL,
                base TEXT,
                base_version INTEGER NOT NULL,
                local TEXT,
                local_changed TEXT,
                idempotency_key TEXT NOT NULL,
                server TEXT,
                server_version INTEGER NOT NULL,
                detected_at_ms INTEGER NOT NULL,
                resolved_at_ms INTEGER,
                resolution TEXT,
                resolved_by TEXT,
                covers_seq INTEGER
            )""",
            "CREATE INDEX IF NOT EXISTS atoma_conflicts_state ON atoma_conflicts(state, id)",
            "CREATE INDEX IF NOT EXISTS atoma_conflicts_entity ON atoma_conflicts(resource, entity_id, state)",
        ),
    ),
    (
        # Outbox sequence numbers are never reused (AUTOINCREMENT): a seq names one intent for
        # good, so confirm(seq) can never report an unrelated write. SQLite cannot add
        # AUTOINCREMENT in place: the table is rebuilt, keeping every intent and its seq.
        5,
        (
            """CREATE TABLE atoma_outbox_v5 (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                resource TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                action TEXT NOT NULL,
                value TEXT,
                changed TEXT,
                base_version INTEGER NOT NULL,
                base TEXT,
                idempotency_key TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                next_attempt_at_ms INTEGER,
                last_error TEXT,
                origin TEXT NOT NULL DEFAULT 'local'
            )""",
            "INSERT INTO atoma_outbox_v5 SELECT * FROM atoma_outbox",
            "DROP TABLE atoma_outbox",
            "ALTER TABLE atoma_outbox_v5 RENAME TO atoma_outbox",
            "CREATE INDEX atoma_outbox_entity ON atoma_outbox(resource, entity_id, seq)",
            "CREATE INDEX atoma_outbox_state ON atoma_outbox(state, seq)",
        ),
    ),
)


def table_of(resource: str) -> str:
    return f"r_{resource}"


def index_name(resource: str, ix: Index) -> str:
    return f"ix_{resource}_{'_'.join(ix.fields)}{'_u' if ix.unique else ''}"


def fts_name(resource: str, n: int) -> str:
    return f"fts_{resource}_{n}"


def open_database(path: str, *, durability: Durability = "normal", readonly: bool = False) -> apsw.Connection:
    """Open (or create) a client database with WAL and the requested durability.

    ``normal`` (default) survives a process crash at any instant; ``full`` also survives a
    power loss at the price of an fsync per commit.
    """
    if durability not in ("normal", "full"):
        raise ValidationError(f"durability must be 'normal' or 'full', got {durability!r}", path="durability")
    if path != ":memory:" and not readonly:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ValidationError(f"database folder {parent!r} does not exist", path="path")
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    try:
        conn = apsw.Connection(path, flags=flags)
        conn.set_busy_timeout(5000)
        if not readonly:
            conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", "FULL" if durability == "full" else "NORMAL")
        conn.pragma("foreign_keys", True)
        # 16 MiB of page cache (default 2 MiB): reads by views and the inspector then do not
        # push the index pages the next write needs out of the cache.
        conn.pragma("cache_size", -16384)
    except apsw.Error as exc:
        raise AtomaError(f"cannot open database {path!r}: {exc}", code="DATABASE") from exc
    conn.create_scalar_function(FOLD_FUNCTION, fold_sql_function, 1, deterministic=True)
    return conn


def _has(conn: apsw.Connection, kind: str, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?", (kind, name)).fetchone() is not None


def migrate(conn: apsw.Connection, schema: Schema) -> list[str]:
    """Bring the file's layout up to date with the code and ``schema``, in place, atomically.

    Adds missing resource tables, indexes and full-text indexes (filling them from the rows
    already there) and drops indexes no longer declared. Returns what it did, for logging.
    """
    done: list[str] = []
    with conn:
        current = conn.pragma("user_version")
        if current > FORMAT_VERSION:
            raise AtomaError(
                f"database format {current} is newer than this Atoma understands ({FORMAT_VERSION})", code="DATABASE"
            )
        for version, statements in _FORMAT_STEPS:
            if current < version:
                for sql in statements:
                    conn.execute(sql)
                conn.pragma("user_version", version)
                done.append(f"format -> {version}")
        for res in schema:
            done += _migrate_resource(conn, res)
    return done


def _migrate_resource(conn: apsw.Connection, res: Resource) -> list[str]:
    done: list[str] = []
    table = table_of(res.name)
    if not _has(conn, "table", table):
        conn.execute(
            f'CREATE TABLE "{table}" (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, '
            "version INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, "
            "data TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0, base TEXT, "
            "server_version INTEGER NOT NULL DEFAULT 0)"
        )
        done.append(f"create table {table}")
    elif not any(r[1] == "server_version" for r in conn.execute(f'PRAGMA table_info("{table}")')):
        # Files made before format 2: start from the version the local copy is based on.
        conn.execute(f'ALTER TABLE "{table}" ADD COLUMN server_version INTEGER NOT NULL DEFAULT 0')
        conn.execute(f'UPDATE "{table}" SET server_version = version')
        done.append(f"add column {table}.server_version")
    wanted = {index_name(res.name, ix): ix for ix in res.indexes}
    existing = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ix\\_%' ESCAPE '\\'",
            (table,),
        )
    }
    for name in sorted(existing - set(wanted)):
        conn.execute(f'DROP INDEX "{name}"')
        done.append(f"drop index {name}")
    for name, ix in wanted.items():
        if name not in existing:
            cols = ", ".join(field_expr(f, res.fields) for f in ix.fields)
            # Partial on live rows: tombstones never match a query, so they need no entries.
            unique = "UNIQUE " if ix.unique else ""
            tail = "" if ix.unique else ", id"
            conn.execute(f'CREATE {unique}INDEX "{name}" ON "{table}"({cols}{tail}) WHERE deleted = 0')
            done.append(f"create index {name}")
    for n, tx in enumerate(res.text_indexes):
        done += _migrate_fts(conn, res, n, tx)
    # Text indexes no longer declared: drop their tables and triggers (they cost every write).
    stale = conn.execute(
        "SELECT key FROM atoma_meta WHERE key LIKE ? ESCAPE '\\'", (f"fts:fts\\_{res.name}\\_%",)
    ).fetchall()
    for (key,) in stale:
        fts = key[4:]
        if int(fts.rsplit("_", 1)[1]) >= len(res.text_indexes):
            _drop_fts(conn, fts)
            conn.execute("DELETE FROM atoma_meta WHERE key = ?", (key,))
            done.append(f"drop text index {fts}")
    return done


def _drop_fts(conn: apsw.Connection, fts: str) -> None:
    conn.execute(f'DROP TABLE IF EXISTS "{fts}"')
    for suffix in ("ai", "au", "ad"):
        conn.execute(f'DROP TRIGGER IF EXISTS "{fts}_{suffix}"')


def _migrate_fts(conn: apsw.Connection, res: Resource, n: int, tx: TextIndex) -> list[str]:
    table, fts = table_of(res.name), fts_name(res.name, n)
    cols = [res.fields[f].encode_name for f in tx.fields]
    declared = ",".join(cols)
    row = conn.execute("SELECT value FROM atoma_meta WHERE key = ?", (f"fts:{fts}",)).fetchone()
    if row is not None and row[0] == declared:
        return []
    if row is not None:  # the TextIndex at this position changed its fields: rebuild it
        _drop_fts(conn, fts)
    exprs = ", ".join(f"json_extract(new.data, '$.{c}')" for c in cols)
    col_list = ", ".join(f'"{c}"' for c in cols)
    conn.execute(
        f'CREATE VIRTUAL TABLE "{fts}" USING fts5({col_list}, tokenize="{FTS_TOKENIZE}", '
        "content='', contentless_delete=1)"
    )
    conn.execute(
        f'CREATE TRIGGER "{fts}_ai" AFTER INSERT ON "{table}" WHEN new.deleted = 0 BEGIN '
        f'INSERT INTO "{fts}"(rowid, {col_list}) VALUES (new.rid, {exprs}); END'
    )
    conn.execute(
        f'CREATE TRIGGER "{fts}_au" AFTER UPDATE OF data, deleted ON "{table}" BEGIN '
        f'DELETE FROM "{fts}" WHERE rowid = old.rid; '
        f'INSERT INTO "{fts}"(rowid, {col_list}) SELECT new.rid, {exprs} WHERE new.deleted = 0; END'
    )
    conn.execute(f'CREATE TRIGGER "{fts}_ad" AFTER DELETE ON "{table}" BEGIN DELETE FROM "{fts}" WHERE rowid = old.rid; END')
    backfill = ", ".join(f"json_extract(data, '$.{c}')" for c in cols)
    conn.execute(f'INSERT INTO "{fts}"(rowid, {col_list}) SELECT rid, {backfill} FROM "{table}" WHERE deleted = 0')
    conn.execute("INSERT OR REPLACE INTO atoma_meta(key, value) VALUES (?, ?)", (f"fts:{fts}", declared))
    return [f"create text index {fts}"]


def meta_get(conn: apsw.Connection, key: str) -> Any:
    row = conn.execute("SELECT value FROM atoma_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def meta_set(conn: apsw.Connection, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO atoma_meta(key, value) VALUES (?, ?)", (key, value))
