"""Servers for the gateway compared: protections before authentication, and warm throughput.

    .venv/bin/python -m bench.servers_compare [--duration S] [--markdown] [--only a,b]
    .venv/bin/python -m bench.servers_compare --flood 20000 [--only gateway,uvicorn-httptools]

Each candidate serves the same gateway (`create_app`, production mode, tracing to an OTLP
sink) over the Telnyx simulator (20 ms latency), with the nearest it has to the gateway's
defaults: 10 s for a request's head and body, 64 KiB of head, 5 s idle keep-alive, and a
cap of 2,000 connections (`bench/candidate.py` says how each is configured). From this
process, one candidate at a time while the others wait idle:

- probes on fresh connections, run together, each watched for at most `--probe-limit`
  seconds: a head that never ends; a head sent one line a second; a connection that sends
  nothing; a body that stops after one byte; an idle keep-alive connection; a 1 MiB
  header. Each cell says what the server answered (or `closed`) and after how long;
- 1,000 half-open connections (`GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n`, never finished):
  a tenant's cached REST read on a new connection while they are open, and when the server
  had closed them all;
- 2,500 half-open connections against the cap of 2,000: how many the server still held
  a second later, and the tenant's read meanwhile;

then warm throughput, as `bench/run.py` measures it, over all candidates in `--passes`
passes alternately forwards and backwards (so that a machine getting busier weighs on all
alike): a cached GraphQL `messagingProfile(id)` and a cached REST
`GET /v2/messaging_profiles/{id}`, 16 workers, requests/s and the server's CPU per
request (its whole process tree, from /proc).

`--flood N` runs instead N half-open connections (from several `bench/halfopen.py`
processes, each within its own open-files limit) against each candidate for 30 s, with a
tenant's read on a new connection and a health check every half second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import uvloop

from bench import stack
from bench.load import Sample, drive, fetch
from bench.scenario import PROFILE_QUERY

CAP = 2000
HALF_OPEN = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
GRANIAN = [
    "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
    "--port", "{port}", "--http", "1", "--no-ws", "--loop", "uvloop", "--workers", "1",
    "--runtime-threads", "1", "--http1-header-read-timeout", "10000",
    "--http1-buffer-size", "65536", "--backpressure", str(CAP), "--log-level", "warning",
    "bench.candidate:gateway_app",
]  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    name: str
    label: str
    argv: list[str]
    needs: str | None = None  # a module that must be importable


CANDIDATES = (
    Candidate(
        "gateway",
        "uvicorn + httptools, guarded (`python -m gateway serve`)",
        ["-m", "gateway", "serve"],
    ),
    Candidate(
        "uvicorn-httptools",
        "uvicorn + httptools, as before",
        ["-m", "bench.candidate", "uvicorn-httptools", "--port", "{port}"],
    ),
    Candidate(
        "uvicorn-h11",
        "uvicorn + h11",
        ["-m", "bench.candidate", "uvicorn-h11", "--port", "{port}"],
    ),
    Candidate("granian", "Granian (Rust, ASGI)", GRANIAN, needs="granian"),
    Candidate(
        "hypercorn",
        "Hypercorn (h11)",
        ["-m", "bench.candidate", "hypercorn", "--port", "{port}"],
        needs="hypercorn",
    ),
)


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and all its descendants, from /proc."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def open_files(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in process_tree(pid))


def process_tree(pid: int) -> Iterator[int]:
    """A process and all its descendants, from /proc."""
    pending = [pid]
    while pending:
        current = pending.pop()
        yield current
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]


# --- probes ----------------------------------------------------------------------------


async def _read_until_closed(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, bool]:
    data = b""
    try:
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                data += chunk
    except TimeoutError:
        return data, False
    except OSError:
        pass
    return data, True


def _verdict(data: bytes, closed: bool, elapsed: float, limit: float) -> str:
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.") else None
    if not closed:
        return f"open at {limit:g} s" + (f" ({status})" if status else "")
    return f"{status or 'closed'} after {elapsed:.1f} s"


async def probe(
    port: int, first: bytes, limit: float, *, then: bytes = b"", every: float = 0.0
) -> str:
    """Send `first` (then `then` every `every` seconds while open) and report how the
    server ended the connection, if it did within `limit` seconds."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(first)

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            while True:
                await asyncio.sleep(every)
                writer.write(then)
                await writer.drain()

    dripping = asyncio.create_task(trickle()) if every else None
    if first.endswith(b"\r\n\r\n") and not then and not every and b"Content-Length" not in first:
        # A complete request: the connection's idle time starts with the response.
        await reader.readuntil(b"\r\n\r\n")
        started = time.monotonic()
    data, closed = await _read_until_closed(reader, limit)
    if dripping:
        dripping.cancel()
    writer.close()
    return _verdict(data, closed, time.monotonic() - started, limit)


