"""End-to-end benchmark of the gateway on real sockets, with its two baselines.

    .venv/bin/python -m bench.run [--duration S] [--warmup S] [--latency S]
                                  [--concurrency N] [--cold-concurrency N] [--markdown]

Starts the Telnyx simulator (with `--latency` added to every call, 20 ms by default), an
OTLP/HTTP sink, the gateway as production runs it (`python -m gateway serve`, tracing
exported over OTLP with the default sampler), and a plain Starlette app serving bytes
captured from the gateway; then drives each scenario from this process for `--duration`
seconds after `--warmup` seconds that are not counted. Reads that must miss the cache send
`Cache-Control: no-cache` and run one at a time, so their median is comparable with upstream
round trips. Upstream calls per request come from the simulator's request log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import orjson
import uvloop

from bench import report, stack
from bench.load import Sample, drive
from bench.report import FLOOR, FLOOR_ONE, Result
from bench.scenario import (
    FAN_IN_UPSTREAM,
    NESTED_BODY,
    PER_PROFILE_UPSTREAM,
    Scenario,
    Servers,
    scenarios,
)


async def upstream_log(session: aiohttp.ClientSession, simulator: stack.Server) -> int:
    async with session.get(simulator.url + "/_simulator/requests") as response:
        response.raise_for_status()
        return len(orjson.loads(await response.read())["data"])


async def clear_upstream_log(session: aiohttp.ClientSession, simulator: stack.Server) -> None:
    async with session.delete(simulator.url + "/_simulator/requests") as response:
        response.raise_for_status()


@dataclass
class Tally:
    """One scenario's runs so far, over the passes."""

    samples: list[Sample] = field(default_factory=list)
    logged: int = 0
    saturated: bool = False
    server_cpu: float | None = 0.0
    client_cpu: float = 0.0


async def run_once(
    scenario: Scenario,
    concurrency: int,
    args: argparse.Namespace,
    session: aiohttp.ClientSession,
    simulator: stack.Server,
    tally: Tally,
) -> Sample:
    await drive(scenario.action, concurrency, args.warmup)
    await clear_upstream_log(session, simulator)
    server_before, client_before = scenario.server.cpu_seconds(), time.process_time()
    sample = await drive(scenario.action, concurrency, args.duration / args.passes)
    server_after, client_after = scenario.server.cpu_seconds(), time.process_time()
    logged = await upstream_log(session, simulator)
    tally.samples.append(sample)
    tally.logged += logged
    tally.saturated |= logged >= stack.UPSTREAM_LOG_LIMIT
    tally.client_cpu += client_after - client_before
    if tally.server_cpu is None or server_before is None or server_after is None:
        tally.server_cpu = None
    else:
        tally.server_cpu += server_after - server_before
    return sample


async def measure(
    servers: Servers,
    token: str,
    ids: list[str],
    args: argparse.Namespace,
    progress: Callable[[str], None],
) -> list[Result]:
    """Every scenario, in `args.passes` passes alternately forwards and backwards, so that a
    machine getting busier or quieter during the run weighs on all scenarios alike."""
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)  # the workers bound concurrency, not the pool
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        chosen = [
            scenario
            for scenario in scenarios(session, servers, token, ids)
            if not args.only or scenario.key in args.only
        ]
        tallies = {scenario.key: Tally() for scenario in chosen}
        for number in range(args.passes):
            for scenario in chosen if number % 2 == 0 else chosen[::-1]:
                concurrency = args.cold_concurrency if scenario.cold else args.concurrency
                sample = await run_once(
                    scenario, concurrency, args, session, servers.simulator, tallies[scenario.key]
                )
                progress(
                    f"pass {number + 1}, {scenario.key}: {sample.rate:,.0f}/s, p50 "
                    f"{sample.percentile(50) * 1000:.1f} ms, {sample.errors} errors"
                    + (f" (first: {sample.first_error})" if sample.first_error else "")
                )
    results = []
    for scenario in chosen:
        tally = tallies[scenario.key]
        sample = Sample.merge(tally.samples)
        done = max(sample.count, 1)
        results.append(
            Result(
                scenario.key,
                scenario.label,
                args.cold_concurrency if scenario.cold else args.concurrency,
                sample,
                tally.logged / done if scenario.count_upstream else None,
                tally.saturated,
                None if tally.server_cpu is None else tally.server_cpu / done,
                tally.client_cpu / done,
                scenario.versus,
            )
        )
    return results


