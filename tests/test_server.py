"""`python -m gateway serve`: the metrics port beside the API port, and the open-files limit
raised and reported at start-up."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from gateway.config import Settings
from gateway.server import METRICS_CONNECTIONS, RESERVED_FILES
from tests.process import ROOT, Start, free_port

AUTH = {"Authorization": "Bearer demo-token"}


@pytest.mark.slow
def test_metrics_and_probes_have_their_own_port_and_the_api_port_has_no_metrics(
    start_gateway: Start,
) -> None:
    gateway = start_gateway(OTEL_SDK_DISABLED="false", OTEL_TRACES_EXPORTER="none")
    read = httpx.get(f"{gateway.url}/v2/messaging_profiles", headers=AUTH, timeout=10)
    assert read.status_code == 200
    assert httpx.get(f"{gateway.url}/metrics", timeout=10).status_code == 404
    for path in ("/healthz", "/readyz"):
        assert httpx.get(gateway.url + path, timeout=10).status_code == 200
    assert httpx.get(f"{gateway.metrics_url}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{gateway.metrics_url}/readyz", timeout=10).json() == {
        "status": "ready",
        "checks": {"tenants": True, "upstream_client": True},
    }
    metrics = httpx.get(f"{gateway.metrics_url}/metrics", timeout=10)
    assert metrics.status_code == 200
    lines = metrics.text.splitlines()
    assert any(
        line.startswith("gateway_requests_total{")
        and 'http_route="/v2/messaging_profiles"' in line
        and 'tenant_id="demo"' in line
        for line in lines
    )
    assert any(
        line.startswith("gateway_connections_open{") and 'listener="metrics"' in line
        for line in lines
    )
    # Nothing but probes and metrics there.
    graphql = httpx.post(f"{gateway.metrics_url}/graphql", headers=AUTH, json={}, timeout=10)
    assert graphql.status_code == 404
    assert "listening on" in gateway.logs()
    assert f"http://127.0.0.1:{gateway.metrics_port} (/metrics, /healthz, /readyz)" in (
        gateway.logs()
    )


@pytest.mark.slow
def test_metrics_port_zero_turns_the_metrics_listener_off(start_gateway: Start) -> None:
    gateway = start_gateway(GATEWAY_METRICS_PORT="0")
    assert httpx.get(f"{gateway.url}/healthz", timeout=10).status_code == 200
    assert f"listening on http://127.0.0.1:{gateway.port} (API); metrics port off" in (
        gateway.logs()
    )


def test_a_taken_metrics_port_is_named_before_the_demo_banner_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "serve"],
            cwd=ROOT,
            env={"GATEWAY_PORT": str(free_port()), "GATEWAY_METRICS_PORT": str(metrics_port)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"cannot listen on 127.0.0.1 port {metrics_port}: another process is listening on it "
        "(choose another with GATEWAY_METRICS_PORT)"
    )


def test_the_metrics_port_must_differ_from_the_api_port() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_METRICS_PORT must differ from GATEWAY_PORT"):
        Settings(port=9000, metrics_port=9000)


# --- the open-files limit --------------------------------------------------------------

Limited = Callable[[int, int], tuple[subprocess.Popen[bytes], Path]]


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Limited]:
    """`limited(soft, hard)` starts the gateway with that open-files limit (as a container
    runtime would set it) and returns once /healthz answers."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(soft: int, hard: int) -> tuple[subprocess.Popen[bytes], Path]:
        port = free_port()
        log = tmp_path / f"gateway-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"],
                cwd=ROOT,
                env={
                    "GATEWAY_PORT": str(port),
                    "GATEWAY_METRICS_PORT": str(free_port()),
                    "OTEL_SDK_DISABLED": "true",
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
            )
        processes.append(process)
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return process, log
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)

    yield run
    for process in processes:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_the_soft_open_files_limit_is_raised_to_the_hard_one_and_reported(
    limited: Limited,
) -> None:
    hard = 8192  # at most the machine's: lowering a hard limit needs no privilege
    process, log = limited(512, hard)
    limits = Path(f"/proc/{process.pid}/limits").read_text()
    assert f"Max open files            {hard}                 {hard}" in limits
    assert (
        f"open files: limit {hard} (raised from 512; hard limit {hard}); "
        f"at most 4096 connections on the API port and {METRICS_CONNECTIONS} on the metrics port"
    ) in log.read_text()


@pytest.mark.slow
def test_the_connection_cap_is_kept_under_a_low_open_files_limit(limited: Limited) -> None:
    _, log = limited(1024, 1024)
    cap = 1024 - RESERVED_FILES - 100 - METRICS_CONNECTIONS
    text = log.read_text()
    assert f"open files: limit 1024 (hard limit 1024); at most {cap} connections" in text
    assert f"GATEWAY_MAX_CONNECTIONS lowered from 4096 to {cap} to fit the open-files limit" in (
        text
    )
