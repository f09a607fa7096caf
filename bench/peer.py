"""The gateway beside the usual alternative: Hive Gateway serving a GraphQL Mesh composition
of Telnyx's OpenAPI extract, both in front of the same simulator, measured in one run.

    make bench-peer        # installs the peer from bench/peer/package-lock.json, then:
    .venv/bin/python -m bench.peer [--concurrency N] [--duration S] [--passes N]
                                   [--latency S] [--markdown] [--set NAME=VALUE]

Cold reads on `--concurrency` connections (1 by default, as `bench.run` measures its cold
scenarios; the peer was first measured on 8, with wrk): the peer keeps nothing, so every
answer of its costs an upstream call, as a gateway read sent with `Cache-Control: no-cache`
does. `--set` gives the gateway an extra `GATEWAY_*` or `OTEL_*` variable
(`OTEL_SDK_DISABLED=true`: no tracing, as the peer). Scenarios, run in `--passes` passes alternately forwards and
backwards:

- one profile by id, twelve fields: the peer's `RetrieveMessagingProfile`, the gateway's
  `messagingProfile(id)`, and the gateway's REST `GET /v2/messaging_profiles/{id}`;
- a page of 20 profiles, the same twelve fields: `ListMessagingProfiles(page: {size: 20})`
  and `messagingProfiles(first: 20)`;
- the simulator called directly, for the latency both add.

The gateway runs as `bench.run` starts it (tracing exported over OTLP to a sink, the default
sampler); the peer as its CLI starts it (`hive-gateway supergraph`, one process, tracing
off). CPU per request is each server's whole process tree, from /proc; RSS is read at the
end. The composition reads `../shared/telnyx/openapi-messaging.yaml` beside the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench import stack
from bench.load import BadResponseError, Sample, drive, fetch
from bench.scenario import LIST_QUERY, PROFILE_QUERY
from bench.servers_compare import process_tree, tree_cpu_seconds

PEER = stack.ROOT / "bench/peer"
SPEC = stack.ROOT.parent / "shared/telnyx/openapi-messaging.yaml"
# The gateway's twelve fields of a profile, as the composition names them.
PEER_FIELDS = (
    "id name enabled webhook_url webhook_failover_url webhook_api_version "
    "whitelisted_destinations daily_spend_limit daily_spend_limit_enabled "
    "mms_fall_back_to_sms created_at updated_at"
)
PEER_PROFILE = (
    "query Profile($id: UUID!) { RetrieveMessagingProfile(id: $id) { "
    f"... on Messaging_Profile_Response {{ data {{ {PEER_FIELDS} }} }} }} }}"
)
PEER_LIST = (
    "query List { ListMessagingProfiles(page: {size: 20}) { "
    "... on List_Messaging_Profiles_Response { "
    f"data {{ {PEER_FIELDS} }} meta {{ total_results }} }} }} }}"
)

Action = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    server: stack.Server | None  # whose CPU is measured; None for the simulator direct
    action: Action


def node_path() -> str:
    """A PATH with Node on it, for the tools' `#!/usr/bin/env node`."""
    node = shutil.which("node")
    if node is None:
        sys.exit("node is not on PATH: the peer needs Node 20 or later")
    return f"{Path(node).parent}{os.pathsep}{os.defpath}"


def compose(workdir: Path) -> Path:
    """The peer's supergraph, composed from the OpenAPI extract."""
    tool = PEER / "node_modules/.bin/mesh-compose"
    if not tool.exists():
        sys.exit(f"{tool} is missing: run `make bench-peer` (needs Node 20 and npm)")
    if not SPEC.exists():
        sys.exit(f"{SPEC} is missing: the composition reads Telnyx's OpenAPI extract there")
    supergraph = workdir / "supergraph.graphql"
    subprocess.run(  # noqa: S603  -- the locked tool from bench/peer
        [str(tool), "-o", str(supergraph)],
        cwd=PEER,
        env={"PATH": node_path(), "TELNYX_SPEC": str(SPEC)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return supergraph


def start_peer(processes: stack.Stack, supergraph: Path, simulator: stack.Server) -> stack.Server:
    peer = processes.start(
        "peer",
        ["supergraph", str(supergraph), "--host", "127.0.0.1", "--port", "{port}", "--fork", "1"],
        {
            "PATH": node_path(),
            "NODE_ENV": "production",
            "TELNYX_URL": f"{simulator.url}/v2",
        },
        program=str(PEER / "node_modules/.bin/hive-gateway"),
    )
    peer.wait_ready("/healthcheck")
    return peer


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, StopIteration):
            status = Path(f"/proc/{member}/status").read_text().splitlines()
            total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return total / 1024


def rows(
    session: aiohttp.ClientSession,
    servers: dict[str, stack.Server],
    token: str,
    profile_id: str,
) -> list[Row]:
    gateway, peer, simulator = servers["gateway"], servers["peer"], servers["simulator"]
    cold = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Cache-Control": "no-cache",
    }
    upstream = {"Authorization": f"Bearer {stack.TELNYX_KEY}", "Content-Type": "application/json"}

    def graphql(
        server: stack.Server, headers: dict[str, str], query: str, **variables: str
    ) -> Action:
        body = orjson.dumps({"query": query, "variables": variables})

        async def action(_: int) -> None:
            data = await fetch(session, "POST", server.url + "/graphql", body=body, headers=headers)
            if b'"errors"' in data or profile_id.encode() not in data:
                raise BadResponseError(data[:300].decode(errors="replace"))

        return action

    def get(url: str, headers: dict[str, str]) -> Action:
        async def action(_: int) -> None:
            await fetch(session, "GET", url, headers=headers)

        return action

    path = f"/v2/messaging_profiles/{profile_id}"
    return [
        Row("direct-one", "simulator direct, one profile", None, get(simulator.url + path, upstream)),
        Row("peer-one", "peer: RetrieveMessagingProfile", peer,
            graphql(peer, upstream, PEER_PROFILE, id=profile_id)),
        Row("gql-one", "gateway: messagingProfile(id)", gateway,
            graphql(gateway, cold, PROFILE_QUERY, id=profile_id)),
        Row("rest-one", "gateway: REST profile by id", gateway, get(gateway.url + path, cold)),
        Row("direct-list", "simulator direct, page of 20", None,
            get(simulator.url + f"/v2/messaging_profiles?page[size]={stack.PROFILES}", upstream)),
        Row("peer-list", "peer: ListMessagingProfiles, 20", peer, graphql(peer, upstream, PEER_LIST)),
        Row("gql-list", "gateway: messagingProfiles(first: 20)", gateway,
            graphql(gateway, cold, LIST_QUERY)),
    ]  # fmt: skip


