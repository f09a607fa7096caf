"""The gateway served by the servers that `bench/servers_compare.py` compares, each with
the nearest it has to the gateway's connection settings (read from the same `GATEWAY_*`
variables as `python -m gateway serve`).

    python -m bench.candidate uvicorn-httptools|uvicorn-h11|hypercorn --port N
    python -m granian --interface asgi --factory bench.candidate:gateway_app ...

The gateway's own server (`python -m gateway serve`) needs no launcher. Granian and
Hypercorn are not dependencies of the project: `pip install granian hypercorn` into the
virtualenv to measure them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import signal
from typing import Any

import uvicorn
import uvloop
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.logs import configure_logging

SERVERS = ("uvicorn-httptools", "uvicorn-h11", "hypercorn")


def gateway_app() -> Starlette:
    """The gateway as `python -m gateway serve` builds it (the Granian factory target)."""
    settings = Settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def serve_uvicorn(app: Starlette, settings: Settings, port: int, *, h11: bool) -> None:
    # What `python -m gateway serve` ran before it had a server module, plus the options
    # uvicorn has: an idle keep-alive timeout, a concurrency limit (503 once that many
    # connections are open, checked when a request's headers are whole), and with h11 a
    # bound on an incomplete head.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="h11" if h11 else "httptools",
        ws="none",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_timeout,
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=settings.max_header_bytes if h11 else None,
    )


def serve_hypercorn(app: Starlette, settings: Settings, port: int) -> None:
    hypercorn: Any = importlib.import_module("hypercorn.config")
    serving: Any = importlib.import_module("hypercorn.asyncio")
    config = hypercorn.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = settings.keep_alive_timeout  # also runs from connect to head
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.read_timeout = int(settings.body_timeout)  # per read, reset by every byte
    config.accesslog = None
    config.errorlog = None
    config.include_server_header = False

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await serving.serve(app, config, shutdown_trigger=stop.wait)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings()
    app = gateway_app()
    if args.server == "hypercorn":
        serve_hypercorn(app, settings, args.port)
    else:
        serve_uvicorn(app, settings, args.port, h11=args.server == "uvicorn-h11")


if __name__ == "__main__":
    main()
