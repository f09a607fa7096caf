"""Three replicas on one Redis: upstream calls per distinct read, the cost of a shared-tier
hit, and the stall when a lease's holder dies.

    .venv/bin/python -m bench.replicas [--duration S] [--ttl S] [--cost S] [--kills N]
                                       [--redis URL] [--markdown]

Starts Redis (`redis-server` from PATH on a free port, unless `--redis` names one), the
simulator (20 ms latency, seeded as `bench.run` seeds it), an OTLP sink and three gateways
(`bench.stack`, as `bench.run` starts one) with `GATEWAY_REDIS_URL` and every TTL at `--ttl`.

- **Calls per read**: for `--duration` seconds, 12 workers send reads picked at random from
  the distinct reads below, each request to the next replica in turn (round robin), first
  with the shared tier off (`GATEWAY_CACHE_SHARED=false`, each replica's own cache and
  coalescing, as before) and then on. Upstream calls are the simulator's log; per distinct
  read per TTL is calls / reads / (duration / TTL): 1.00 is one call per read per TTL for
  the whole fleet, 3.00 one per replica.
- **Cost of a shared hit**: one worker reads one profile over REST for `--cost` seconds from a
  replica that has it in memory (L1 hit), then from a fourth replica whose own cache is off
  (`GATEWAY_CACHE_MAX_BYTES=0`), so that every read is a shared-tier hit (L2). Latency as
  the client saw it, and the answering gateway's CPU per request (from /proc).
- **Lease holder killed**: `--kills` times, a fresh replica takes the lease of a cold read
  (Telnyx is made to take 5 s over it), a second replica is asked the same read and waits,
  the holder is killed (SIGKILL); the stall is the time from the kill to the second
  replica's answer (it takes the lease once the dead holder's expires, within a second,
  and calls Telnyx itself: 20 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis
import uvloop

from bench import stack
from bench.load import Sample, drive, fetch

T = TypeVar("T")
LATENCY = 0.02
WORKERS = 12
PREFIX = "telnyx-gateway:l2"


@contextlib.contextmanager
def own_redis(workdir: Path) -> Iterator[str]:
    """A Redis of the benchmark's own on a free port, stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("no redis-server on PATH: install one, or pass --redis URL")
    port = stack.free_port()
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  -- redis-server from PATH, fixed arguments
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Spread:
    """Mixed reads over the replicas: how many were answered and what Telnyx saw."""

    shared: bool
    sample: Sample
    reads: int
    calls: int
    ttl: float

    @property
    def per_read_per_ttl(self) -> float:
        return self.calls / self.reads / (self.sample.seconds / self.ttl)


@dataclass
class Cost:
    name: str
    sample: Sample
    cpu_ms: float


@dataclass
class Results:
    spreads: list[Spread]
    costs: list[Cost]
    stalls: list[float]


def distinct_reads(ids: list[str]) -> list[str]:
    return [
        *(f"/v2/messaging_profiles/{profile_id}" for profile_id in ids),
        *(f"/v2/messaging_profiles/{profile_id}/phone_numbers" for profile_id in ids),
        *(f"/v2/messaging_profiles?page[number]={n}&page[size]=5" for n in (1, 2, 3, 4)),
        "/v2/short_codes",
        "/v2/phone_numbers/messaging",
    ]


async def upstream_calls(session: aiohttp.ClientSession, simulator: stack.Server) -> int:
    async with session.get(f"{simulator.url}/_simulator/requests") as response:
        return len((await response.json())["data"])


async def clear_log(session: aiohttp.ClientSession, simulator: stack.Server) -> None:
    async with session.delete(f"{simulator.url}/_simulator/requests"):
        pass


async def spread(
    replicas: list[stack.Server],
    simulator: stack.Server,
    reads: list[str],
    token: str,
    args: argparse.Namespace,
    *,
    shared: bool,
) -> Spread:
    headers = {"Authorization": f"Bearer {token}"}
    turn = itertools.count()
    pick = random.Random(16)
    async with aiohttp.ClientSession(headers=headers) as session:
        await clear_log(session, simulator)

        async def read(_: int) -> None:
            replica = replicas[next(turn) % len(replicas)]
            await fetch(session, "GET", replica.url + pick.choice(reads))

        sample = await drive(read, WORKERS, args.duration)
        calls = await upstream_calls(session, simulator)
    return Spread(shared, sample, len(reads), calls, args.ttl)


async def cost(name: str, gateway: stack.Server, path: str, token: str, seconds: float) -> Cost:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(20):  # warm: the connection, and the entry in the tiers
            await fetch(session, "GET", gateway.url + path)
        before = gateway.cpu_seconds() or 0.0

        async def read(_: int) -> None:
            await fetch(session, "GET", gateway.url + path)

        sample = await drive(read, 1, seconds)
        used = (gateway.cpu_seconds() or 0.0) - before
    return Cost(name, sample, used / max(sample.count, 1) * 1000)


async def stall(
    holder: stack.Server,
    waiter: stack.Server,
    simulator: stack.Server,
    path: str,
    token: str,
    redis_url: str,
) -> float:
    """Seconds from killing the lease's holder to the waiting replica's answer."""
    headers = {"Authorization": f"Bearer {token}"}
    leases = redis.Redis.from_url(redis_url)
    async with aiohttp.ClientSession(headers=headers) as session:
        fault = {"delay": 5, "times": 1, "method": "GET", "path": path.split("?")[0]}
        async with session.post(f"{simulator.url}/_simulator/faults", json=fault):
            pass
        held = asyncio.create_task(fetch(session, "GET", holder.url + path))
        deadline = time.monotonic() + 5
        while not leases.keys(f"{PREFIX}:*:l:*"):
            if time.monotonic() > deadline:
                raise RuntimeError("the holder never took the lease")
            await asyncio.sleep(0.01)
        waiting = asyncio.create_task(fetch(session, "GET", waiter.url + path))
        await asyncio.sleep(0.2)  # the waiter is polling the lease by now
        holder.process.send_signal(signal.SIGKILL)
        killed = time.perf_counter()
        await waiting
        answered = time.perf_counter()
        with contextlib.suppress(aiohttp.ClientError):
            await held
    leases.close()
    return answered - killed


