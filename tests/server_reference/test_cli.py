"""``python -m server_reference``: serves the given schema on SQLite and says where and how."""

from __future__ import annotations

from pathlib import Path

import httpx

import pytest

from server_reference import __main__ as cli
from server_reference.__main__ import main

from .live import ServerProcess, ops, query_op, write_op


def test_cli_serves_sqlite_and_logs_where(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with ServerProcess(["--db", str(db), "--schema", "tests.server_reference.schema:schema"]) as server:
        with httpx.Client(base_url=server.url) as c:
            ops(c, write_op("tasks", "create", [{"entityId": "t1", "value": {"title": "from the CLI"}}]))
            (res,) = ops(c, query_op("tasks"))
            assert res["data"]["items"][0]["title"] == "from the CLI"
    log = "".join(server.lines)
    assert f"backend: sqlite {db}" in log and f"listening on {server.url}" in log
    assert db.exists()


def test_cli_needs_a_schema_when_there_is_no_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "DEFAULT_SCHEMA", "no_such_package.schema:schema")
    assert main(["--db", "x.db"]) == 2
    assert "--schema is required" in capsys.readouterr().err


def test_cli_rejects_a_schema_that_is_not_one() -> None:
    with pytest.raises(SystemExit, match="is not an atoma.Schema"):
        cli.load_schema("tests.server_reference.schema:Task")
