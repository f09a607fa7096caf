"""Tracer and meter providers, JSON logs that carry trace ids, and Prometheus exposition.

Everything is built per application by `build_telemetry`, never installed as a global, so
tests pass their own in-memory exporter and readers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from prometheus_client import CollectorRegistry, generate_latest

from gateway import __version__
from gateway.config import Settings

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Telemetry:
    """The providers one application uses, and the registry `/metrics` serves."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    registry: CollectorRegistry
    _processors: list[SpanProcessor] = field(default_factory=list)

    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Flush pending spans and stop the providers."""
        self.tracer_provider.force_flush()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def _exporters(settings: Settings) -> list[SpanProcessor]:
    if settings.otel_sdk_disabled:
        return []
    processors: list[SpanProcessor] = []
    for name in (part.strip() for part in settings.otel_traces_exporter.split(",")):
        if name == "console":
            processors.append(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp" and (
            settings.otel_exporter_otlp_endpoint or settings.otel_exporter_otlp_traces_endpoint
        ):
            # Imported only when used: the exporter pulls in protobuf.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself.
            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
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
    tracer_provider = TracerProvider(resource=resource)
    processors = _exporters(settings)
    if span_exporter is not None:
        processors.append(SimpleSpanProcessor(span_exporter))
    for processor in processors:
        tracer_provider.add_span_processor(processor)
    registry = CollectorRegistry(auto_describe=True)
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry), *metric_readers]
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    return Telemetry(tracer_provider, meter_provider, registry, processors)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the active span's trace and span ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["error.type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
