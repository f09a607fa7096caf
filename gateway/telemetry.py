"""Tracer and meter providers, the inbound server span and its metrics, and
Prometheus exposition.

Everything is built per application by `build_telemetry`, never installed as a global, so
tests pass their own in-memory exporter and readers.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from opentelemetry import metrics, propagate, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    SpanLimits,
    SpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import __version__
from gateway.config import Settings
from gateway.spans import LeanTracerProvider

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SERVER_SCOPE = "gateway.server"
# The stable HTTP conventions' advisory buckets, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
COUNTED = ("http.request.method", "http.route", "http.response.status_code")
PHONE_NUMBER = re.compile(r"\+?[0-9]{7,15}")
REDACTED = "REDACTED"

access_log = logging.getLogger("gateway.access")
log = logging.getLogger(__name__)


@dataclass
class Telemetry:
    """The providers one application uses, and the registry `/metrics` serves."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    registry: CollectorRegistry
    _tracing: LeanTracerProvider | None = None
    # A `time.monotonic()` by which `shutdown` must return, whatever the exporters do; the
    # server sets it from the shutdown budget when SIGTERM arrives.
    shutdown_deadline: float | None = None

    @property
    def tracing(self) -> trace.TracerProvider:
        """Where the gateway's tracers come from: `tracer_provider` itself, or with the
        speed-ups the lean tracers over it (gateway/spans.py), recording to the same
        processors."""
        return self.tracer_provider if self._tracing is None else self._tracing

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Hand every span ended from now on to `processor` too, whichever tracer made it."""
        (self.tracer_provider if self._tracing is None else self._tracing).add_span_processor(
            processor
        )

    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Flush pending spans and stop the providers, by `shutdown_deadline` when set.

        The SDK's flush ignores its timeout and a collector that accepts and never answers
        holds each export for the exporter's whole timeout, so the flush runs on a thread of
        its own that is abandoned at the deadline (it cannot keep the process alive).
        """
        if self.shutdown_deadline is None:
            self._flush_and_stop()
            return
        flush = threading.Thread(target=self._flush_and_stop, name="telemetry-flush", daemon=True)
        flush.start()
        flush.join(max(0.0, self.shutdown_deadline - time.monotonic()))
        if flush.is_alive():
            log.warning("span export abandoned: the exporter did not finish within the budget")

    def _flush_and_stop(self) -> None:
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def otlp_traces_endpoint(settings: Settings) -> str | None:
    """Where OTLP/HTTP spans go: the traces variable as given, or the base plus `/v1/traces`."""
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None


def _exporter_names(settings: Settings) -> list[str]:
    return [part.strip() for part in settings.otel_traces_exporter.split(",")]


