"""Spans and metrics for upstream HTTP attempts (OpenTelemetry stable HTTP conventions).

No attribute carries a key, a token or a phone number: URLs are redacted before use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, MutableMapping
from urllib.parse import unquote, urlsplit

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, StatusCode, TracerProvider

from gateway import __version__
from gateway.telemetry import DURATION_BUCKETS, REDACTED, Level, redact_path
from gateway.telnyx.failure import error_type

SCOPE = "gateway.telnyx"


class Instrumentation:
    """The tracer and instruments the client records each attempt with, for calls to
    `base_url`."""

    def __init__(
        self,
        base_url: str,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self._base_url = base_url
        parts = urlsplit(base_url)
        self._server: dict[str, str | int] = {
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        }
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
        self.active = Level(
            meter,
            "telnyx.upstream.active_requests",
            labels=("telnyx.operation",),
            unit="{request}",
            description="Upstream HTTP attempts in flight.",
        )

    def retried(self, operation: str) -> None:
        self.retries.add(1, {"telnyx.operation": operation})

    @contextlib.contextmanager
    def attempt(
        self,
        method: str,
        path: str,
        query: str,
        headers: MutableMapping[str, str],
        *,
        operation: str,
        route: str | None,
        resend_count: int,
    ) -> Iterator[Attempt]:
        """A CLIENT span around one attempt of `method` on `path?query` (relative to the base
        URL, encoded); injects `traceparent` into `headers`."""
        name = f"{method} {route}" if route else method
        labels: dict[str, str | int] = {
            "telnyx.operation": operation,
            "http.request.method": method,
        }
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
        ) as span:
            # Redacting the URL costs more than the rest of the attempt's bookkeeping.
            if span.is_recording():
                attributes: dict[str, str | int] = {
                    "http.request.method": method,
                    "url.full": self._base_url + safe_path(path, query),
                    **self._server,
                    "telnyx.operation": operation,
                }
                if resend_count:
                    attributes["http.request.resend_count"] = resend_count
                span.set_attributes(attributes)
            propagate.inject(headers)
            record = Attempt()
            self.active.add((operation,), 1)
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
                self.active.add((operation,), -1)
            status = record.status
            labels["http.response.status_code"] = status
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                # Client spans count 4xx as errors too (HTTP span status conventions).
                span.set_attribute("error.type", str(status))
                span.set_status(StatusCode.ERROR)
                labels["error.type"] = str(status)
            self.duration.record(time.perf_counter() - started, labels)


class Attempt:
    """What the caller learnt about the attempt: its status, or a better error name."""

    __slots__ = ("error_type", "status")

    def __init__(self) -> None:
        self.status = 0
        self.error_type: str | None = None


def safe_path(path: str, query: str) -> str:
    """`path?query` with phone numbers masked in path segments and `phone_number` filters;
    everything else as it is sent."""
    safe = redact_path(path)
    if not query:
        return safe
    pairs = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and unquote(key).startswith("filter[phone_number]"):
            value = REDACTED
        pairs.append(f"{key}{sep}{value}")
    return f"{safe}?{'&'.join(pairs)}"