async def measure(
    table: list[Row], passes: int, seconds: float, warmup: float, concurrency: int
) -> dict[str, tuple[Sample, float | None]]:
    samples: dict[str, list[Sample]] = {row.key: [] for row in table}
    cpu: dict[str, float] = {row.key: 0.0 for row in table}
    for number in range(passes):
        for row in table if number % 2 == 0 else table[::-1]:
            await drive(row.action, concurrency, warmup)
            pid = row.server.process.pid if row.server else None
            before = tree_cpu_seconds(pid) if pid else 0.0
            sample = await drive(row.action, concurrency, seconds / passes)
            if pid:
                cpu[row.key] += tree_cpu_seconds(pid) - before
            if sample.errors:
                raise RuntimeError(f"{row.label}: {sample.first_error}")
            samples[row.key].append(sample)
            print(f"pass {number + 1}, {row.label}: {sample.rate:,.0f}/s", file=sys.stderr)
    merged = {key: Sample.merge(found) for key, found in samples.items()}
    return {
        row.key: (
            merged[row.key],
            cpu[row.key] / merged[row.key].count * 1000 if row.server else None,
        )
        for row in table
    }


def report(
    table: list[Row], results: dict[str, tuple[Sample, float | None]], markdown: bool
) -> str:
    header = ("scenario", "req/s", "p50 ms", "p99 ms", "server CPU ms/req")
    lines = []
    for row in table:
        sample, cpu = results[row.key]
        lines.append((
            row.label,
            f"{sample.rate:,.0f}",
            f"{sample.percentile(50) * 1000:.1f}",
            f"{sample.percentile(99) * 1000:.1f}",
            "-" if cpu is None else f"{cpu:.2f}",
        ))  # fmt: skip
    if markdown:
        return "\n".join(
            "| " + " | ".join(cells) + " |"
            for cells in [header, tuple("---" for _ in header), *lines]
        )
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        for cells in [header, *lines]
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, stack.running(Path(tmp)) as processes:
        supergraph = compose(Path(tmp))
        simulator = stack.start_simulator(processes, args.latency)
        ids = stack.seed(simulator)
        sink = stack.start_sink(processes)
        token = stack.new_token()
        servers = {
            "simulator": simulator,
            "gateway": stack.start_gateway(processes, simulator, sink, token, args.set),
            "peer": start_peer(processes, supergraph, simulator),
        }
        async with aiohttp.ClientSession() as session:
            table = rows(session, servers, token, ids[0])
            results = await measure(
                table, args.passes, args.duration, args.warmup, args.concurrency
            )
        memory = {name: rss_mib(servers[name].process.pid) for name in ("gateway", "peer")}
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; simulator latency "
        f"{args.latency * 1000:g} ms; {args.duration:g} s per scenario in {args.passes} passes; "
        f"{args.concurrency} connection(s) each"
        + "".join(f"; gateway {name}={value}" for name, value in args.set.items())
    )
    print(report(table, results, args.markdown))
    print(f"RSS at the end: gateway {memory['gateway']:.1f} MiB, peer {memory['peer']:.1f} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per scenario")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=0.5, help="uncounted seconds per pass")
    parser.add_argument("--concurrency", type=int, default=1, help="connections per scenario")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added upstream")
    parser.add_argument("--markdown", action="store_true")
    stack.add_set_option(
        parser, "an extra GATEWAY_* or OTEL_* variable for the gateway, e.g. OTEL_SDK_DISABLED=true"
    )
    args = parser.parse_args(argv)
    args.set = stack.set_variables(parser, args.set)
    if min(args.passes, args.concurrency) < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("passes and concurrency at least 1, duration positive, warmup at least 0")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
