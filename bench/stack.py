"""The processes the gateway benchmark measures: simulator, OTLP sink, gateway and baseline,
each on a free 127.0.0.1 port, with the simulator seeded for the scenarios."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TENANT_ID = "bench"
TELNYX_KEY = "KEYbench000000000000000000000000"
PROFILES = 20  # one page of the nested query
PHONE_NUMBERS_PER_PROFILE = 3  # as the simulator's own seed
SHORT_CODES_PER_PROFILE = 1
# So high that no scenario is ever rate limited: a 429 measures nothing.
RATE_LIMIT = {"per_second": 1_000_000.0, "burst": 1_000_000}
UPSTREAM_LOG_LIMIT = 10_000  # the simulator keeps its last 10,000 requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Server:
    """One started process, its port and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    # The gateway's metrics listener (`GATEWAY_METRICS_PORT`), where it has one.
    metrics_port: int | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port or self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float | None:
        """User plus system CPU the process has used, from /proc (None elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime are the 14th and 15th fields; fields[0] here is the 3rd.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_ready(self, path: str, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start within {within} s:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stack:
    """The running servers; `start` adds one, and `stop` ends them all in reverse order."""

    workdir: Path
    servers: list[Server] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        *,
        program: str = sys.executable,
    ) -> Server:
        """Run `program <argv>` (our interpreter by default) with exactly `env`; "{port}" in
        either becomes a free port."""
        port = str(free_port())
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603  -- our own interpreter, modules and tools
                [program, *(arg.replace("{port}", port) for arg in argv)],
                cwd=ROOT,
                # Exactly these variables: no GATEWAY_* or OTEL_* leaks in from outside.
                env={key: value.replace("{port}", port) for key, value in (env or {}).items()},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(name, process, int(port), log)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


@contextlib.contextmanager
def running(workdir: Path) -> Iterator[Stack]:
    stack = Stack(workdir)
    try:
        yield stack
    finally:
        stack.stop()


def start_simulator(stack: Stack, latency: float) -> Server:
    simulator = stack.start(
        "simulator",
        ["-m", "gateway", "simulate", "--port", "{port}", "--latency", str(latency)],
    )
    simulator.wait_ready("/_simulator/faults")
    return simulator


def seed(simulator: Server) -> list[str]:
    """Give the bench account `PROFILES` profiles, each with numbers and short codes; return
    the ids of the first page, oldest first, as the nested query lists them."""
    auth = {"Authorization": f"Bearer {TELNYX_KEY}"}
    with httpx.Client(base_url=simulator.url, timeout=10) as http:

        def page() -> list[str]:
            response = http.get(
                "/v2/messaging_profiles", params={"page[size]": PROFILES}, headers=auth
            )
            response.raise_for_status()
            return [profile["id"] for profile in response.json()["data"]]

        have = page()  # the first use seeds the account with the simulator's sample data
        seed_url = f"/_simulator/accounts/{TELNYX_KEY}/seed"
        http.post(seed_url, json={"profiles": PROFILES - len(have)}).raise_for_status()
        ids = page()
        for profile_id in ids[len(have) :]:
            http.post(
                seed_url,
                json={
                    "messaging_profile_id": profile_id,
                    "phone_numbers": PHONE_NUMBERS_PER_PROFILE,
                    "short_codes": SHORT_CODES_PER_PROFILE,
                },
            ).raise_for_status()
        http.delete("/_simulator/requests").raise_for_status()
    if len(ids) != PROFILES:
        raise RuntimeError(f"seeded {len(ids)} profiles, wanted {PROFILES}")
    return ids


def start_sink(stack: Stack) -> Server:
    sink = stack.start("otlp-sink", ["-m", "bench.servers", "sink", "--port", "{port}"])
    sink.wait_ready("/")
    return sink


def start_gateway(
    stack: Stack,
    simulator: Server,
    sink: Server,
    token: str,
    extra: dict[str, str],
    *,
    name: str = "gateway",
) -> Server:
    """`python -m gateway serve` as production runs it: tenants file, tracing to OTLP with the
    default sampler, warning logs; only the bench tenant's rate limit is raised. `extra`
    variables come last, for experiments."""
    tenants = stack.workdir / "tenants.json"
    entry = {
        "id": TENANT_ID,
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "telnyx_api_key": TELNYX_KEY,
        "rate_limit": RATE_LIMIT,
    }
    tenants.write_text(json.dumps({"tenants": [entry]}))
    metrics_port = free_port()
    gateway = stack.start(
        name,
        ["-m", "gateway", "serve"],
        env={
            "GATEWAY_PORT": "{port}",
            "GATEWAY_METRICS_PORT": str(metrics_port),
            "GATEWAY_DEMO": "false",
            "GATEWAY_TENANTS_FILE": str(tenants),
            "GATEWAY_TELNYX_BASE_URL": f"{simulator.url}/v2",
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_SHUTDOWN_BUDGET": "3",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
            **extra,
        },
    )
    gateway.metrics_port = metrics_port
    gateway.wait_ready("/readyz")
    return gateway


def start_baseline(
    stack: Stack, nested: bytes, profile: bytes, upstream: str | None = None
) -> Server:
    nested_file = stack.workdir / "nested.json"
    profile_file = stack.workdir / "profile.json"
    nested_file.write_bytes(nested)
    profile_file.write_bytes(profile)
    baseline = stack.start(
        "baseline",
        [
            "-m",
            "bench.servers",
            "baseline",
            "--port",
            "{port}",
            "--nested",
            str(nested_file),
            "--profile",
            str(profile_file),
            *(["--upstream", upstream] if upstream else []),
        ],
    )
    baseline.wait_ready("/v2/messaging_profiles/any")
    return baseline


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """`--set NAME=VALUE`, repeatable: extra variables for the gateway (see `set_variables`)."""
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help=help)


def set_variables(
    parser: argparse.ArgumentParser,
    items: list[str],
    prefixes: tuple[str, ...] = ("GATEWAY_", "OTEL_"),
) -> dict[str, str]:
    """`--set`'s NAME=VALUE items as variables; a usage error for one without `=` or with a
    name outside `prefixes`."""
    settings = [item.partition("=") for item in items]
    if any(not sep or not name.startswith(prefixes) for name, sep, _ in settings):
        parser.error("--set takes " + " or ".join(f"{prefix}*=VALUE" for prefix in prefixes))
    return {name: value for name, _, value in settings}


def new_token() -> str:
    return secrets.token_urlsafe(24)
