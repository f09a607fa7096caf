"""The span encoder writes what the SDK's OTLP encoder writes, byte for byte."""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.util.types import AnyValue

from gateway.otlp import OTLPSpanExporter, encode_spans

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_every_kind_of_span_field_and_attribute_encodes_as_the_sdk_encodes_it() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "x", "n": 3, "f": 1.5}))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("gateway.test", "1.0")
    other = provider.get_tracer("other", schema_url="https://opentelemetry.io/schemas/1.21.0")
    remote = propagate.extract({"traceparent": TRACEPARENT, "tracestate": "a=b,c=d"})
    attributes: dict[str, AnyValue] = {
        "text": "GET",
        "empty": "",
        "int": 200,
        "negative": -5,
        "zero": 0,
        "float": 2.5,
        "true": True,
        "false": False,
        "strings": ("x", "y"),
        "ints": (1, 2),
        "bools": (True, False),
        "unicode": "caf\u00e9 \u2713",
        "long": "x" * 300,
    }
    for _ in range(2):  # the second time, repeated attributes come from the encoder's memo
        with tracer.start_as_current_span(
            "GET /v2/messaging_profiles/{id}",
            context=remote,
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as server:
            server.add_event("event", {"key": "value"})
            server.set_status(StatusCode.ERROR, "boom")
            with other.start_as_current_span(
                "inner", kind=SpanKind.CLIENT, links=[Link(server.get_span_context(), {"l": 1})]
            ):
                pass
        tracer.start_span("bare").end()
    spans = exported.get_finished_spans()

    assert encode_spans(spans) == sdk_encode(spans).SerializePartialToString()
    assert encode_spans([]) == sdk_encode([]).SerializePartialToString()


def test_the_pinned_sdk_exporter_takes_the_fast_path() -> None:
    # Fails after an SDK upgrade that renames what the fast path uses; the gateway would then
    # still export, through the SDK's own encoder, and this test says so.
    exporter = OTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    try:
        assert exporter.fast
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
