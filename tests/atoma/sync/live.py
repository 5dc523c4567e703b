"""A real reference server (uvicorn, SQLite adapter) in a thread on 127.0.0.1, restartable on
the same port and file -- for the end-to-end sync tests and the benchmark."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import apsw

import atoma


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, db_path: str, schema: atoma.Schema, *, heartbeat_s: float = 0.5, retry_ms: int = 200, port: int | None = None) -> None:
        self.db_path = db_path
        self.schema = schema
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        self.port = port or free_port()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "LiveServer":
        from server_reference import SQLiteAdapter, SubscribeSettings, create_app, make_server

        app = create_app(
            SQLiteAdapter(self.db_path, self.schema),
            subscribe=SubscribeSettings(heartbeat_s=self.heartbeat_s, retry_ms=self.retry_ms, min_notify_interval_ms=20),
        )
        self._server = make_server(app, port=self.port, log_level="warning", timeout_graceful_shutdown=1)
        self._thread = threading.Thread(target=self._server.run, name=f"atoma-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("server thread did not stop")
        self._server = self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- reading the server's own tables (the change log is the proof of exactly-once) --------
    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = apsw.Connection(self.db_path, flags=apsw.SQLITE_OPEN_READONLY)
        conn.set_busy_timeout(5000)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def changes_per_entity(self, resource: str) -> dict[str, int]:
        return dict(self.query("SELECT entity_id, count(*) FROM atoma_changes WHERE resource = ? GROUP BY entity_id", (resource,)))

    def entities(self, resource: str) -> dict[str, tuple[int, bool, str]]:
        return {r[0]: (r[1], bool(r[2]), r[3]) for r in self.query("SELECT id, version, deleted, data FROM atoma_entities WHERE resource = ?", (resource,))}
