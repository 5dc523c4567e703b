"""The server tables on PostgreSQL: versioned migrations, and the per-resource indexes.

The same tables as on SQLite (see :mod:`.sqlite_schema`), plus ``atoma_feed``: a one-row
counter from which each writing transaction takes its cursors at the very end, under the
row's lock, so cursors are assigned in commit order and a pull can never skip a change that
commits late. Migrations run under an advisory lock, so several server processes may start
at once.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import psycopg

from atoma.schema import Resource, Schema

from ..writes import text_words
from .pg_sql import field_sql

__all__ = ["MIGRATIONS", "migrate", "index_name"]

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "server tables",
        (
            """CREATE TABLE atoma_entities (
                resource text NOT NULL,
                id text COLLATE "C" NOT NULL,
                version bigint NOT NULL,
                deleted boolean NOT NULL DEFAULT false,
                data jsonb NOT NULL,
                words jsonb,
                PRIMARY KEY (resource, id)
            )""",
            """CREATE TABLE atoma_changes (
                cursor bigint PRIMARY KEY,
                resource text NOT NULL,
                entity_id text NOT NULL,
                kind text NOT NULL,
                version bigint NOT NULL,
                changed_at_ms bigint NOT NULL
            )""",
            "CREATE INDEX atoma_changes_resource_cursor ON atoma_changes(resource, cursor)",
            """CREATE TABLE atoma_feed (
                one boolean PRIMARY KEY DEFAULT true CHECK (one),
                head bigint NOT NULL
            )""",
            "INSERT INTO atoma_feed(one, head) VALUES (true, 0)",
            """CREATE TABLE atoma_idempotency (
                key text PRIMARY KEY,
                outcome text,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL
            )""",
            "CREATE INDEX atoma_idempotency_expires_at ON atoma_idempotency(expires_at)",
            """CREATE TABLE atoma_devices (
                device_id text PRIMARY KEY,
                last_cursor bigint NOT NULL,
                seen_at bigint NOT NULL
            )""",
            "CREATE TABLE atoma_meta (key text PRIMARY KEY, value text NOT NULL)",
            """CREATE FUNCTION atoma_rank(v jsonb) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE jsonb_typeof(v) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2
                       WHEN 'object' THEN 3 WHEN 'array' THEN 3 ELSE 0 END $$""",
            """CREATE FUNCTION atoma_num(v jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE jsonb_typeof(v) WHEN 'number' THEN v::numeric
                       WHEN 'boolean' THEN CASE WHEN v::boolean THEN 1 ELSE 0 END ELSE 0 END::numeric $$""",
            """CREATE FUNCTION atoma_txt(v jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' ELSE '' END $$""",
        ),
    ),
)
"""(version, name, statements): append a step to change the layout of existing databases."""


def index_name(resource: str, fields: tuple[str, ...], unique: bool) -> str:
    """The name of a declared Index's expression index (prefix ``ax_`` marks ours)."""
    return f"ax_{resource}_{'_'.join(fields)}{'_u' if unique else ''}"[:63]


def migrate(conn: psycopg.Connection, schema: Schema, now_ms: Callable[[], int]) -> list[str]:
    """Apply pending migrations, then the schema's indexes and word lists, in one transaction."""
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.atoma_migrations'))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS atoma_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at_ms bigint NOT NULL)"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM atoma_migrations").fetchone()
        current = row[0] if row else 0
        latest = MIGRATIONS[-1][0]
        if current > latest:
            raise RuntimeError(f"server database is at migration {current}, newer than this server ({latest})")
        for version, name, statements in MIGRATIONS:
            if version > current:
                for sql in statements:
                    conn.execute(sql)  # type: ignore[call-overload]
                conn.execute("INSERT INTO atoma_migrations VALUES (%s, %s, %s)", (version, name, now_ms()))
                done.append(f"migration {version}: {name}")
        done += _sync_indexes(conn, schema)
        for res in schema:
            done += _sync_words(conn, res)
    return done


def _sync_indexes(conn: psycopg.Connection, schema: Schema) -> list[str]:
    done: list[str] = []
    wanted: dict[str, str] = {}
    for res in schema:
        for ix in res.indexes:
            cols = ", ".join(e for f in ix.fields for e in field_sql(f, res.fields))
            unique = "UNIQUE " if ix.unique else ""
            tail = "" if ix.unique else ", id"
            name = index_name(res.name, ix.fields, ix.unique)
            # Partial per resource and on live rows; the resource name is a checked identifier.
            wanted[name] = (
                f'CREATE {unique}INDEX "{name}" ON atoma_entities(resource, {cols}{tail}) '
                f"WHERE resource = '{res.name}' AND NOT deleted"
            )
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'atoma_entities' AND indexname LIKE 'ax\\_%%'"
        )
    }
    for name in sorted(existing - wanted.keys()):
        conn.execute(f'DROP INDEX "{name}"')  # type: ignore[call-overload]
        done.append(f"drop index {name}")
    for name, ddl in wanted.items():
        if name not in existing:
            conn.execute(ddl)  # type: ignore[call-overload]
            done.append(f"create index {name}")
    return done


def _sync_words(conn: psycopg.Connection, res: Resource) -> list[str]:
    """Recompute the stored word lists when the resource's TextIndex fields changed."""
    declared = ",".join(sorted(res.text_fields))
    key = f"text_fields:{res.name}"
    row = conn.execute("SELECT value FROM atoma_meta WHERE key = %s", (key,)).fetchone()
    if (row[0] if row else "") == declared:
        return []
    decode = msgspec.json.decode
    rows = conn.execute(
        "SELECT id, data::text FROM atoma_entities WHERE resource = %s AND NOT deleted", (res.name,)
    ).fetchall()
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE atoma_entities SET words = %s::jsonb WHERE resource = %s AND id = %s",
            [(_text(text_words(res, decode(data))), res.name, eid) for eid, data in rows],
        )
    conn.execute(
        "INSERT INTO atoma_meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, declared),
    )
    return [f"text fields of {res.name}: {declared or '-'} ({len(rows)} rows)"]


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode()
