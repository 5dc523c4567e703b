"""Shared fixtures: PostgreSQL isolation (one schema per test), where screenshots go, and
small helpers.

PostgreSQL tests never skip in CI: when ``ATOMA_REQUIRE_PG`` or ``CI`` is set and the
server cannot be reached, they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session", autouse=True)
def _private_user_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Per-user settings (Qt's default ``QSettings()``, e.g. ``atoma-devtools``' layout) go to
    a folder of this run: tests never read or write the developer's own (XDG, so Linux;
    subprocesses inherit it)."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("user-config"))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = old


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test writes the screenshots it takes (``QWidget.grab()``) to be looked at.

    ``$ATOMA_SHOTS_DIR/<test module>/`` when set (``make test`` sets ``.atoma/test-shots``,
    so every run leaves them as artifacts), else pytest's ``tmp_path``.
    """
    root = os.environ.get("ATOMA_SHOTS_DIR")
    if root:
        module = request.node.module.__name__.removeprefix("tests.")
        d = Path(root, *module.split("."))
    else:
        d = tmp_path / "shots"
    d.mkdir(parents=True, exist_ok=True)
    return d
