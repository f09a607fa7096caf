"""The gateway through a Telnyx outage where connections hang, with and without its
circuit breaker.

    .venv/bin/python -m bench.outage [--outage S] [--deadline S] [--only before|after]
                                     [--cached N] [--cold N] [--set NAME=VALUE] [--markdown]

For each configuration (`before`: the breaker off, `GATEWAY_UPSTREAM_CIRCUIT_WINDOW=0`, as
the gateway was; `after`: its defaults), starts the simulator (20 ms latency), an OTLP sink
and the gateway (`bench.stack`, as `bench.run` does; the profile TTL is 1 s and, with
`--deadline`, the upstream deadline and timeout are changed), reads the 20 seeded profiles
once so that they are cached, lets their TTL pass, then makes the simulator hang: it
accepts every request and answers only after three deadlines, so the gateway never sees an
answer. During the outage:

- the issue's table: one stale read (a cached profile past its TTL) and 10 cold reads at
  once, then the next cold read and the next stale read, together;
- for `--outage` seconds, closed-loop load: `--cached` workers reading the 20 profiles
  (stale-if-error serves them) and `--cold` workers reading pages never read before.

The outage lasts until both are done; then the simulator answers again and the time until a
read is served fresh is measured. Upstream attempts are the gateway's own count
(`telnyx_upstream_duration_seconds_count` plus those in flight, from /metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from bench import stack

BREAKER_OFF = {"GATEWAY_UPSTREAM_CIRCUIT_WINDOW": "0"}
LATENCY = 0.02
TTL = 1.0
BURST = 10


@dataclass
class Read:
    """One read: how long it took, and what came back."""

    seconds: float
    status: int
    cache: str  # X-Cache: HIT, MISS, STALE, or "" when absent (an error)

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.cache}".strip()


@dataclass
class Outage:
    """What one configuration did through the outage."""

    name: str
    first_stale: Read
    burst: list[Read]
    next_cold: Read
    next_stale: Read
    cached: list[Read] = field(default_factory=list)
    cold: list[Read] = field(default_factory=list)
    upstream_attempts: float = 0.0
    lasted: float = 0.0
    recovery: float = math.nan


def percentile(reads: list[Read], q: float) -> float:
    """Nearest-rank percentile of the durations, `q` in (0, 100]; NaN for none."""
    if not reads:
        return math.nan
    ordered = sorted(read.seconds for read in reads)
    return ordered[max(math.ceil(q / 100 * len(ordered)), 1) - 1]


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def outcomes(reads: list[Read]) -> str:
    counts: dict[str, int] = {}
    for read in reads:
        counts[read.outcome] = counts.get(read.outcome, 0) + 1
    return ", ".join(f"{count} x {outcome}" for outcome, count in sorted(counts.items()))


class Gateway:
    """Reads through the gateway's REST face, as the bench tenant."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, token: str, metrics_url: str
    ) -> None:
        self._session = session
        self._url = url
        self._metrics_url = metrics_url
        self._headers = {"Authorization": f"Bearer {token}"}

    async def read(self, path: str) -> Read:
        started = time.perf_counter()
        async with self._session.get(self._url + path, headers=self._headers) as response:
            await response.read()
            return Read(
                time.perf_counter() - started,
                response.status,
                response.headers.get("X-Cache", ""),
            )

    async def upstream_attempts(self) -> float:
        """Attempts the gateway has made to Telnyx: finished ones plus those in flight."""
        async with self._session.get(self._metrics_url + "/metrics") as response:
            text = await response.text()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (
                    "telnyx_upstream_duration_seconds_count",
                    "telnyx_upstream_active_requests",
                ):
                    total += sample.value
        return total


async def set_latency(session: aiohttp.ClientSession, simulator: str, seconds: float) -> None:
    async with session.put(f"{simulator}/_simulator/latency", json={"seconds": seconds}) as r:
        r.raise_for_status()


async def through_outage(
    name: str,
    gateway: Gateway,
    session: aiohttp.ClientSession,
    simulator: str,
    ids: list[str],
    args: argparse.Namespace,
) -> Outage:
    profiles = [f"/v2/messaging_profiles/{profile_id}" for profile_id in ids]
    for path in profiles:
        if (read := await gateway.read(path)).status != 200:
            raise RuntimeError(f"warming {path}: {read.outcome}")
    await asyncio.sleep(TTL + 0.1)
    pages = itertools.count(1)

    def cold_path() -> str:
        return f"/v2/messaging_profiles?page[number]={next(pages)}"

    attempts_before = await gateway.upstream_attempts()
    await set_latency(session, simulator, 3 * args.deadline)
    started = time.perf_counter()
    stop_at = started + args.outage

    async def table() -> tuple[Read, list[Read], Read, Read]:
        first_stale, *burst = await asyncio.gather(
            gateway.read(profiles[0]), *(gateway.read(cold_path()) for _ in range(BURST))
        )
        next_cold, next_stale = await asyncio.gather(
            gateway.read(cold_path()), gateway.read(profiles[1])
        )
        return first_stale, burst, next_cold, next_stale

    async def worker(reads: list[Read], path: Callable[[], str]) -> None:
        while time.perf_counter() < stop_at:
            reads.append(await gateway.read(path()))

    cached: list[Read] = []
    cold: list[Read] = []
    round_robin = itertools.cycle(profiles[2:])
    rows = asyncio.create_task(table())
    await asyncio.gather(
        *(worker(cached, lambda: next(round_robin)) for _ in range(args.cached)),
        *(worker(cold, cold_path) for _ in range(args.cold)),
    )
    first_stale, burst, next_cold, next_stale = await rows
    lasted = time.perf_counter() - started
    attempts = await gateway.upstream_attempts() - attempts_before
    outage = Outage(name, first_stale, burst, next_cold, next_stale, cached, cold, attempts, lasted)

    await set_latency(session, simulator, LATENCY)
    back = time.perf_counter()
    give_up = back + 3 * args.deadline + 60
    while time.perf_counter() < give_up:
        if (await gateway.read(profiles[0])).cache == "MISS":
            outage.recovery = time.perf_counter() - back
            break
        await asyncio.sleep(0.05)
    return outage