async def big_header(port: int, size: int) -> str:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    with contextlib.suppress(OSError):
        writer.write(request)
        await writer.drain()
    data, closed = await _read_until_closed(reader, 15)
    writer.close()
    if data.startswith(b"HTTP/1.1 200"):
        return "accepted (200)"
    return _verdict(data, closed, time.monotonic() - started, 15)


async def tenant_read(port: int, path: str, token: str, limit: float = 10.0) -> float | None:
    """Seconds for a cached REST read on a new connection, or None if not answered 200."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            data, _ = await _read_until_closed(reader, limit)
            writer.close()
    except (OSError, TimeoutError):
        return None
    return time.monotonic() - started if data.startswith(b"HTTP/1.1 200") else None


@dataclass
class HalfOpen:
    """Connections held half-open: each one's close time (None while open)."""

    closed_at: list[float | None]
    all_closed: asyncio.Event

    @property
    def held(self) -> int:
        return sum(1 for t in self.closed_at if t is None)


async def half_open(port: int, count: int, limit: float) -> HalfOpen:
    """Open `count` half-open connections, held by tasks in `HOLDERS` until `_release`;
    return once all are open (or failed to open)."""
    flood = HalfOpen([None] * count, asyncio.Event())
    started = time.monotonic()
    gate = asyncio.Semaphore(256)
    all_open = asyncio.Event()
    opened = closed = 0

    def count_closed(index: int) -> None:
        nonlocal closed
        flood.closed_at[index] = time.monotonic() - started
        closed += 1
        if closed == count:
            flood.all_closed.set()

    async def hold(index: int) -> None:
        nonlocal opened
        async with gate:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(HALF_OPEN)
            except OSError:
                reader = None
            opened += 1
            if opened == count:
                all_open.set()
        if reader is None:
            count_closed(index)
            return
        _, was_closed = await _read_until_closed(reader, limit)
        if was_closed:
            count_closed(index)
        writer.close()

    HOLDERS.extend(asyncio.create_task(hold(i)) for i in range(count))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_open.wait(), limit)
    return flood


HOLDERS: list[asyncio.Task[None]] = []


