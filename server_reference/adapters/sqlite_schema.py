"""The server tables on SQLite: versioned migrations, and the per-resource indexes of a schema.

Tables (the same on PostgreSQL, see :mod:`.pg_schema`):

* ``atoma_entities(resource, id, version, deleted, data, words)``, primary key
  ``(resource, id)``: every entity of every resource; a delete leaves a tombstone
  (``deleted = 1``) that keeps its version; ``words`` holds the TextIndex word lists;
* ``atoma_changes(cursor, resource, entity_id, kind, version, changed_at_ms)``, indexed on
  ``(resource, cursor)``: the change feed;
* ``atoma_idempotency(key, outcome, created_at, expires_at)``, indexed on ``expires_at``;
* ``atoma_devices(device_id, last_cursor, seen_at)``: the last cursor each device pulled from;
* ``atoma_meta(key, value)``: facts such as ``trimmed_through`` and the text fields per resource;
* ``atoma_migrations(version, name, applied_at_ms)``.
"""

from __future__ import annotations

from collections.abc import Callable

import apsw
import msgspec

from atoma.schema import Resource, Schema
from atoma.sqlite_sql import field_expr

from ..writes import text_words

__all__ = ["MIGRATIONS", "migrate", "index_name", "ENTITIES"]

ENTITIES = "atoma_entities"

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "server tables",
        (
            """CREATE TABLE atoma_entities (
                resource TEXT NOT NULL,
                id TEXT NOT NULL,
                version INTEGER NOT NULL,
                deleted INTEGER NOT NULL DEFAULT 0,
                data TEXT NOT NULL,
                words TEXT,
                PRIMARY KEY (resource, id)
            ) WITHOUT ROWID""",
            """CREATE TABLE atoma_changes (
                cursor INTEGER PRIMARY KEY AUTOINCREMENT,
                resource TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                version INTEGER NOT NULL,
                changed_at_ms INTEGER NOT NULL
            )""",
            "CREATE INDEX atoma_changes_resource_cursor ON atoma_changes(resource, cursor)",
            """CREATE TABLE atoma_idempotency (
                key TEXT PRIMARY KEY,
                outcome TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            ) WITHOUT ROWID""",
            "CREATE INDEX atoma_idempotency_expires_at ON atoma_idempotency(expires_at)",
            """CREATE TABLE atoma_devices (
                device_id TEXT PRIMARY KEY,
                last_cursor INTEGER NOT NULL,
                seen_at INTEGER NOT NULL
            ) WITHOUT ROWID""",
            "CREATE TABLE atoma_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        ),
    ),
)
"""(version, name, statements): append a step to change the layout of existing databases."""


def index_name(resource: str, fields: tuple[str, ...], unique: bool) -> str:
    """The name of a declared Index's expression index (prefix ``ax_`` marks ours)."""
    return f"ax_{resource}_{'_'.join(fields)}{'_u' if unique else ''}"


def migrate(conn: apsw.Connection, schema: Schema, now_ms: Callable[[], int]) -> list[str]:
    """Apply pending migrations, then the schema's indexes and word lists; returns what it did."""
    done: list[str] = []
    with conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS atoma_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM atoma_migrations").fetchone()[0]
        latest = MIGRATIONS[-1][0]
        if current > latest:
            raise RuntimeError(f"server database is at migration {current}, newer than this server ({latest})")
        for version, name, statements in MIGRATIONS:
            if version > current:
                for sql in statements:
                    conn.execute(sql)
                conn.execute("INSERT INTO atoma_migrations VALUES (?, ?, ?)", (version, name, now_ms()))
                done.append(f"migration {version}: {name}")
        done += _sync_indexes(conn, schema)
        for res in schema:
            done += _sync_words(conn, res)
    return done


def _sync_indexes(conn: apsw.Connection, schema: Schema) -> list[str]:
    done: list[str] = []
    wanted: dict[str, str] = {}
    for res in schema:
        for ix in res.indexes:
            cols = ", ".join(field_expr(f, res.fields) for f in ix.fields)
            # Partial per resource and on live rows only; the resource name is a checked identifier.
            unique = "UNIQUE " if ix.unique else ""
            tail = "" if ix.unique else ", id"
            wanted[index_name(res.name, ix.fields, ix.unique)] = (
                f'CREATE {unique}INDEX "{{name}}" ON {ENTITIES}({cols}{tail}) '
                f"WHERE resource = '{res.name}' AND deleted = 0"
            )
    existing = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND name LIKE 'ax\\_%' ESCAPE '\\'",
            (ENTITIES,),
        )
    }
    for name in sorted(existing - wanted.keys()):
        conn.execute(f'DROP INDEX "{name}"')
        done.append(f"drop index {name}")
    for name, ddl in wanted.items():
        if name not in existing:
            conn.execute(ddl.format(name=name))
            done.append(f"create index {name}")
    return done


def _sync_words(conn: apsw.Connection, res: Resource) -> list[str]:
    """Recompute the stored word lists when the resource's TextIndex fields changed."""
    declared = ",".join(sorted(res.text_fields))
    key = f"text_fields:{res.name}"
    row = conn.execute("SELECT value FROM atoma_meta WHERE key = ?", (key,)).fetchone()
    if (row[0] if row else "") == declared:
        return []
    decode = msgspec.json.decode
    rows = conn.execute(
        f"SELECT id, data FROM {ENTITIES} WHERE resource = ? AND deleted = 0", (res.name,)
    ).fetchall()
    for eid, data in rows:
        w = text_words(res, decode(data))
        conn.execute(
            f"UPDATE {ENTITIES} SET words = ? WHERE resource = ? AND id = ?",
            (None if w is None else w.decode(), res.name, eid),
        )
    conn.execute("INSERT OR REPLACE INTO atoma_meta(key, value) VALUES (?, ?)", (key, declared))
    return [f"text fields of {res.name}: {declared or '-'} ({len(rows)} rows)"]