def on_uvloop(work: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


def run(args: argparse.Namespace) -> Results:
    with tempfile.TemporaryDirectory(prefix="gateway-replicas-") as workdir_name:
        workdir = Path(workdir_name)
        with contextlib.ExitStack() as resources:
            redis_url = args.redis or resources.enter_context(own_redis(workdir))
            processes = resources.enter_context(stack.running(workdir))
            simulator = stack.start_simulator(processes, LATENCY)
            ids = stack.seed(simulator)
            sink = stack.start_sink(processes)
            token = stack.new_token()
            reads = distinct_reads(ids)
            ttls = {
                f"GATEWAY_CACHE_TTL_{family}": f"{args.ttl:g}"
                for family in ("PROFILES", "SHORT_CODES", "PHONE_NUMBERS")
            }

            def replica(name: str, **extra: str) -> stack.Server:
                env = {"GATEWAY_REDIS_URL": redis_url, **ttls, **extra}
                return stack.start_gateway(processes, simulator, sink, token, env, name=name)

            spreads = []
            for shared in (False, True):
                flag = {"GATEWAY_CACHE_SHARED": str(shared).lower()}
                fleet = [replica(f"{'on' if shared else 'off'}-{n}", **flag) for n in range(3)]
                spreads.append(
                    on_uvloop(spread(fleet, simulator, reads, token, args, shared=shared))
                )
                for server in fleet:
                    server.stop()

            path = f"/v2/messaging_profiles/{ids[0]}"
            long_ttl = {f"GATEWAY_CACHE_TTL_{f}": "3600" for f in ("PROFILES",)}
            l1 = replica("l1", **long_ttl)
            l2 = replica("l2", **long_ttl, GATEWAY_CACHE_MAX_BYTES="0")
            costs = []
            for _ in range(2):  # two passes each, alternating
                costs.append(on_uvloop(cost("L1 hit", l1, path, token, args.cost / 2)))
                costs.append(on_uvloop(cost("L2 hit", l2, path, token, args.cost / 2)))

            stalls = []
            for n in range(args.kills):
                holder = replica(f"holder-{n}")
                cold = f"/v2/messaging_profiles?page[number]={n + 1}&page[size]=1"
                stalls.append(on_uvloop(stall(holder, l1, simulator, cold, token, redis_url)))
            return Results(spreads, merge(costs), stalls)


def merge(costs: list[Cost]) -> list[Cost]:
    merged = []
    for name in dict.fromkeys(c.name for c in costs):
        same = [c for c in costs if c.name == name]
        sample = Sample.merge([c.sample for c in same])
        cpu = sum(c.cpu_ms * c.sample.count for c in same) / max(sample.count, 1)
        merged.append(Cost(name, sample, cpu))
    return merged


def table(header: list[str], rows: list[list[str]], *, markdown: bool) -> list[str]:
    if markdown:
        return ["| " + " | ".join(line) + " |" for line in [header, ["---"] * len(header), *rows]]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]


def report(results: Results, *, markdown: bool) -> str:
    spreads = [
        [
            "on" if s.shared else "off",
            f"{s.sample.rate:.0f}",
            str(s.sample.errors),
            str(s.reads),
            str(s.calls),
            f"{s.per_read_per_ttl:.2f}",
        ]
        for s in results.spreads
    ]
    costs = [
        [
            c.name,
            str(c.sample.count),
            f"{c.sample.percentile(50) * 1000:.2f}",
            f"{c.sample.percentile(99) * 1000:.2f}",
            f"{c.cpu_ms:.3f}",
        ]
        for c in results.costs
    ]
    stalls = ", ".join(f"{s * 1000:.0f} ms" for s in results.stalls)
    return "\n".join(
        [
            *table(
                [
                    "shared tier",
                    "reads/s",
                    "errors",
                    "distinct reads",
                    "upstream calls",
                    "calls/read/TTL",
                ],
                spreads,
                markdown=markdown,
            ),
            "",
            *table(
                ["hit", "reads", "p50 ms", "p99 ms", "gateway CPU ms/read"],
                costs,
                markdown=markdown,
            ),
            "",
            f"lease holder killed: the waiting replica answered {stalls} after the kill",
        ]
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of mixed reads")
    parser.add_argument("--ttl", type=float, default=5.0, help="every GATEWAY_CACHE_TTL_*")
    parser.add_argument("--cost", type=float, default=10.0, help="seconds per hit kind")
    parser.add_argument("--kills", type=int, default=3, help="lease holders killed")
    parser.add_argument("--redis", help="a Redis to use instead of starting one")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)
    if min(args.duration, args.ttl, args.cost) <= 0 or args.kills < 0:
        parser.error("durations must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.monotonic()
    results = run(args)
    print(
        f"3 replicas, {args.duration:g} s of mixed reads each way, TTL {args.ttl:g} s, "
        f"{WORKERS} workers; {time.monotonic() - started:.0f} s in all"
    )
    print(report(results, markdown=args.markdown))


if __name__ == "__main__":
    main()
