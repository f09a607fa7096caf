"""What reloading the tenants costs: one poll, one reload, and the per-request count.

    .venv/bin/python -m bench.reload [--tenants 100 1000 10000] [--rounds N]

A poll (`Fingerprint`) reads and hashes the tenants file and every key file it names, and
runs on a worker thread every GATEWAY_TENANTS_RELOAD_INTERVAL seconds; a reload
(`TenantRegistry.from_file`) only when that changed. `CountInFlight` wraps every request
of a gateway whose tenants come from a file.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from starlette.types import Receive, Scope, Send

from gateway.config import Settings
from gateway.reload import CountInFlight, Fingerprint, InFlight
from gateway.tenancy import TenantRegistry


def write_tenants(directory: Path, count: int) -> Path:
    """`count` tenants, one in ten with its key in a file of its own, as a Secret mount."""
    tenants = []
    for index in range(count):
        entry: dict[str, str] = {
            "id": f"tenant-{index}",
            "token_sha256": hashlib.sha256(f"token-{index}".encode()).hexdigest(),
        }
        if index % 10 == 0:
            key_file = directory / f"key-{index}"
            key_file.write_text(f"KEY{index:040d}\n")
            entry["telnyx_api_key_file"] = key_file.name
        else:
            entry["telnyx_api_key"] = f"KEY{index:040d}"
        tenants.append(entry)
    path = directory / "tenants.json"
    path.write_text(json.dumps({"tenants": tenants}))
    return path


def per_call(work: Callable[[], object], rounds: int) -> float:
    """Seconds of CPU per call of `work`, the best of three runs of `rounds` calls."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(rounds):
            work()
        best = min(best, (time.process_time() - started) / rounds)
    return best


async def _noop(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def middleware_cost(rounds: int) -> tuple[float, float]:
    """Seconds per request through a bare ASGI callable, without and with CountInFlight."""
    counted = CountInFlight(_noop, inflight=InFlight(TenantRegistry.from_tokens([])))
    scope: Scope = {"type": "http"}

    async def run(app: Callable[[Scope, Receive, Send], object]) -> float:
        async def receive() -> dict[str, object]:
            return {}

        async def send(_: object) -> None:
            return None

        started = time.process_time()
        for _ in range(rounds):
            await app(scope, receive, send)  # type: ignore[misc]
        return (time.process_time() - started) / rounds

    bare = min(asyncio.run(run(_noop)) for _ in range(3))
    with_count = min(asyncio.run(run(counted)) for _ in range(3))
    return bare, with_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    interval = Settings.model_fields["tenants_reload_interval"].default
    print(f"{'tenants':>8} {'file KiB':>9} {'poll ms':>8} {'reload ms':>10} {'poll CPU %':>11}")
    for count in args.tenants:
        with tempfile.TemporaryDirectory() as directory:
            path = write_tenants(Path(directory), count)
            fingerprint = Fingerprint(path)
            poll = per_call(fingerprint, args.rounds)
            reload = per_call(partial(TenantRegistry.from_file, path), max(1, args.rounds // 4))
            size = path.stat().st_size / 1024
        share = 100 * poll / interval
        print(f"{count:>8} {size:>9.0f} {poll * 1e3:>8.2f} {reload * 1e3:>10.1f} {share:>11.2f}")
    print(f"(poll CPU %: one core's share at the default interval of {interval} s)")
    bare, counted = middleware_cost(200_000)
    print(
        f"CountInFlight: {(counted - bare) * 1e9:.0f} ns per request "
        f"({bare * 1e9:.0f} ns bare ASGI call, {counted * 1e9:.0f} ns counted)"
    )


if __name__ == "__main__":
    main()
