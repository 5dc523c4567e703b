"""Running the app under uvicorn, so that shutdown does not wait on open subscribe streams."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

__all__ = ["AtomaUvicorn", "make_server", "bind_socket"]


class AtomaUvicorn(uvicorn.Server):
    """A uvicorn server that ends the app's subscribe streams when it starts shutting down.

    Streams never finish on their own, and uvicorn waits for open responses before it stops.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        server = getattr(getattr(self.config.app, "state", None), "atoma", None)
        if server is not None:
            server.close_streams()
        await super().shutdown(sockets)


def bind_socket(host: str = "127.0.0.1", port: int = 0, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket (``port`` 0 picks a free one).

    The protocol is given explicitly: asyncio disables Nagle's algorithm only on sockets whose
    ``proto`` is TCP, and without that every response written in two parts (headers, then
    body) waits ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def make_server(app: Any, host: str = "127.0.0.1", port: int = 8787, **config: Any) -> AtomaUvicorn:
    """A configured :class:`AtomaUvicorn` for ``app`` (``config`` goes to ``uvicorn.Config``)."""
    config.setdefault("log_config", None)  # keep the host application's logging setup
    config.setdefault("timeout_graceful_shutdown", 5)
    return AtomaUvicorn(uvicorn.Config(app, host=host, port=port, **config))
