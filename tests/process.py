"""`python -m gateway serve` as a real process on a free 127.0.0.1 port, for the tests
that need uvicorn, signals and sockets as production has them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    metrics_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def sigterm(self) -> float:
        self.process.send_signal(signal.SIGTERM)
        return time.monotonic()

    def logs(self) -> str:
        return self.log.read_text()

    def refuses_connections(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            time.sleep(0.02)
        return False


Start = Callable[..., Gateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Start]:
    """`start_gateway(**env)` runs a gateway with exactly these variables (plus its two
    ports and no telemetry export unless given), waits until /readyz answers 200, and kills
    it at the end of the test if it is still running."""
    started: list[Gateway] = []

    def run(**env: str) -> Gateway:
        port, metrics_port = free_port(), free_port()
        log = tmp_path / f"gateway-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"],
                cwd=ROOT,
                # Exactly these variables: no GATEWAY_* or OTEL_* leaks in from outside.
                env={
                    "GATEWAY_PORT": str(port),
                    "GATEWAY_METRICS_PORT": str(metrics_port),
                    "OTEL_SDK_DISABLED": "true",
                    **env,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        gateway = Gateway(process, port, log, metrics_port)
        started.append(gateway)
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, gateway.logs()
            try:
                if httpx.get(f"{gateway.url}/readyz", timeout=1).status_code == 200:
                    return gateway
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, gateway.logs()
            time.sleep(0.05)

    yield run
    for gateway in started:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait()


@pytest.fixture
def simulator_url(tmp_path: Path) -> Iterator[str]:
    """The Telnyx simulator as a process of its own (`python -m gateway simulate`), for
    gateways started by `start_gateway`; yields its base URL, without `/v2`."""
    port = free_port()
    with (tmp_path / "simulator.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "simulate", "--port", str(port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, (tmp_path / "simulator.log").read_text()
        try:
            if httpx.get(f"{url}/_simulator/faults", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.05)
    yield url
    process.kill()
    process.wait()
