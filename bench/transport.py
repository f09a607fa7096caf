"""Client CPU cost and throughput of the upstream transports, against a local server.

    .venv/bin/python -m bench.transport [--requests N] [--concurrency C] [--loop asyncio|uvloop]

The upstream (uvicorn, a fixed ~2 KB JSON page) runs in a separate process, so
`time.process_time()` here counts only the client's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr

from gateway.config import Settings
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.operations import ListMessagingProfiles
from gateway.telnyx.transport import build_upstream
from gateway.tenancy import Tenant

PROFILE = {
    "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "record_type": "messaging_profile",
    "name": "Benchmark profile",
    "enabled": True,
    "webhook_url": "https://example.com/webhooks",
    "webhook_failover_url": "",
    "webhook_api_version": "2",
    "whitelisted_destinations": ["US", "CA", "GB"],
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z",
    "number_pool_settings": None,
    "url_shortener_settings": None,
    "alpha_sender": None,
    "daily_spend_limit": "100.00",
    "daily_spend_limit_enabled": False,
    "mms_fall_back_to_sms": False,
    "mms_transcoding": False,
    "mobile_only": False,
    "smart_encoding": False,
    "redaction_enabled": False,
    "redaction_level": 2,
    "organization_id": "org-0000",
}
BODY = json.dumps(
    {
        "data": [PROFILE] * 3,
        "meta": {"page_number": 1, "page_size": 3, "total_pages": 1, "total_results": 3},
    }
).encode()
PATH = "/v2/messaging_profiles"


async def upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: every request gets the same JSON page."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  -- our own interpreter and module
        [sys.executable, "-m", "bench.transport", "--serve", str(port)]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the upstream did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Row:
    client: str
    mode: str
    requests: int
    seconds: float
    cpu: float

    def cells(self) -> tuple[str, ...]:
        return (
            self.client,
            self.mode,
            str(self.requests),
            f"{self.requests / self.seconds:,.0f}",
            f"{self.cpu / self.requests * 1e6:,.0f}",
        )


async def measure(
    client: str, get: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> list[Row]:
    for _ in range(20):  # warm the pool and the code paths
        await get()
    rows = []
    for mode, width in (("sequential", 1), (f"concurrency {concurrency}", concurrency)):
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await get()

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(width)))
        rows.append(
            Row(client, mode, requests, time.perf_counter() - wall, time.process_time() - cpu)
        )
    return rows


async def run(url: str, requests: int, concurrency: int) -> list[Row]:
    rows: list[Row] = []
    for name in ("httpx", "aiohttp"):
        async with httpx.AsyncClient(transport=_transport(name)) as http:

            async def get(http: httpx.AsyncClient = http) -> None:
                (await http.get(url + PATH)).raise_for_status()

            label = "httpx (default transport)" if name == "httpx" else "httpx over httpx_aiohttp"
            rows += await measure(label, get, requests, concurrency)

    async with aiohttp.ClientSession() as session:

        async def bare() -> None:
            async with session.get(url + PATH) as response:
                response.raise_for_status()
                await response.read()

        rows += await measure("aiohttp ClientSession", bare, requests, concurrency)

    tenant = Tenant("bench", SecretStr("KEYbench"))
    kinds: tuple[Literal["httpx", "aiohttp"], ...] = ("httpx", "aiohttp")
    for name in kinds:
        upstream = build_upstream(Settings(upstream_transport=name))
        async with contextlib.aclosing(upstream):
            client = TelnyxClient(upstream, base_url=url + "/v2", tenant_concurrency=concurrency)

            async def typed(client: TelnyxClient = client) -> None:
                await client.send(tenant, ListMessagingProfiles())

            rows += await measure(f"TelnyxClient ({name})", typed, requests, concurrency)
    return rows


def _transport(name: str) -> httpx.AsyncBaseTransport:
    if name == "aiohttp":
        return AiohttpTransport()
    return httpx.AsyncHTTPTransport()


def table(rows: list[Row]) -> str:
    header = ("client", "mode", "requests", "req/s", "client CPU us/req")
    cells = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = [
        " | ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvicorn

        uvicorn.run(
            upstream, host="127.0.0.1", port=args.serve, log_level="warning", access_log=False
        )
        return
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    with server_process() as url:
        rows = asyncio.run(run(url, args.requests, args.concurrency))
    print(f"{len(BODY)} B JSON body, {args.loop} event loop, upstream in its own process")
    print(table(rows))


if __name__ == "__main__":
    main()
