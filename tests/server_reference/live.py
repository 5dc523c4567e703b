"""A live reference server for tests: the real app under uvicorn on a free loopback port.

``LiveServer(app).start()`` runs uvicorn in a background thread with its own event loop and
returns once uvicorn has started (or raises when it fails or the deadline passes);
``stop()`` ends streams and shuts it down. ``ServerProcess`` runs ``python -m
server_reference`` in a subprocess (for tests that need two server processes).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from server_reference.serve import AtomaUvicorn, bind_socket, make_server

__all__ = ["LiveServer", "ServerProcess", "ops", "write_op", "query_op", "pull_op"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Signalled(AtomaUvicorn):
    """Sets a threading.Event once startup is over (whether it succeeded or not)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


class LiveServer:
    """The app served by uvicorn in a thread; ``url`` is its base URL."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = bind_socket("127.0.0.1", 0)
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        base = make_server(app, "127.0.0.1", self.port, log_level="warning", timeout_graceful_shutdown=3)
        self.server = _Signalled(base.config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.error: BaseException | None = None

    def server_loop(self) -> Any:
        """The event loop uvicorn runs on (for closing a mounted app from a test)."""
        return self._loop

    @property
    def atoma(self) -> Any:
        """The app's :class:`server_reference.AtomaServer`."""
        return self.app.state.atoma

    def _run(self) -> None:
        import asyncio

        try:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by start()
            self.error = exc
        finally:
            self.server.ready.set()
            self._loop.close()

    def start(self, timeout: float = 20.0) -> "LiveServer":
        self.thread.start()
        if not self.server.ready.wait(timeout):
            raise TimeoutError(f"uvicorn did not start within {timeout} s")
        if not self.server.started:
            self.thread.join(timeout)
            self.sock.close()
            raise RuntimeError(f"uvicorn failed to start: {self.error!r}")
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        if self.thread.is_alive():
            raise TimeoutError("uvicorn did not stop in time")

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess:
    """``python -m server_reference ...`` in a subprocess, on a free port; ``url`` once started."""

    _LISTENING = re.compile(r"listening on (http://\S+)")

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, self.env.get("PYTHONPATH")]))
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.lines: list[str] = []

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "server_reference", "--port", "0", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        done = threading.Event()  # set once startup completed, or the process ended

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                m = self._LISTENING.search(line)
                if m:
                    self.url = m.group(1)
                if "Application startup complete" in line:
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(timeout) or not self.url or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("server process did not start:\n" + "".join(self.lines))
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- request builders ----------------------------------------------------------------------------

def _key() -> str:
    return f"k-{os.urandom(8).hex()}"


def write_op(resource: str, action: str, items: list[dict[str, Any]], op_id: str = "w", **options: Any) -> dict[str, Any]:
    """A write op; items get a fresh idempotency key unless they carry ``meta``."""
    out = []
    for item in items:
        item = dict(item)
        item.setdefault("meta", {"idempotencyKey": _key()})
        out.append(item)
    op: dict[str, Any] = {"opId": op_id, "kind": "write", "resource": resource, "action": action, "items": out}
    if options:
        op["options"] = options
    return op


def query_op(resource: str, op_id: str = "q", **params: Any) -> dict[str, Any]:
    return {"opId": op_id, "kind": "query", "resource": resource, "params": params}


def pull_op(cursor: int = 0, op_id: str = "p", **kw: Any) -> dict[str, Any]:
    return {"opId": op_id, "kind": "changes.pull", "cursor": cursor, **kw}


def ops(client: httpx.Client, *op_list: dict[str, Any], meta: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
    """POST the ops and return the results (asserting a 200 ok response)."""
    body: dict[str, Any] = {"meta": meta or {"v": 1}, "ops": list(op_list)}
    r = client.post("/ops", json=body, **kw)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["ok"] is True, data
    return data["data"]["results"]


class SSEReader:
    """Reads a ``text/event-stream`` in a background thread; ``next()`` returns frames in order.

    A frame is a dict with ``event``, ``id``, ``data``, ``retry`` and ``comments`` (heartbeats).
    The thread runs its own event loop, so ``close()`` can cancel the read at once.
    """

    def __init__(self, url: str, path: str = "/sync/subscribe", headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> None:
        import asyncio
        import queue

        self.frames: "queue.Queue[dict[str, Any] | BaseException | None]" = queue.Queue()
        self.status: int | None = None
        self.body = b""
        self.opened = threading.Event()
        self._url = url
        self._args = (path, headers or {}, params or {})
        self._loop = asyncio.new_event_loop()
        self._task: "asyncio.Task[None] | None" = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.opened.wait(20):
            raise TimeoutError("subscribe stream did not open")

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._read())
        try:
            self._loop.run_until_complete(self._task)
        except BaseException as exc:  # cancelled by close(), or the stream failed
            self.frames.put(exc)
        finally:
            self._loop.close()
            self.opened.set()
            self.frames.put(None)

    async def _read(self) -> None:
        path, headers, params = self._args
        frame: dict[str, Any] = {"comments": []}
        async with httpx.AsyncClient(base_url=self._url, timeout=httpx.Timeout(60, read=None)) as client:
            async with client.stream("GET", path, headers=headers, params=params) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    self.body = await r.aread()
                self.opened.set()
                if r.status_code != 200:
                    return
                async for line in r.aiter_lines():
                    if line == "":
                        self.frames.put(frame)
                        frame = {"comments": []}
                    elif line.startswith(":"):
                        frame["comments"].append(line[1:].strip())
                    else:
                        name, _, value = line.partition(":")
                        frame[name] = value[1:] if value.startswith(" ") else value

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame (raises TimeoutError, or EOFError when the stream ended)."""
        import queue

        try:
            item = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("no SSE frame arrived in time") from None
        if item is None or isinstance(item, BaseException):
            raise EOFError(f"stream ended: {item!r}")
        return item

    def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame that is an event (skipping heartbeats and the retry frame)."""
        while True:
            f = self.next(timeout)
            if "event" in f:
                return f

    def close(self) -> None:
        task = self._task
        if task is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop already finished
        self._thread.join(10)
