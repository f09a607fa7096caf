"""Three replicas on one Redis: upstream calls per distinct read, the cost of a shared-tier
hit, and the stall when a lease's holder dies.

    .venv/bin/python -m bench.replicas [--duration S] [--ttl S] [--cost S] [--kills N]
                                       [--restart-seconds S] [--only PHASE]... [--redis URL]
                                       [--markdown]

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
- **Redis restarted** (`bench.restart`, with a Redis of its own only): for
  `--restart-seconds`, reads and renames spread over three fresh replicas while Redis is
  killed and started again; every answer must be a success and, afterwards, every replica
  must show each profile's last written name, cached or not.

`--only calls|cost|kills|restart` (repeatable) runs just those phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import signal
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis
import uvloop

from bench import stack
from bench.load import Sample, drive, fetch
from bench.restart import Restart, figures, own_redis, restart

T = TypeVar("T")
LATENCY = 0.02
WORKERS = 12
PREFIX = "telnyx-gateway:l2"
PHASES = ("calls", "cost", "kills", "restart")


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
    restart: Restart | None = None


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
    phases = set(args.only or PHASES)
    with tempfile.TemporaryDirectory(prefix="gateway-replicas-") as workdir_name:
        workdir = Path(workdir_name)
        with contextlib.ExitStack() as resources:
            own = None if args.redis else resources.enter_context(own_redis(workdir))
            redis_url = args.redis if own is None else own.url
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

            results = Results([], [], [])
            for shared in (False, True) if "calls" in phases else ():
                flag = {"GATEWAY_CACHE_SHARED": str(shared).lower()}
                fleet = [replica(f"{'on' if shared else 'off'}-{n}", **flag) for n in range(3)]
                results.spreads.append(
                    on_uvloop(spread(fleet, simulator, reads, token, args, shared=shared))
                )
                for server in fleet:
                    server.stop()

            path = f"/v2/messaging_profiles/{ids[0]}"
            long_ttl = {f"GATEWAY_CACHE_TTL_{f}": "3600" for f in ("PROFILES",)}
            if phases & {"cost", "kills"}:
                l1 = replica("l1", **long_ttl)
            if "cost" in phases:
                l2 = replica("l2", **long_ttl, GATEWAY_CACHE_MAX_BYTES="0")
                costs = []
                for _ in range(2):  # two passes each, alternating
                    costs.append(on_uvloop(cost("L1 hit", l1, path, token, args.cost / 2)))
                    costs.append(on_uvloop(cost("L2 hit", l2, path, token, args.cost / 2)))
                results.costs = merge(costs)

            for n in range(args.kills if "kills" in phases else 0):
                holder = replica(f"holder-{n}")
                cold = f"/v2/messaging_profiles?page[number]={n + 1}&page[size]=1"
                results.stalls.append(
                    on_uvloop(stall(holder, l1, simulator, cold, token, redis_url))
                )

            if "restart" in phases and own is not None:  # only a Redis of its own is killed
                fleet = [replica(f"restart-{n}") for n in range(3)]
                results.restart = on_uvloop(
                    restart(fleet, simulator, own, ids, token, args.restart_seconds)
                )
            return results


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


def report(results: Results, seconds: float, *, markdown: bool) -> str:
    """Each phase's figures; `seconds` is the restart phase's length."""
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
    parts: list[list[str]] = []
    if spreads:
        header = ["shared tier", "reads/s", "errors", "distinct reads", "upstream calls"]
        parts.append(table([*header, "calls/read/TTL"], spreads, markdown=markdown))
    if costs:
        header = ["hit", "reads", "p50 ms", "p99 ms", "gateway CPU ms/read"]
        parts.append(table(header, costs, markdown=markdown))
    if stalls:
        parts.append([f"lease holder killed: the waiting replica answered {stalls} after the kill"])
    if results.restart is not None:
        header, row, notes = figures(results.restart, seconds)
        parts.append([*table(header, [row], markdown=markdown), "", *notes])
    return "\n\n".join("\n".join(part) for part in parts)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of mixed reads")
    parser.add_argument("--ttl", type=float, default=5.0, help="every GATEWAY_CACHE_TTL_*")
    parser.add_argument("--cost", type=float, default=10.0, help="seconds per hit kind")
    parser.add_argument("--kills", type=int, default=3, help="lease holders killed")
    parser.add_argument(
        "--restart-seconds",
        type=float,
        default=20.0,
        help="seconds of reads and writes while Redis is killed and restarted",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PHASES,
        help="run this phase (repeatable); default: all",
    )
    parser.add_argument(
        "--redis", help="a Redis to use instead of starting one (no restart phase then)"
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)
    if min(args.duration, args.ttl, args.cost, args.restart_seconds) <= 0 or args.kills < 0:
        parser.error("durations must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.monotonic()
    results = run(args)
    print(
        f"3 replicas, phases {', '.join(args.only or PHASES)}; {args.duration:g} s of mixed "
        f"reads each way, TTL {args.ttl:g} s, {WORKERS} workers; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print(report(results, args.restart_seconds, markdown=args.markdown))


if __name__ == "__main__":
    main()
