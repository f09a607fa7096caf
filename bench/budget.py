"""Three replicas under a cold flood, one Telnyx account's budget shared through Redis.

    .venv/bin/python -m bench.budget [--seconds S] [--rate N] [--concurrency N]

Starts the simulator, a Redis of its own (`redis-server` on PATH) and three gateways
(`bench.stack`) with `GATEWAY_UPSTREAM_BUDGET_PER_SECOND=N`, burst 1, `GATEWAY_REPLICAS=3`
and a 2 s upstream deadline. Workers then read `/v2/messaging_profiles` with
`Cache-Control: no-cache` (every read is a call to Telnyx), round-robin over the replicas,
for `--seconds`; then Redis is stopped and the flood runs as long again, each replica now on
its own share. Reported per phase, from the simulator's own log of arrivals: the calls it
received, the most in any 1 s window (sliding, and by calendar second), the gateway's
answers by status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.stack import TELNYX_KEY, Server, Stack, free_port, new_token, running, start_simulator

REPLICAS = 3


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most of `times` in any half-open interval [t, t + window)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def busiest_calendar_second(times: Sequence[float]) -> int:
    counts = collections.Counter(int(moment) for moment in times)
    return max(counts.values(), default=0)


async def flood(
    urls: Sequence[str], token: str, *, seconds: float, concurrency: int
) -> collections.Counter[int]:
    """Cold reads round-robin over `urls` by `concurrency` workers; the answers' statuses."""
    statuses: collections.Counter[int] = collections.Counter()
    turn = itertools.cycle(urls)
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Cache-Control": "no-cache"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:

        async def worker() -> None:
            while time.monotonic() < stop:
                response = await http.get(f"{next(turn)}/v2/messaging_profiles")
                statuses[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def arrivals(simulator_url: str, since: float) -> list[float]:
    """When the simulator received each /v2 call after `since` (epoch seconds)."""
    records = httpx.get(f"{simulator_url}/_simulator/requests", timeout=30).json()["data"]
    return [record["time"] for record in records if record["time"] >= since]


@dataclass
class Phase:
    name: str
    seconds: float
    calls: int
    busiest_window: int
    busiest_calendar_second: int
    statuses: dict[int, int]

    def row(self) -> str:
        answers = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"| {self.name} | {self.calls} in {self.seconds:g} s | {self.busiest_window} | "
            f"{self.busiest_calendar_second} | {answers} |"
        )


def start_redis(stack: Stack) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench.budget needs redis-server on PATH")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  -- the machine's redis-server
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return process, f"redis://127.0.0.1:{port}/0"


def start_replicas(stack: Stack, simulator: Server, token: str, env: dict[str, str]) -> list[str]:
    tenants = stack.workdir / "tenants.json"
    entry = {
        "id": "bench",
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "telnyx_api_key": TELNYX_KEY,
        "rate_limit": {"per_second": 1_000_000.0, "burst": 1_000_000},
    }
    tenants.write_text(json.dumps({"tenants": [entry]}))
    urls = []
    for index in range(REPLICAS):
        gateway = stack.start(
            f"gateway-{index}",
            ["-m", "gateway", "serve"],
            env={
                "GATEWAY_PORT": "{port}",
                "GATEWAY_METRICS_PORT": str(free_port()),
                "GATEWAY_DEMO": "false",
                "GATEWAY_TENANTS_FILE": str(tenants),
                "GATEWAY_TELNYX_BASE_URL": f"{simulator.url}/v2",
                "GATEWAY_LOG_LEVEL": "warning",
                "OTEL_SDK_DISABLED": "true",
                **env,
            },
        )
        gateway.wait_ready("/readyz")
        urls.append(gateway.url)
    return urls


async def phase(
    name: str, urls: list[str], simulator: Server, token: str, args: argparse.Namespace
) -> Phase:
    since = time.time()
    statuses = await flood(urls, token, seconds=args.seconds, concurrency=args.concurrency)
    times = arrivals(simulator.url, since)
    return Phase(
        name,
        args.seconds,
        len(times),
        busiest_window(times),
        busiest_calendar_second(times),
        dict(statuses),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=60)
    args = parser.parse_args(argv)
    token = new_token()
    with tempfile.TemporaryDirectory() as workdir, running(Path(workdir)) as stack:
        simulator = start_simulator(stack, latency=0.005)
        redis_process, redis_url = start_redis(stack)
        try:
            urls = start_replicas(
                stack,
                simulator,
                token,
                {
                    "GATEWAY_REDIS_URL": redis_url,
                    "GATEWAY_UPSTREAM_BUDGET_PER_SECOND": f"{args.rate:g}",
                    "GATEWAY_UPSTREAM_BUDGET_BURST": "1",
                    "GATEWAY_REPLICAS": str(REPLICAS),
                    "GATEWAY_UPSTREAM_DEADLINE": "2",
                },
            )
            shared = asyncio.run(phase("Redis up (shared)", urls, simulator, token, args))
            redis_process.terminate()
            redis_process.wait(timeout=10)
            alone = asyncio.run(phase("Redis down (shares)", urls, simulator, token, args))
        finally:
            if redis_process.poll() is None:
                redis_process.kill()
    print(
        f"{REPLICAS} replicas, budget {args.rate:g} calls/s (burst 1), "
        f"{args.concurrency} workers, cold reads\n"
    )
    print(
        "| phase | calls Telnyx received | most in any 1 s | most in a calendar second | "
        "gateway answers |"
    )
    print("|---|---|---|---|---|")
    print(shared.row())
    print(alone.row())


if __name__ == "__main__":
    main()
