"""The reference server as a child process, for the demo: start, wait until it answers, stop.

It runs ``python -m server_reference`` on a free port of 127.0.0.1 (``--port 0``: the server
binds the port itself and logs ``listening on http://...``, so no other program can take the
port between choosing and binding it), on the embedded SQLite backend, with its log in a
file next to the database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "ServerError"]

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (http://\S+)")


class ServerError(RuntimeError):
    """The server did not start (the message ends with the tail of its log)."""


class ServerProcess:
    """``with ServerProcess(db, log) as server: ... server.url ...``."""

    def __init__(self, db: Path, log: Path, *, schema: str = "examples.tasks.schema:schema", host: str = "127.0.0.1") -> None:
        self.db, self.log, self.schema, self.host = Path(db), Path(log), schema, host
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and return its URL once it answers ``POST /ops``."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cmd = [
            sys.executable, "-m", "server_reference", "--db", str(self.db), "--host", self.host, "--port", "0",
            "--schema", self.schema,
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            self.url = self._wait_for_url(deadline)
            self._wait_until_answering(deadline)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _fail(self, why: str) -> ServerError:
        tail = self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
        return ServerError(f"{why}; server log ({self.log}):\n  " + "\n  ".join(tail))

    def _wait_for_url(self, deadline: float) -> str:
        assert self.proc is not None
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                raise self._fail(f"the server exited with code {self.proc.returncode}")
            time.sleep(0.05)
        raise self._fail("the server did not report its address in time")

    def _wait_until_answering(self, deadline: float) -> None:
        # An empty batch of ops is a valid request: any 200 answer means the app is up.
        assert self.proc is not None
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                try:
                    if http.post("/ops", json={"meta": {"v": 1}, "ops": []}).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None:
                    raise self._fail(f"the server exited with code {self.proc.returncode}")
                time.sleep(0.05)
        raise self._fail(f"the server at {self.url} did not answer in time")

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the server to stop (SIGTERM: uvicorn shuts down gracefully), kill it if it
        does not stop in ``timeout`` seconds; returns its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return proc.returncode

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
