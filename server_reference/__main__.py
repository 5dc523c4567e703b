"""``python -m server_reference`` / ``atoma-server``: run the reference server under uvicorn.

    python -m server_reference --db server.db --host 127.0.0.1 --port 8787 --schema app.schema:schema
    python -m server_reference --postgres postgresql://user@host/db --schema app.schema:schema

``--schema`` names an :class:`atoma.Schema` as ``module:attribute``; it defaults to
``examples.tasks.schema:schema`` when that module exists.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence

from atoma.schema import Schema

from .adapters.base import Adapter
from .adapters.sqlite import SQLiteAdapter
from .app import create_app
from .serve import bind_socket, make_server
from .subscribe import SubscribeSettings

__all__ = ["main", "load_schema", "build_parser"]

DEFAULT_SCHEMA = "examples.tasks.schema:schema"
log = logging.getLogger("server_reference")


def load_schema(spec: str) -> Schema:
    """Import ``module:attribute`` and check that it is an :class:`atoma.Schema`."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"--schema must look like 'package.module:attribute', got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`, find the application's own modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"--schema {spec!r}: cannot import {module_name!r}: {exc}") from None
    schema = getattr(module, attr, None)
    if not isinstance(schema, Schema):
        raise SystemExit(f"--schema {spec!r}: {attr!r} is not an atoma.Schema (got {type(schema).__name__})")
    return schema


def _default_schema() -> str | None:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.util.find_spec(DEFAULT_SCHEMA.split(":")[0])
    except ImportError:
        found = None
    return DEFAULT_SCHEMA if found is not None else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atoma-server", description="Run the Atoma reference server.")
    parser.add_argument("--db", default="server.db", help="SQLite database file (default: server.db)")
    parser.add_argument("--postgres", metavar="DSN", help="use PostgreSQL at this DSN instead of SQLite")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on (default: 8787; 0 picks a free one)")
    parser.add_argument("--schema", help=f"the atoma.Schema to serve, as module:attribute (default: {DEFAULT_SCHEMA} if present)")
    parser.add_argument("--channel", default="atoma_changes", help="PostgreSQL LISTEN/NOTIFY channel (default: atoma_changes)")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="seconds between subscribe heartbeats (default: 15)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _adapter(args: argparse.Namespace, schema: Schema) -> Adapter:
    if args.postgres:
        from .adapters.postgres import PostgresAdapter

        return PostgresAdapter(args.postgres, schema, channel=args.channel)
    return SQLiteAdapter(args.db, schema)


async def _serve(args: argparse.Namespace, schema: Schema) -> None:
    adapter = _adapter(args, schema)
    app = create_app(adapter, subscribe=SubscribeSettings(heartbeat_s=args.heartbeat))
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    server = make_server(app, host, port, log_level=args.log_level)
    log.info("backend: %s", adapter.describe())
    log.info("listening on http://%s:%d", host if ":" not in host else f"[{host}]", port)
    await server.serve(sockets=[sock])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    spec = args.schema or _default_schema()
    if spec is None:
        print(f"atoma-server: --schema is required ({DEFAULT_SCHEMA} does not exist here)", file=sys.stderr)
        return 2
    schema = load_schema(spec)
    try:
        asyncio.run(_serve(args, schema))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
