"""Shared fixtures: PostgreSQL isolation (one schema per test) and small helpers.

PostgreSQL tests never skip in CI: when ``ATOMA_REQUIRE_PG`` or ``CI`` is set and the
server cannot be reached, they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _pg_required() -> bool:
    return bool(os.environ.get("ATOMA_REQUIRE_PG") or os.environ.get("CI"))


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The PostgreSQL DSN of the test server (``ATOMA_TEST_PG_DSN``), checked once."""
    dsn = os.environ.get("ATOMA_TEST_PG_DSN", DEFAULT_PG_DSN)
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        if _pg_required():
            pytest.fail(f"PostgreSQL is required (CI) but {dsn!r} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {dsn!r} (set ATOMA_TEST_PG_DSN): {exc}")
    return dsn


@pytest.fixture
def pg_schema_dsn(pg_dsn: str) -> Iterator[str]:
    """A DSN whose search_path is a fresh schema of its own, dropped afterwards.

    Each test sees only its own rows, so runs (and tests) never see each other's data.
    """
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield make_conninfo(pg_dsn, options=f"-csearch_path={schema}")
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
