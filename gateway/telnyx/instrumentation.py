"""Spans and metrics for upstream HTTP attempts (OpenTelemetry stable HTTP conventions).

No attribute carries a key, a token or a phone number: URLs are redacted before use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, StatusCode, TracerProvider

from gateway import __version__
from gateway.telemetry import DURATION_BUCKETS, REDACTED, redact_path
from gateway.telnyx.failure import error_type

SCOPE = "gateway.telnyx"


class Instrumentation:
    """The tracer and instruments the client records each attempt with."""

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "telnyx.upstream.duration",
            unit="s",
            description="Duration of upstream HTTP attempts.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.retries = meter.create_counter(
            "telnyx.upstream.retries", unit="{retry}", description="Upstream retries."
        )
        self.active = meter.create_up_down_counter(
            "telnyx.upstream.active_requests",
            unit="{request}",
            description="Upstream HTTP attempts in flight.",
        )

    def retried(self, operation: str) -> None:
        self.retries.add(1, {"telnyx.operation": operation})

    @contextlib.contextmanager
    def attempt(
        self,
        request: httpx.Request,
        *,
        operation: str,
        route: str | None,
        resend_count: int,
    ) -> Iterator[Attempt]:
        """A CLIENT span around one attempt; injects `traceparent` into the request."""
        name = f"{request.method} {route}" if route else request.method
        labels: dict[str, str | int] = {
            "telnyx.operation": operation,
            "http.request.method": request.method,
        }
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
        ) as span:
            # Redacting the URL costs more than the rest of the attempt's bookkeeping.
            if span.is_recording():
                span.set_attributes(_attributes(request, operation, resend_count))
            propagate.inject(request.headers)
            record = Attempt()
            self.active.add(1, {"telnyx.operation": operation})
            started = time.perf_counter()
            try:
                yield record
            except BaseException as exc:
                kind = record.error_type or error_type(exc)
                span.set_attribute("error.type", kind)
                span.set_status(StatusCode.ERROR, kind)
                self.duration.record(time.perf_counter() - started, {**labels, "error.type": kind})
                raise
            finally:
                self.active.add(-1, {"telnyx.operation": operation})
            status = record.status
            labels["http.response.status_code"] = status
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                # Client spans count 4xx as errors too (HTTP span status conventions).
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
                labels["error.type"] = str(status)
            self.duration.record(time.perf_counter() - started, labels)


def _attributes(request: httpx.Request, operation: str, resend_count: int) -> dict[str, str | int]:
    url = request.url
    attributes: dict[str, str | int] = {
        "http.request.method": request.method,
        "url.full": safe_url(url),
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "telnyx.operation": operation,
    }
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    return attributes


class Attempt:
    """What the caller learnt about the attempt: its status, or a better error name."""

    __slots__ = ("error_type", "status")

    def __init__(self) -> None:
        self.status = 0
        self.error_type: str | None = None


def safe_url(url: httpx.URL) -> str:
    """The URL with phone numbers masked in path segments and `phone_number` filters."""
    path = redact_path(url.raw_path.split(b"?", 1)[0].decode("ascii"))
    params: list[tuple[str, str | int | float | bool | None]] = [
        (key, REDACTED if key.startswith("filter[phone_number]") else value)
        for key, value in url.params.multi_items()
    ]
    return str(url.copy_with(raw_path=path.encode("ascii")).copy_merge_params(params))