async def protections(port: int, token: str, profile_path: str, limit: float) -> dict[str, str]:
    auth = f"Authorization: Bearer {token}\r\n"
    body_head = (
        f"POST /graphql HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{"
    ).encode()
    probes = {
        "head never ends": probe(port, HALF_OPEN, limit),
        "head, a line a second": probe(
            port, b"GET /healthz HTTP/1.1\r\n", limit, then=b"X-A: b\r\n", every=1.0
        ),
        "sends nothing": probe(port, b"", limit),
        "body stops": probe(port, body_head, limit),
        "idle keep-alive": probe(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", limit),
        "1 MiB header": big_header(port, 1 << 20),
    }
    results = dict(zip(probes, await asyncio.gather(*probes.values()), strict=True))
    # 1,000 half-open connections and a tenant's read among them.
    flood = await half_open(port, 1000, limit)
    await asyncio.sleep(0.5)
    results["1,000 half-open: tenant read"] = _ms(await tenant_read(port, profile_path, token))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(flood.all_closed.wait(), limit)
    done = [t for t in flood.closed_at if t is not None]
    results["1,000 half-open: all closed"] = (
        f"after {max(done):.1f} s" if not flood.held else f"{len(done)} of 1,000"
    )
    await _release()
    # Past the cap.
    flood = await half_open(port, CAP + 500, limit)
    await asyncio.sleep(1.0)
    held = flood.held
    latency = await tenant_read(port, profile_path, token)
    results[f"{CAP + 500:,} half-open, cap {CAP:,}: held"] = f"{held:,}"
    results[f"{CAP + 500:,} half-open: tenant read"] = _ms(latency)
    await _release()
    return results


async def _release() -> None:
    for task in HOLDERS:
        task.cancel()
    await asyncio.gather(*HOLDERS, return_exceptions=True)
    HOLDERS.clear()
    await asyncio.sleep(1.0)  # let the server see them go


def _ms(latency: float | None) -> str:
    return "no answer" if latency is None else f"{latency * 1000:.0f} ms"


# --- throughput ------------------------------------------------------------------------


async def throughput(
    gateways: dict[str, stack.Server], token: str, profile_id: str, args: argparse.Namespace
) -> dict[str, dict[str, str]]:
    """req/s and server CPU ms/req for the two cached reads on every candidate, in
    `args.passes` passes alternately forwards and backwards, so that a machine getting
    busier or quieter weighs on all of them alike."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = orjson.dumps({"query": PROFILE_QUERY, "variables": {"id": profile_id}})
    path = f"/v2/messaging_profiles/{profile_id}"
    runs = {(name, key): [0, 0.0, 0.0] for name in gateways for key in ("graphql", "rest")}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for number in range(args.passes):
            names = list(gateways) if number % 2 == 0 else list(gateways)[::-1]
            for name in names:
                gateway = gateways[name]

                async def graphql(_: int, url: str = gateway.url) -> None:
                    await fetch(session, "POST", url + "/graphql", body=body, headers=headers)

                async def rest(_: int, url: str = gateway.url) -> None:
                    await fetch(session, "GET", url + path, headers=headers)

                for key, action in (("graphql", graphql), ("rest", rest)):
                    await drive(action, 16, 0.5)
                    before = tree_cpu_seconds(gateway.process.pid)
                    sample: Sample = await drive(action, 16, args.duration / args.passes)
                    cpu = tree_cpu_seconds(gateway.process.pid) - before
                    if sample.errors:
                        raise RuntimeError(f"{name} {key}: {sample.first_error}")
                    tally = runs[name, key]
                    tally[0] += sample.count
                    tally[1] += sample.seconds
                    tally[2] += cpu
                    print(
                        f"pass {number + 1}, {name} {key}: {sample.rate:,.0f}/s",
                        file=sys.stderr,
                        flush=True,
                    )
    out: dict[str, dict[str, str]] = {name: {} for name in gateways}
    for (name, key), (count, seconds, cpu) in runs.items():
        out[name][f"warm {key} req/s"] = f"{count / seconds:,.0f}"
        out[name][f"warm {key} CPU ms/req"] = f"{cpu / max(count, 1) * 1000:.3f}"
    return out


# --- flood -----------------------------------------------------------------------------


async def flood(
    gateway: stack.Server, health_url: str, token: str, path: str, count: int
) -> dict[str, str]:
    seconds = 30.0
    per_process = 9000
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.halfopen", "--port", str(gateway.port),
            "--connections", str(min(per_process, count - n)), "--seconds", str(seconds),
            cwd=stack.ROOT, stdout=subprocess.PIPE,
        )
        for n in range(0, count, per_process)
    ]  # fmt: skip
    reads: list[float | None] = []
    health: list[bool] = []
    peak_files = 0
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() - started < seconds - 1:
            reads.append(await tenant_read(gateway.port, path, token, limit=2.0))
            try:
                async with session.get(health_url) as response:
                    health.append(response.status == 200)
            except (aiohttp.ClientError, TimeoutError):
                health.append(False)
            with contextlib.suppress(OSError):
                peak_files = max(peak_files, open_files(gateway.process.pid))
            await asyncio.sleep(0.5)
    outcomes = [json.loads((await client.communicate())[0]) for client in clients]
    answered = [r for r in reads if r is not None]
    lasts = [o["last_close_s"] for o in outcomes if o["last_close_s"] is not None]
    return {
        "connections opened": f"{sum(o['opened'] for o in outcomes):,}",
        "could not connect": f"{sum(o['failed'] for o in outcomes):,}",
        "closed by the server": f"{sum(o['closed_by_server'] for o in outcomes):,}"
        + (f", the last after {max(lasts):.1f} s" if lasts else ""),
        "server still running": "yes" if gateway.process.poll() is None else "no",
        "server's open files, peak": f"{peak_files:,}",
        "tenant reads answered": f"{len(answered)} of {len(reads)}"
        + (f", slowest {max(answered) * 1000:.0f} ms" if answered else ""),
        "health checks answered": f"{sum(health)} of {len(health)}",
    }


# --- the run ---------------------------------------------------------------------------


def start(
    processes: stack.Stack, candidate: Candidate, simulator: stack.Server, sink: stack.Server,
    token: str, metrics_port: int, cap: int | None,
) -> stack.Server:  # fmt: skip
    tenants = processes.workdir / "tenants.json"
    tenants.write_text(
        json.dumps(
            {
                "tenants": [
                    {
                        "id": stack.TENANT_ID,
                        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                        "telnyx_api_key": stack.TELNYX_KEY,
                        "rate_limit": stack.RATE_LIMIT,
                    }
                ]
            }
        )
    )
    env = {
        "GATEWAY_PORT": "{port}",
        "GATEWAY_METRICS_PORT": str(metrics_port),
        "GATEWAY_DEMO": "false",
        "GATEWAY_TENANTS_FILE": str(tenants),
        "GATEWAY_TELNYX_BASE_URL": f"{simulator.url}/v2",
        "GATEWAY_LOG_LEVEL": "warning",
        "GATEWAY_SHUTDOWN_BUDGET": "2",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "PATH": os.defpath,
    }
    if cap is not None:
        env["GATEWAY_MAX_CONNECTIONS"] = str(cap)
    server = processes.start(candidate.name, candidate.argv, env)
    server.wait_ready("/readyz")
    return server


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--duration", type=float, default=6.0, help="measured seconds per warm read, all passes"
    )
    parser.add_argument("--passes", type=int, default=2, help="throughput passes")
    parser.add_argument("--probe-limit", type=float, default=30.0, help="seconds per probe")
    parser.add_argument("--flood", type=int, default=0, help="half-open connections instead")
    parser.add_argument("--throughput-only", action="store_true", help="skip the probes")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--only", type=lambda text: text.split(","), help="candidate names")
    return parser.parse_args(argv)


def table(rows: dict[str, dict[str, str]], markdown: bool) -> str:
    columns = list(next(iter(rows.values())))
    header = ["server", *columns]
    lines = [[name, *(cells.get(c, "-") for c in columns)] for name, cells in rows.items()]
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    # Transposed in plain text: one line per measure, one column per server.
    width = max(len(c) for c in header)
    names = list(rows)
    out = [" " * width + "  " + "  ".join(f"{n:>24}" for n in names)]
    for column in columns:
        out.append(f"{column:<{width}}  " + "  ".join(f"{rows[n][column]:>24}" for n in names))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    chosen = [
        c
        for c in CANDIDATES
        if (not args.only or c.name in args.only)
        and (c.needs is None or importlib.util.find_spec(c.needs) is not None)
    ]
    missing = [
        c.name for c in CANDIDATES if c not in chosen and (not args.only or c.name in args.only)
    ]
    rows: dict[str, dict[str, str]] = {}
    load_before = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    with (
        tempfile.TemporaryDirectory(prefix="servers-compare-") as workdir,
        stack.running(Path(workdir)) as processes,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        simulator = stack.start_simulator(processes, 0.02)
        sink = stack.start_sink(processes)
        ids = stack.seed(simulator)
        token = stack.new_token()
        path = f"/v2/messaging_profiles/{ids[0]}"
        gateways: dict[str, stack.Server] = {}
        # One candidate at a time under the probes; the others wait, idle.
        for candidate in chosen:
            metrics_port = stack.free_port()
            # The flood meets the default cap; the probes a smaller one, quicker to reach.
            cap = None if args.flood else CAP
            gateway = start(processes, candidate, simulator, sink, token, metrics_port, cap)
            gateways[candidate.name] = gateway
            health = (
                f"http://127.0.0.1:{metrics_port}/healthz"
                if candidate.name == "gateway"
                else gateway.url + "/healthz"
            )
            runner.run(tenant_read(gateway.port, path, token))  # fills the cache
            if args.flood:
                cells = runner.run(flood(gateway, health, token, path, args.flood))
                gateway.stop()
            elif args.throughput_only:
                cells = {}
            else:
                cells = runner.run(protections(gateway.port, token, path, args.probe_limit))
            rows[candidate.name] = cells
            print(f"{candidate.name}: {cells}", file=sys.stderr, flush=True)
        if not args.flood:
            for name, cells in runner.run(throughput(gateways, token, ids[0], args)).items():
                rows[name].update(cells)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{os.cpu_count()} cores; load average {load_before} before, {load} after; "
        f"Python {sys.version.split()[0]}"
    )
    labels = {c.name: c.label for c in CANDIDATES}
    print(table({labels[name]: cells for name, cells in rows.items()}, args.markdown))
    if missing:
        print(f"not measured (not installed): {', '.join(missing)}")


if __name__ == "__main__":
    main()
