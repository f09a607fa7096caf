"""Memory under a hostile tenant's flood: RSS of the gateway over time.

    .venv/bin/python -m bench.flood [--duration S] [--numbers N] [--rate R]

One tenant, within its rate limit (the default, 50 requests/s), pages through an account
of `--numbers` phone numbers with a different `page[size]`/`page[number]` on every REST
request for `--duration` seconds, then through GraphQL with a different `first`/`after`
on every request for as long; then nothing, for `--rest` seconds. Every answer is a new
cache entry. The gateway runs as production does (`python -m gateway serve`, a tenants
file, default settings); its RSS is read from /proc every `--every` seconds and printed
as a table, with the peak, against the target (under 400 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx

from bench import stack

TARGET_MIB = 400
FLOODER_KEY = "KEYflood00000000000000000000000"
NUMBERS_QUERY = (
    "query($first: Int, $after: String) { phoneNumbers(first: $first, after: $after) "
    "{ totalCount edges { cursor node { id phoneNumber messagingProfileId type tags "
    "features { sms { domesticTwoWay } } health { messageCount } } } } }"
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"phone_numbers:{offset}".encode()).decode()


async def flood(
    url: str, token: str, numbers: int, seconds: float, rate: float, face: str, counts: Counter[str]
) -> None:
    """Requests at `rate` per second, each for a window no earlier request asked for."""
    headers = {"Authorization": f"Bearer {token}"}
    seen: set[tuple[int, int]] = set()
    rng = random.Random(7)
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers=headers) as session:
        next_at = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        while time.monotonic() < end:
            while True:
                size = rng.randint(1, 250 if face == "rest" else 100)
                number = rng.randint(1, max(1, numbers // size))
                if (size, number) not in seen:
                    seen.add((size, number))
                    break

            async def one(size: int = size, number: int = number) -> None:
                try:
                    if face == "rest":
                        params = {"page[size]": str(size), "page[number]": str(number)}
                        request = session.get(f"{url}/v2/phone_numbers/messaging", params=params)
                    else:
                        offset = (number - 1) * size
                        variables = {"first": size, "after": cursor(offset) if offset else None}
                        request = session.post(
                            f"{url}/graphql",
                            json={"query": NUMBERS_QUERY, "variables": variables},
                        )
                    async with request as response:
                        await response.read()
                        counts[f"{face} {response.status}"] += 1
                except aiohttp.ClientError:
                    counts[f"{face} error"] += 1

            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*pending)


async def sample(
    pid: int, every: float, samples: list[tuple[float, float]], stop: asyncio.Event
) -> None:
    started = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - started, rss_mib(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def measure(args: argparse.Namespace, gateway: stack.Server, token: str) -> None:
    samples: list[tuple[float, float]] = []
    counts: Counter[str] = Counter()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(gateway.process.pid, args.every, samples, stop))
    for face in ("rest", "graphql"):
        await flood(gateway.url, token, args.numbers, args.duration, args.rate, face, counts)
    await asyncio.sleep(args.rest)
    stop.set()
    await sampler
    print(f"\n{'seconds':>8} {'RSS MiB':>8}")
    for at, rss in samples:
        print(f"{at:8.0f} {rss:8.1f}")
    peak = max(rss for _, rss in samples)
    print(f"\nanswers: {dict(sorted(counts.items()))}")
    verdict = "PASS" if peak < TARGET_MIB else "MISS"
    print(
        f"{verdict}  peak RSS {peak:.1f} MiB (target < {TARGET_MIB} MiB); start {samples[0][1]:.1f}, end {samples[-1][1]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per face")
    parser.add_argument("--rest", type=float, default=20.0, help="seconds of quiet at the end")
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=48.0, help="requests per second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE for the gateway")
    args = parser.parse_args()
    token = stack.new_token()
    with tempfile.TemporaryDirectory() as workdir, stack.running(Path(workdir)) as running:
        simulator = stack.start_simulator(running, latency=0.0)
        httpx.post(
            f"{simulator.url}/_simulator/accounts/{FLOODER_KEY}/seed",
            json={"phone_numbers": args.numbers},
            timeout=60,
        ).raise_for_status()
        tenants = Path(workdir) / "flood-tenants.json"
        entry = {
            "id": "flooder",
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "telnyx_api_key": FLOODER_KEY,
        }
        tenants.write_text(json.dumps({"tenants": [entry]}))
        extra = dict(item.split("=", 1) for item in args.set)
        gateway = running.start(
            "gateway",
            ["-m", "gateway", "serve"],
            env={
                "GATEWAY_PORT": "{port}",
                "GATEWAY_METRICS_PORT": str(stack.free_port()),
                "GATEWAY_DEMO": "false",
                "GATEWAY_TENANTS_FILE": str(tenants),
                "GATEWAY_TELNYX_BASE_URL": f"{simulator.url}/v2",
                "GATEWAY_LOG_LEVEL": "warning",
                **extra,
            },
        )
        gateway.wait_ready("/readyz")
        print(
            f"flood: {args.numbers} numbers, {args.rate}/s for {args.duration:.0f} s over REST, "
            f"then GraphQL, then {args.rest:.0f} s quiet; gateway pid {gateway.process.pid}"
        )
        asyncio.run(measure(args, gateway, token))


if __name__ == "__main__":
    main()