def _host(url: str) -> str:
    """Host and port of a URL, nothing else: its user info, path or query may hold secrets."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "an endpoint that is not a URL"
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


def log_span_destination(settings: Settings) -> None:
    """Say at start-up where spans go, or that they go nowhere; an endpoint by its host only,
    never its headers."""
    if settings.otel_sdk_disabled:
        log.info("spans: none recorded or exported (OTEL_SDK_DISABLED=true)")
        return
    names = _exporter_names(settings)
    places = []
    if "console" in names:
        places.append("written to stdout (OTEL_TRACES_EXPORTER has console)")
    endpoint = otlp_traces_endpoint(settings)
    if "otlp" in names and endpoint:
        places.append(f"exported over OTLP/HTTP to {_host(endpoint)}")
    if "otlp" in names and not endpoint:
        log.warning(
            "spans: %s; OTEL_TRACES_EXPORTER has otlp but neither OTEL_EXPORTER_OTLP_ENDPOINT "
            "nor OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set",
            " and ".join(places) if places else "exported nowhere",
        )
    elif places:
        log.info("spans: %s", " and ".join(places))
    else:
        log.info("spans: exported nowhere (OTEL_TRACES_EXPORTER=none)")


def _exporters(settings: Settings) -> list[SpanProcessor]:
    if settings.otel_sdk_disabled:
        return []
    processors: list[SpanProcessor] = []
    endpoint = otlp_traces_endpoint(settings)
    for name in _exporter_names(settings):
        if name == "console":
            # The stdout of now, not of import time (the exporter's default).
            processors.append(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
        elif name == "otlp" and endpoint:
            # Imported only when used: the exporter pulls in protobuf. The gateway's own
            # encoder is a speed-up; the SDK's exporter is the plain path.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter as SdkExporter,
            )

            from gateway.otlp import OTLPSpanExporter

            exporter = OTLPSpanExporter if settings.speedups else SdkExporter
            # Headers, timeout and compression come from the standard OTEL_EXPORTER_OTLP_*
            # variables, which the exporter reads itself; the endpoint comes from Settings.
            processors.append(BatchSpanProcessor(exporter(endpoint=endpoint)))
    return processors


def build_telemetry(
    settings: Settings,
    *,
    span_exporter: SpanExporter | None = None,
    metric_readers: Sequence[MetricReader] = (),
) -> Telemetry:
    """Providers for one app: OTLP/console export as the OTEL_* settings say, plus
    `span_exporter` (synchronously, for tests) and `metric_readers` when given."""
    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": __version__}
    )
    # No exit hooks: an exit hook's flush has no deadline, and `Telemetry.shutdown` has one.
    limits = SpanLimits()
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False, span_limits=limits)
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry), *metric_readers]
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=readers,
        shutdown_on_exit=False,
        # The Prometheus page shows no exemplars, and sampling them cost each measurement
        # a look at the current span.
        exemplar_filter=AlwaysOffExemplarFilter(),
    )
    # OTEL_SDK_DISABLED turns the SDK off for every signal, /metrics included; here it stops
    # tracing only (README): the metrics are the gateway's own page, not an export.
    meter_provider._disabled = False
    lean = LeanTracerProvider(tracer_provider, limits) if settings.speedups else None
    telemetry = Telemetry(tracer_provider, meter_provider, registry, _tracing=lean)
    for processor in _exporters(settings):
        telemetry.add_span_processor(processor)
    if span_exporter is not None:
        telemetry.add_span_processor(SimpleSpanProcessor(span_exporter))
    return telemetry


def redact_path(path: str) -> str:
    """A URL path with every segment that is a phone number replaced by `REDACTED`."""
    return "/".join(
        REDACTED if PHONE_NUMBER.fullmatch(unquote(segment)) else segment
        for segment in path.split("/")
    )


class ServerTelemetry:
    """ASGI middleware: a SERVER span, a duration point and an access-log line per request.

    The span continues an inbound W3C `traceparent` and is named after the route template
    (`GET /v2/messaging_profiles/{id}`), never the raw path. It records no header and no
    query string: either may carry a token or a phone number. `identify` maps the
    Authorization header to a tenant id, or None; `identify_scope`, given instead, gets the
    whole scope before the app runs, so it may keep what it learnt there for the app (the
    gateway authenticates each request once that way).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        excluded_paths: Iterable[str] = (),
        identify: Callable[[str | None], str | None] | None = None,
        identify_scope: Callable[[Scope], str | None] | None = None,
    ) -> None:
        self.app = app
        self._tracer = trace.get_tracer(SERVER_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SERVER_SCOPE, __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of inbound HTTP requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        # By tenant for the dashboards; `tenant_id` is the label the Grafana dashboard reads.
        self._requests = Tally(
            meter,
            "gateway.requests",
            labels=(*COUNTED, "tenant_id"),
            unit="{request}",
            description="Inbound requests by tenant, route and status.",
        )
        self._excluded = frozenset(excluded_paths)
        if identify_scope is None and identify is not None:
            by_header = identify

            def identify_scope(scope: Scope) -> str | None:
                return by_header(Headers(scope=scope).get("authorization"))

        self._identify = identify_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root_path: str = scope.get("root_path", "")
        if scope["type"] != "http" or scope["path"].removeprefix(root_path) in self._excluded:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method = scope["method"] if scope["method"] in HTTP_METHODS else "_OTHER"
        span_method = "HTTP" if method == "_OTHER" else method
        status = 500  # what the caller gets when the app fails before answering
        error: str | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scheme = scope.get("scheme", "http")
        # All that is known now is given at the start: one attribute-cleaning pass, not many.
        attributes: dict[str, str] = {
            "http.request.method": method,
            "url.scheme": scheme,
            "url.path": redact_path(scope["path"]),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if user_agent := headers.get("user-agent"):
            attributes["user_agent.original"] = user_agent
        tenant = self._identify(scope) if self._identify else None
        if tenant is not None:
            attributes["gateway.tenant.id"] = tenant
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            span_method,
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                # The type only: an exception's message may quote anything.
                error = type(exc).__qualname__
                raise
            finally:
                route = _route_template(scope, root_path)
                labels: dict[str, str | int] = {
                    "http.request.method": method,
                    "url.scheme": scheme,
                    "http.response.status_code": status,
                }
                if route is not None:
                    labels["http.route"] = route
                    span.update_name(f"{span_method} {route}")
                if error is None and status >= 500:
                    error = str(status)
                if error is not None:
                    labels["error.type"] = error
                    span.set_status(StatusCode.ERROR)
                span.set_attributes(labels)
                duration = time.perf_counter() - started
                self._duration.record(duration, labels)
                self._requests.add((method, route, status, tenant))
                if access_log.isEnabledFor(logging.INFO):
                    _log_access(method, route, status, duration, tenant)


class Tally:
    """A monotonic counter kept in this process and reported when metrics are collected.

    `add` is a dict increment: the SDK's synchronous counter cleans, copies and hashes the
    attributes of every call, which cost as much as the rest of a cached read. Keys are
    tuples of label values in the order of `labels`; a None value leaves its label out.
    """

    def __init__(
        self,
        meter: metrics.Meter,
        name: str,
        *,
        labels: Sequence[str],
        unit: str = "",
        description: str = "",
    ) -> None:
        self._labels = tuple(labels)
        self._counts: dict[tuple[str | int | None, ...], int] = {}
        self._register(meter, name, unit, description)

    def _register(self, meter: metrics.Meter, name: str, unit: str, description: str) -> None:
        meter.create_observable_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )

    def add(self, key: tuple[str | int | None, ...], amount: int = 1) -> None:
        self._counts[key] = self._counts.get(key, 0) + amount

    def declare(self, key: tuple[str | int | None, ...]) -> None:
        """Report `key` at 0 until it is first added to, so rate() sees its first increase."""
        self._counts.setdefault(key, 0)

    def _observe(self, _: CallbackOptions) -> Iterable[Observation]:
        # A copy: a collection on another thread must not see the dict change under it.
        for key, count in list(self._counts.items()):
            labels = zip(self._labels, key, strict=True)
            yield Observation(count, {name: value for name, value in labels if value is not None})


class Level(Tally):
    """An up-down counter kept in this process the same way (`add` takes a negative amount
    too), reported as an observable up-down counter."""

    def _register(self, meter: metrics.Meter, name: str, unit: str, description: str) -> None:
        meter.create_observable_up_down_counter(
            name, callbacks=[self._observe], unit=unit, description=description
        )


def _route_template(scope: Scope, root_path: str) -> str | None:
    # Starlette's routers record the matched route in the scope, and each Mount extends
    # root_path with its prefix: together they give the template under the app's root.
    route_path = getattr(scope.get("route"), "path_format", None)
    if not isinstance(route_path, str):
        return None
    mounted: str = scope.get("root_path", "")
    return mounted[len(root_path) :] + route_path


def _log_access(
    method: str, route: str | None, status: int, duration: float, tenant: str | None
) -> None:
    fields: dict[str, Any] = {
        "http.request.method": method,
        "http.route": route,
        "http.response.status_code": status,
        "duration_ms": round(duration * 1000, 3),
    }
    if tenant is not None:
        fields["gateway.tenant.id"] = tenant
    access_log.info("%s %s %s", method, route or "-", status, extra={"fields": fields})