def run_one(name: str, extra: dict[str, str], args: argparse.Namespace) -> Outage:
    settings = {
        "GATEWAY_CACHE_TTL_PROFILES": f"{TTL:g}",
        "GATEWAY_UPSTREAM_DEADLINE": f"{args.deadline:g}",
        "GATEWAY_UPSTREAM_TIMEOUT": f"{min(args.deadline, 10.0):g}",
        **extra,
        **args.set,
    }
    with (
        tempfile.TemporaryDirectory(prefix="gateway-outage-") as workdir,
        stack.running(Path(workdir)) as processes,
    ):
        simulator = stack.start_simulator(processes, LATENCY)
        sink = stack.start_sink(processes)
        ids = stack.seed(simulator)
        token = stack.new_token()
        gateway = stack.start_gateway(processes, simulator, sink, token, settings)

        async def measure() -> Outage:
            timeout = aiohttp.ClientTimeout(total=3 * args.deadline + 30)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                reader = Gateway(session, gateway.url, token, gateway.metrics_url)
                return await through_outage(name, reader, session, simulator.url, ids, args)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(measure())


def report(outages: list[Outage], *, markdown: bool) -> str:
    rows: list[tuple[str, ...]] = [("", *(outage.name for outage in outages))]

    def row(what: str, cell: Callable[[Outage], str]) -> None:
        rows.append((what, *(cell(outage) for outage in outages)))

    row("a stale read, first in the outage", lambda o: duration(o.first_stale.seconds))
    row(
        f"{BURST} cold reads at once (slowest)",
        lambda o: duration(max(read.seconds for read in o.burst)),
    )
    row("the next cold read", lambda o: duration(o.next_cold.seconds))
    row("the next stale read", lambda o: duration(o.next_stale.seconds))
    row(
        "  what they got",
        lambda o: outcomes([o.first_stale, *o.burst, o.next_cold, o.next_stale]),
    )
    row("cached reads through the outage", lambda o: f"{len(o.cached):,}")
    row(
        "  p50 / p99",
        lambda o: f"{duration(percentile(o.cached, 50))} / {duration(percentile(o.cached, 99))}",
    )
    row("  what they got", lambda o: outcomes(o.cached))
    row("cold reads through the outage", lambda o: f"{len(o.cold):,}")
    row(
        "  p50 / p99",
        lambda o: f"{duration(percentile(o.cold, 50))} / {duration(percentile(o.cold, 99))}",
    )
    row("  what they got", lambda o: outcomes(o.cold))
    row("upstream attempts during the outage", lambda o: f"{o.upstream_attempts:,.0f}")
    row("the outage lasted", lambda o: duration(o.lasted))
    row("fresh again after Telnyx answers", lambda o: duration(o.recovery))
    if markdown:
        lines = ["| " + " | ".join(cells) + " |" for cells in rows]
        lines.insert(1, "|---" + "|---:" * len(outages) + "|")
        return "\n".join(lines)
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in rows
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--outage", type=float, default=30.0, help="seconds of load")
    parser.add_argument(
        "--deadline", type=float, default=20.0, help="GATEWAY_UPSTREAM_DEADLINE, seconds"
    )
    parser.add_argument("--cached", type=int, default=8, help="workers reading cached profiles")
    parser.add_argument("--cold", type=int, default=2, help="workers reading uncached pages")
    parser.add_argument(
        "--only", choices=("before", "after"), help="one configuration instead of both"
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    stack.add_set_option(
        parser, "an extra GATEWAY_* variable for the gateway, in both configurations"
    )
    args = parser.parse_args(argv)
    if args.outage <= 0 or args.deadline <= 0 or min(args.cached, args.cold) < 1:
        parser.error("outage and deadline must be positive, workers at least 1")
    args.set = stack.set_variables(parser, args.set, ("GATEWAY_",))
    return args


def measure(args: argparse.Namespace) -> list[Outage]:
    """Each chosen configuration through its outage."""
    chosen = [("before", BREAKER_OFF), ("after", {})]
    return [run_one(name, extra, args) for name, extra in chosen if args.only in (None, name)]


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.monotonic()
    outages = measure(args)
    print(
        f"Telnyx hanging for {args.outage:g} s of load (longer while a read still waits), "
        f"upstream deadline {args.deadline:g} s; before: GATEWAY_UPSTREAM_CIRCUIT_WINDOW=0, "
        f"after: the breaker's defaults; {time.monotonic() - started:.0f} s in all"
        + "".join(f"; {name}={value}" for name, value in args.set.items())
    )
    print(report(outages, markdown=args.markdown))


if __name__ == "__main__":
    main()
