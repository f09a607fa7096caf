"""One CLIENT span per attempt, W3C trace context on the wire, and upstream metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.errors import UpstreamUnavailableError
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.operations import (
    ListMessagingProfiles,
    ListPhoneNumbers,
    RetrieveMessagingProfile,
    RetrievePhoneNumberMessaging,
)
from tests.telnyx.support import (
    BASE_URL,
    KEY,
    PHONE_NUMBER,
    PROFILE,
    PROFILE_ID,
    Upstream,
    error,
    make_client,
    one,
    page,
    tenant,
)

pytestmark = pytest.mark.anyio

URL = f"{BASE_URL}/messaging_profiles/{PROFILE_ID}"


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def client(self, upstream: Upstream, **options: Any) -> TelnyxClient:
        return make_client(
            upstream,
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **options,
        )

    def finished(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()

    def points(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return {
            frozenset(point.attributes.items()): point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
            if point.attributes is not None
        }


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(spans, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def test_successful_attempt_span(telemetry: Telemetry) -> None:
    upstream = Upstream([one(PROFILE)])
    await telemetry.client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    (span,) = telemetry.finished()
    assert span.name == "GET /messaging_profiles/{id}"
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": URL,
        "server.address": "api.telnyx.test",
        "server.port": 443,
        "telnyx.operation": "retrieve_messaging_profile",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    # The span's own context went out as the W3C traceparent.
    context = span.get_span_context()
    assert context is not None
    assert upstream.requests[0].headers["traceparent"] == (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    duration = telemetry.points("telnyx.upstream.duration")
    (key,) = duration
    assert dict(key) == {
        "telnyx.operation": "retrieve_messaging_profile",
        "http.request.method": "GET",
        "http.response.status_code": 200,
    }
    assert duration[key].count == 1
    assert telemetry.points("telnyx.upstream.retries") == {}
    (active,) = telemetry.points("telnyx.upstream.active_requests").values()
    assert active.value == 0


async def test_retried_call_spans_and_metrics(telemetry: Telemetry) -> None:
    upstream = Upstream([error(503), error(429), page([PROFILE])])
    await telemetry.client(upstream).send(tenant(), ListMessagingProfiles(name_contains="sup"))
    first, second, third = telemetry.finished()
    assert [s.name for s in (first, second, third)] == ["GET /messaging_profiles"] * 3
    assert "http.request.resend_count" not in (first.attributes or {})
    assert (second.attributes or {})["http.request.resend_count"] == 1
    assert (third.attributes or {})["http.request.resend_count"] == 2
    assert (first.attributes or {})["error.type"] == "503"
    assert (second.attributes or {})["error.type"] == "429"
    assert first.status.status_code is StatusCode.ERROR
    assert third.status.status_code is StatusCode.UNSET
    assert (third.attributes or {})["url.full"] == (
        f"{BASE_URL}/messaging_profiles?page%5Bnumber%5D=1&page%5Bsize%5D=20"
        "&filter%5Bname%5D%5Bcontains%5D=sup"
    )
    # Each attempt carries its own span in traceparent.
    parents = [r.headers["traceparent"].split("-")[2] for r in upstream.requests]
    assert parents == [f"{s.context.span_id:016x}" for s in (first, second, third)]
    (retries,) = telemetry.points("telnyx.upstream.retries").items()
    assert dict(retries[0]) == {"telnyx.operation": "list_messaging_profiles"}
    assert retries[1].value == 2
    statuses = {
        dict(k).get("http.response.status_code"): p.count
        for k, p in telemetry.points("telnyx.upstream.duration").items()
    }
    assert statuses == {503: 1, 429: 1, 200: 1}


async def test_failed_call_spans_and_metrics(telemetry: Telemetry) -> None:
    upstream = Upstream([httpx.ConnectError("refused")])
    with pytest.raises(UpstreamUnavailableError):
        await telemetry.client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    spans = telemetry.finished()
    assert len(spans) == 3
    for span in spans:
        assert (span.attributes or {})["error.type"] == "httpx.ConnectError"
        assert "http.response.status_code" not in (span.attributes or {})
        assert span.status.status_code is StatusCode.ERROR
    (key, point) = next(iter(telemetry.points("telnyx.upstream.duration").items()))
    assert dict(key) == {
        "telnyx.operation": "retrieve_messaging_profile",
        "http.request.method": "GET",
        "error.type": "httpx.ConnectError",
    }
    assert point.count == 3
    (active,) = telemetry.points("telnyx.upstream.active_requests").values()
    assert active.value == 0


async def test_no_key_or_phone_number_in_any_attribute(telemetry: Telemetry) -> None:
    upstream = Upstream([error(503), one(PHONE_NUMBER), page([PHONE_NUMBER])])
    client = telemetry.client(upstream)
    await client.send(tenant(), RetrievePhoneNumberMessaging(id="+15551234567"))
    await client.send(
        tenant(), ListPhoneNumbers(phone_number="+15551234567", phone_number_contains="5551234")
    )
    spans = telemetry.finished()
    assert (spans[0].attributes or {})["url.full"] == f"{BASE_URL}/phone_numbers/REDACTED/messaging"
    assert (spans[0].name) == "GET /phone_numbers/{id}/messaging"
    assert (spans[2].attributes or {})["url.full"] == (
        f"{BASE_URL}/phone_numbers/messaging?page%5Bnumber%5D=1&page%5Bsize%5D=20"
        "&filter%5Bphone_number%5D=REDACTED&filter%5Bphone_number%5D%5Bcontains%5D=REDACTED"
    )
    values = [str(v) for s in spans for v in (s.attributes or {}).values()]
    values += [
        str(dict(k))
        for name in ("telnyx.upstream.duration", "telnyx.upstream.retries")
        for k in telemetry.points(name)
    ]
    assert [v for v in values if KEY in v or "5551234" in v] == []


async def test_default_providers_are_the_global_no_op_ones() -> None:
    upstream = Upstream([one(PROFILE)])
    fetched = await make_client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert fetched.status == 200
    assert "traceparent" not in upstream.requests[0].headers
