"""JSON log lines carry the request's trace; /metrics shows the cache and upstream figures."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from gateway.config import Settings
from gateway.simulator import Simulator
from tests.conftest import ALPHA_KEY, scrape
from tests.observability.conftest import Logs
from tests.observability.support import one, server


@pytest.fixture
def settings() -> Settings:
    # Profiles never fresh (so the second read can be stale), short codes fresh for 30 s.
    return Settings(
        demo=True,
        cache_ttl_profiles=0,
        upstream_max_retry_delay=0,
        otel_sdk_disabled=True,
    )


Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of the exposition, by name and labels (scope labels left out)."""
    return {
        (
            sample.name,
            frozenset((k, v) for k, v in sample.labels.items() if not k.startswith("otel_scope")),
        ): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> Labels:
    return frozenset(values.items())


async def test_every_request_logs_one_access_line_inside_its_trace(
    client: httpx.AsyncClient,
    simulator: Simulator,
    spans: InMemorySpanExporter,
    logs: Logs,
) -> None:
    profile_id = next(iter(simulator.account(ALPHA_KEY).profiles))

    await client.get(f"/v2/messaging_profiles/{profile_id}")
    await client.get("/healthz")
    await client.get("/readyz")

    front = server(spans.get_finished_spans())
    (line,) = logs.lines("gateway.access")
    assert isinstance(line.pop("duration_ms"), float)
    assert line.pop("time").endswith("+00:00")
    assert line == {
        "level": "info",
        "logger": "gateway.access",
        "message": "GET /v2/messaging_profiles/{id} 200",
        "trace_id": f"{front.context.trace_id:032x}",
        "span_id": f"{front.context.span_id:016x}",
        "http.request.method": "GET",
        "http.route": "/v2/messaging_profiles/{id}",
        "http.response.status_code": 200,
        "gateway.tenant.id": "alpha",
    }


async def test_a_stale_serve_logs_a_warning_on_the_operations_span(
    client: httpx.AsyncClient,
    simulator: Simulator,
    spans: InMemorySpanExporter,
    logs: Logs,
) -> None:
    await client.get("/v2/messaging_profiles")
    spans.clear()
    simulator.faults.fail(503, times=3)

    response = await client.get("/v2/messaging_profiles")

    assert response.headers["x-cache"] == "STALE"
    internal = one(spans.get_finished_spans(), "telnyx.list_messaging_profiles")
    (warning,) = logs.lines("gateway.telnyx.service")
    del warning["time"]
    assert warning == {
        "level": "warning",
        "logger": "gateway.telnyx.service",
        "message": "telnyx.list_messaging_profiles served stale: Telnyx unavailable or the account's budget spent",
        "trace_id": f"{internal.context.trace_id:032x}",
        "span_id": f"{internal.context.span_id:016x}",
        "telnyx.operation": "list_messaging_profiles",
        "gateway.tenant.id": "alpha",
        "telnyx.page.number": 1,
        "telnyx.page.size": 20,
    }


async def test_metrics_show_cache_outcomes_upstream_latency_retries_and_calls_in_flight(
    app: Starlette, client: httpx.AsyncClient, simulator: Simulator
) -> None:
    await client.get("/v2/messaging_profiles")
    simulator.faults.fail(503, times=3)
    await client.get("/v2/messaging_profiles")  # stale after three attempts
    await client.get("/v2/short_codes")
    await client.get("/v2/short_codes")  # a hit
    short_code_id = next(iter(simulator.account(ALPHA_KEY).short_codes))
    simulator.faults.slow(0.3)
    slow = asyncio.create_task(client.get(f"/v2/short_codes/{short_code_id}"))
    await asyncio.sleep(0.1)

    during = await scrape(app)
    await slow
    after = samples((await scrape(app)).text)

    assert during.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    in_flight = ("telnyx_upstream_active_requests", labels(telnyx_operation="retrieve_short_code"))
    assert samples(during.text)[in_flight] == 1
    assert after[in_flight] == 0
    cache: dict[tuple[str, str], Any] = {
        (dict(key)["telnyx_operation"], dict(key)["outcome"]): value
        for (name, key), value in after.items()
        if name == "gateway_cache_reads_total"
    }
    assert cache == {
        ("list_messaging_profiles", "miss"): 1,
        ("list_messaging_profiles", "stale"): 1,
        ("list_short_codes", "miss"): 1,
        ("list_short_codes", "hit"): 1,
        ("retrieve_short_code", "miss"): 1,
    }
    assert (
        after[("telnyx_upstream_retries_total", labels(telnyx_operation="list_messaging_profiles"))]
        == 2
    )
    upstream = "telnyx_upstream_duration_seconds_count"
    assert (
        after[
            (
                upstream,
                labels(
                    telnyx_operation="list_messaging_profiles",
                    http_request_method="GET",
                    http_response_status_code="503",
                    error_type="503",
                ),
            )
        ]
        == 3
    )
    assert (
        after[
            (
                upstream,
                labels(
                    telnyx_operation="list_messaging_profiles",
                    http_request_method="GET",
                    http_response_status_code="200",
                    error_type="",  # the exporter gives every series of a metric the same labels
                ),
            )
        ]
        == 1
    )
    assert (
        after[
            (
                "http_server_request_duration_seconds_count",
                labels(
                    http_request_method="GET",
                    http_route="/v2/short_codes",
                    http_response_status_code="200",
                    url_scheme="http",
                ),
            )
        ]
        == 2
    )
    short_codes = labels(
        http_request_method="GET", http_route="/v2/short_codes", http_response_status_code="200"
    )
    assert after[("gateway_requests_total", short_codes | labels(tenant_id="alpha"))] == 2
    # The probes are not traced or measured.
    assert not [key for key in after if "/metrics" in str(key) or "/healthz" in str(key)]


async def test_the_cache_reads_metric_says_what_it_counts_and_where_it_comes_from(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await client.get("/v2/messaging_profiles")
    families = {
        family.name: family for family in text_string_to_metric_families((await scrape(app)).text)
    }
    reads = families["gateway_cache_reads"]
    assert reads.documentation == (
        "Upstream reads by cache outcome (hit, shared, miss, stale, coalesced, bypass)."
    )
    assert {sample.labels["otel_scope_name"] for sample in reads.samples} == {
        "gateway.telnyx.service"
    }