def capture(gateway: stack.Server, token: str, profile_id: str) -> tuple[bytes, bytes]:
    """The gateway's warm answers to the nested query and to one REST profile read: the bytes
    the Starlette baseline serves. The first of each request fills the cache."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=30) as http:
        for _ in range(2):
            nested = http.post("/graphql", content=NESTED_BODY)
            profile = http.get(f"/v2/messaging_profiles/{profile_id}")
    body = nested.json()
    edges = (body.get("data") or {}).get("messagingProfiles", {}).get("edges", [])
    if nested.status_code != 200 or "errors" in body or len(edges) != stack.PROFILES:
        raise RuntimeError(f"unexpected nested answer {nested.status_code}: {nested.text[:300]}")
    if profile.status_code != 200:
        raise RuntimeError(f"unexpected profile answer {profile.status_code}: {profile.text}")
    return nested.content, profile.content


def checks(results: list[Result]) -> list[str]:
    """Is each scenario what it claims to be: no errors, cold reads reaching Telnyx, warm
    reads served by the gateway's caches."""
    lines = []
    for result in results:
        if result.sample.errors:
            lines.append(f"ERROR  {result.key}: {result.sample.errors} failed; the row is suspect")
        if result.upstream is None or result.key in (FLOOR, FLOOR_ONE):
            continue
        if result.key.endswith("-cold") and result.upstream < 1:
            lines.append(
                f"CHECK  {result.key}: {result.upstream:.2f} upstream calls per request: "
                "some reads were not cold"
            )
        if result.key.endswith("-warm") and result.upstream > 0.05:
            lines.append(
                f"CHECK  {result.key}: {result.upstream:.2f} upstream calls per request: "
                "not served from the cache"
            )
        if result.key == "gql-nested-cold":
            lines.append(
                f"NOTE   {result.key}: {result.upstream:.2f} upstream calls per request "
                f"({PER_PROFILE_UPSTREAM} = 1 + 2 x {stack.PROFILES} with one call per profile "
                f"and nested list; {FAN_IN_UPSTREAM} when the nested lists are read account-wide)"
            )
    return lines


def environment(args: argparse.Namespace) -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}, no pinning), "
        f"load average before the run {load}; Python {platform.python_version()}; "
        f"simulator latency {args.latency * 1000:.0f} ms; {args.duration:g} s per scenario "
        f"in {args.passes} passes, each after {args.warmup:g} s warm-up; concurrency {args.concurrency} warm, "
        f"{args.cold_concurrency} cold; load from one process (aiohttp on uvloop)"
        + "".join(f"; {name}={value}" for name, value in args.set.items())
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="measured seconds per scenario, all passes"
    )
    parser.add_argument(
        "--warmup", type=float, default=0.5, help="uncounted seconds before each pass"
    )
    parser.add_argument(
        "--passes", type=int, default=2, help="passes over the scenarios, alternating order"
    )
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added upstream")
    parser.add_argument("--concurrency", type=int, default=16, help="workers for warm reads")
    parser.add_argument(
        "--cold-concurrency", type=int, default=1, help="workers for cold reads and writes"
    )
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    stack.add_set_option(
        parser, "an extra GATEWAY_* or OTEL_* variable for the gateway, e.g. OTEL_SDK_DISABLED=true"
    )
    parser.add_argument(
        "--only", type=lambda text: set(text.split(",")), help="comma-separated scenario keys"
    )
    args = parser.parse_args(argv)
    if min(args.concurrency, args.cold_concurrency, args.passes) < 1 or args.duration <= 0:
        parser.error("concurrency and passes must be at least 1, duration positive")
    args.set = stack.set_variables(parser, args.set)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {line}", file=sys.stderr, flush=True)

    header = environment(args)
    with (
        tempfile.TemporaryDirectory(prefix="gateway-bench-") as workdir,
        stack.running(Path(workdir)) as processes,
    ):
        simulator = stack.start_simulator(processes, args.latency)
        sink = stack.start_sink(processes)
        ids = stack.seed(simulator)
        token = stack.new_token()
        gateway = stack.start_gateway(processes, simulator, sink, token, args.set)
        nested, profile = capture(gateway, token, ids[0])
        baseline = stack.start_baseline(processes, nested, profile, simulator.url)
        progress(f"started; nested answer {len(nested):,} B, profile {len(profile):,} B")
        servers = Servers(simulator, gateway, baseline)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(measure(servers, token, ids, args, progress))
        exported = httpx.get(sink.url, timeout=5).json()
        gateway_log = gateway.tail(5)
    print(header)
    print(report.table(results, markdown=args.markdown))
    print()
    for line in [*report.targets(results, args.latency), *checks(results)]:
        print(line)
    print(
        f"tracing: {exported['batches']} OTLP batches ({exported['bytes'] / 1e6:.1f} MB) "
        "reached the sink"
    )
    if gateway_log.strip():
        print(f"gateway log (last lines):\n{gateway_log}")
    progress("done")


if __name__ == "__main__":
    main()
