"""The two small servers the gateway benchmark starts besides the gateway and the simulator.

    python -m bench.servers baseline --port N --nested FILE --profile FILE [--upstream URL]
    python -m bench.servers sink --port N

`baseline` is the ceiling: a plain Starlette app answering the gateway's two measured reads
with fixed bytes captured from the gateway, served with the protocol and options
`python -m gateway serve` uses, and the least a Python proxy can do for a cold read (one
aiohttp call to the simulator, its bytes returned). `sink` is the OTLP/HTTP endpoint the gateway exports its spans to: it
reads each batch, counts it, and answers 200, as a collector would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.connections import ConnectionGuard, ConnectionLimits


def baseline_app(nested: bytes, profile: bytes, upstream: str | None = None) -> Starlette:
    """`POST /graphql` and `GET /v2/messaging_profiles/{id}`, each returning its bytes; with
    `upstream`, also `GET /proxy/v2/messaging_profiles/{id}`: the least a proxy does, one
    aiohttp call to `upstream` with the request's Authorization, its body returned as is
    (no cache, no checks, no telemetry)."""
    session: aiohttp.ClientSession | None = None

    async def proxy(request: Request) -> Response:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(auto_decompress=False)
        headers = {"Authorization": request.headers.get("authorization", "")}
        url = f"{upstream}/v2/messaging_profiles/{request.path_params['id']}"
        async with session.get(url, headers=headers) as answer:
            body = await answer.read()
        return Response(body, status_code=answer.status, media_type="application/json")

    async def graphql(request: Request) -> Response:
        await request.body()  # the gateway reads and parses the body; read it at least
        return Response(nested, media_type="application/json")

    async def messaging_profile(request: Request) -> Response:
        return Response(profile, media_type="application/json")

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/v2/messaging_profiles/{id}", messaging_profile, methods=["GET"]),
            Route("/proxy/v2/messaging_profiles/{id}", proxy, methods=["GET"]),
        ]
    )


class Sink:
    """A bare ASGI OTLP/HTTP receiver: 200 to every `POST /v1/traces`, counts on `GET /`."""

    def __init__(self) -> None:
        self.batches = 0
        self.bytes = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        size = 0
        more = True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            self.batches += 1
            self.bytes += size
            body, content_type = b"", b"application/x-protobuf"
        else:
            body = orjson.dumps({"batches": self.batches, "bytes": self.bytes})
            content_type = b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type)],
            }
        )
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=("baseline", "sink"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nested", type=Path, help="baseline: the nested query's bytes")
    parser.add_argument("--profile", type=Path, help="baseline: one profile's REST bytes")
    parser.add_argument("--upstream", help="baseline: the simulator's URL, for the proxy route")
    args = parser.parse_args()
    if args.server == "sink":
        uvicorn.run(Sink(), host="127.0.0.1", port=args.port, log_level="warning")
        return
    if args.nested is None or args.profile is None:
        parser.error("baseline needs --nested and --profile")
    app = baseline_app(args.nested.read_bytes(), args.profile.read_bytes(), args.upstream)
    # The protocol and options `python -m gateway serve` uses, so only the app differs.
    settings = Settings(demo=True)
    limits = ConnectionLimits.from_settings(settings, settings.max_connections)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        http=ConnectionGuard(limits).protocol(),
        ws="none",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_timeout,
    )


if __name__ == "__main__":
    main()
