"""Spans leave the process: over OTLP/HTTP when an endpoint is set, flushed on shutdown, or
to the console when asked."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway import __version__
from gateway.app import DEMO_TELNYX_KEY, create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_TOKEN, GATEWAY_URL
from tests.observability.receiver import Received, Receiver
from tests.process import free_port
from tests.server import serve

ROOT = Path(__file__).resolve().parents[2]
SERVICE = {"service.name": "telnyx-messaging-gateway", "service.version": __version__}
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
CLIENT_KIND = 3  # SPAN_KIND_CLIENT in the OTLP protobuf


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    collector = Receiver()
    with serve(collector.app) as url:
        yield collector, url


def chain(span: Received, spans: list[Received]) -> list[str]:
    """The names from `span` up to its root."""
    by_id = {s.span_id: s for s in spans}
    names = [span.name]
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        names.append(span.name)
    return names


def test_console_exporter_prints_each_span_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry = build_telemetry(Settings(demo=True, otel_traces_exporter="console"))
    telemetry.tracer_provider.get_tracer("test").start_span("probe").end()
    telemetry.shutdown()

    printed = json.loads(capsys.readouterr().out)
    assert (printed["name"], printed["resource"]["attributes"]) == (
        "probe",
        {**printed["resource"]["attributes"], **SERVICE},
    )


def test_nothing_is_exported_when_the_sdk_is_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry = build_telemetry(
        Settings(demo=True, otel_traces_exporter="console", otel_sdk_disabled=True)
    )
    telemetry.tracer_provider.get_tracer("test").start_span("probe").end()
    telemetry.shutdown()

    assert capsys.readouterr().out == ""


async def test_batched_spans_reach_the_otlp_endpoint_when_the_app_shuts_down(
    receiver: tuple[Receiver, str],
    simulator: Simulator,
    tenants: TenantRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector, url = receiver
    # Far beyond the test's length: only the shutdown flush can deliver the spans.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    settings = Settings(demo=True, otel_exporter_otlp_endpoint=url)
    app = create_app(
        settings, upstream_transport=httpx.ASGITransport(app=simulator.app), tenants=tenants
    )

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
        ) as client:
            response = await client.get(
                "/v2/short_codes",
                headers={"Authorization": f"Bearer {ALPHA_TOKEN}", "traceparent": TRACEPARENT},
            )
        assert response.status_code == 200
        assert collector.spans() == []

    spans = collector.spans()
    assert sorted(span.name for span in spans) == [
        "GET /short_codes",
        "GET /v2/short_codes",
        "telnyx.list_short_codes",
    ]
    assert {span.trace_id for span in spans} == {TRACE_ID}
    assert all(span.resource.items() >= SERVICE.items() for span in spans)


@pytest.mark.slow
def test_the_served_gateway_delivers_a_requests_spans_over_otlp(
    receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    collector, collector_url = receiver
    port = free_port()
    for name in ("GATEWAY_TENANTS_FILE", "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "GATEWAY_PORT": str(port),
        "GATEWAY_DEMO": "true",
        "GATEWAY_LOG_LEVEL": "info",
        "GATEWAY_METRICS_PORT": str(free_port()),
        "GATEWAY_SHUTDOWN_BUDGET": "5",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
        "OTEL_TRACES_EXPORTER": "otlp",
        # Only the flush on shutdown can deliver the spans in time.
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
    }.items():
        monkeypatch.setenv(name, value)
    gateway_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{gateway_url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        response = httpx.post(
            f"{gateway_url}/graphql",
            json={"query": "query Demo { messagingProfiles(first: 1) { totalCount } }"},
            headers={"Authorization": "Bearer demo-token", "traceparent": TRACEPARENT},
        )
        assert response.json() == {
            "data": {"messagingProfiles": {"totalCount": 3}},
            "extensions": {"cache": {"cached": False, "stale": False}},
        }
        assert collector.spans() == []

        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert "Application shutdown complete." in errors
    spans = collector.spans()
    assert {span.trace_id for span in spans} == {TRACE_ID}
    assert all(span.resource.items() >= SERVICE.items() for span in spans)
    (front,) = (span for span in spans if span.name == "POST /graphql")
    assert (front.parent_span_id, front.attributes["http.route"]) == (PARENT_ID, "/graphql")
    (attempt,) = (span for span in spans if span.kind == CLIENT_KIND)
    assert chain(attempt, spans) == [
        "GET /messaging_profiles",
        "telnyx.list_messaging_profiles",
        "query Demo",
        "POST /graphql",
    ]
    assert attempt.attributes["url.full"].startswith(
        "http://simulator.internal/v2/messaging_profiles"
    )
    # The JSON access log line of the request carries the same trace.
    access = [json.loads(line) for line in errors.splitlines() if '"gateway.access"' in line]
    assert [(line["message"], line["trace_id"]) for line in access] == [
        ("POST /graphql 200", f"{TRACE_ID:032x}")
    ]
    assert DEMO_TELNYX_KEY not in errors
