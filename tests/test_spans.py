"""The lean tracer (gateway/spans.py) records what the SDK's tracer records, under the same
sampler, ids, resource and span limits, and its spans encode as the SDK's encoder would."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway.config import Settings
from gateway.otlp import encode_spans
from gateway.spans import LeanTracerProvider
from gateway.telemetry import build_telemetry

SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
REMOTE_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
REMOTE_SPAN = 0x00F067AA0BA902B7

RESOURCE = Resource.create({"service.name": "gateway"})

Script = Callable[[trace.Tracer, trace.Tracer], None]


class Counting(IdGenerator):
    """Ids 1, 2, 3... so that two runs of one script make the same ones."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def generate_span_id(self) -> int:
        return next(self._next)

    def generate_trace_id(self) -> int:
        return 0xABC000 + next(self._next)


def record(
    lean: bool, script: Script, sampler: Sampler | None = None, **limits: Any
) -> list[ReadableSpan]:
    """The spans `script` ends, with the lean tracer or the SDK's."""
    exported = InMemorySpanExporter()
    span_limits = SpanLimits(**limits)
    sdk = TracerProvider(
        resource=RESOURCE,
        sampler=sampler,
        id_generator=Counting(),
        span_limits=span_limits,
    )
    provider: trace.TracerProvider = sdk
    if lean:
        lean_provider = LeanTracerProvider(sdk, span_limits)
        lean_provider.add_span_processor(SimpleSpanProcessor(exported))
        provider = lean_provider
    else:
        sdk.add_span_processor(SimpleSpanProcessor(exported))
    script(
        provider.get_tracer("gateway.test", "1.0"),
        provider.get_tracer("other", schema_url="https://opentelemetry.io/schemas/1.21.0"),
    )
    return list(exported.get_finished_spans())


def seen(span: ReadableSpan) -> dict[str, Any]:
    """What an exporter reads of a span, but its times and stack traces (which name the
    tracer's own frames)."""
    context = span.get_span_context()
    assert context is not None
    scope = span.instrumentation_scope
    assert scope is not None
    return {
        "name": span.name,
        "kind": span.kind,
        "trace_id": context.trace_id,
        "span_id": context.span_id,
        "flags": int(context.trace_flags),
        "trace_state": context.trace_state.to_header(),
        "parent": None if span.parent is None else (span.parent.span_id, span.parent.is_remote),
        "attributes": dict(span.attributes or {}),
        "dropped_attributes": span.dropped_attributes,
        "events": [
            (
                event.name,
                {
                    key: value
                    for key, value in (event.attributes or {}).items()
                    if key != "exception.stacktrace"
                },
            )
            for event in span.events
        ],
        "links": [(link.context.span_id, dict(link.attributes or {})) for link in span.links],
        "status": (span.status.status_code, span.status.description),
        "scope": (scope.name, scope.version, scope.schema_url),
        "resource": dict(span.resource.attributes),
        "timed": span.start_time is not None and span.end_time is not None,
    }


def both(script: Script, sampler: Sampler | None = None, **limits: Any) -> list[dict[str, Any]]:
    """What `script` records, after checking that both tracers record exactly that."""
    lean = [seen(span) for span in record(True, script, sampler, **limits)]
    assert lean == [seen(span) for span in record(False, script, sampler, **limits)]
    return lean


def a_request(tracer: trace.Tracer, other: trace.Tracer) -> None:
    remote = propagate.extract({"traceparent": SAMPLED, "tracestate": "a=b"})
    with tracer.start_as_current_span(
        "POST",
        context=remote,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "url.path": "/graphql"},
        record_exception=False,
        set_status_on_exception=False,
    ) as server:
        with other.start_as_current_span("telnyx.read", attributes={"n": 1}) as internal:
            internal.set_attribute("gateway.cache.outcome", "miss")
            with other.start_as_current_span(
                "GET", kind=SpanKind.CLIENT, record_exception=False, set_status_on_exception=False
            ) as client:
                client.set_attributes({"http.response.status_code": 200, "ratio": 0.5})
        hit = tracer.start_span("telnyx.hit", attributes={"gateway.cache.outcome": "hit"})
        hit.end()
        server.update_name("POST /graphql")
        server.set_attributes({"http.route": "/graphql", "ok": True})


def test_a_request_records_the_same_tree_with_either_tracer() -> None:
    spans = both(a_request)

    assert [(span["name"], span["span_id"], span["parent"]) for span in spans] == [
        ("GET", 3, (2, False)),
        ("telnyx.read", 2, (1, False)),
        ("telnyx.hit", 4, (1, False)),
        ("POST /graphql", 1, (REMOTE_SPAN, True)),
    ]
    assert {span["trace_id"] for span in spans} == {REMOTE_TRACE}
    assert {span["trace_state"] for span in spans} == {"a=b"}
    assert spans[3]["attributes"] == {
        "http.request.method": "POST",
        "url.path": "/graphql",
        "http.route": "/graphql",
        "ok": True,
    }
    assert spans[0]["attributes"] == {"http.response.status_code": 200, "ratio": 0.5}
    assert spans[0]["scope"] == ("other", "", "https://opentelemetry.io/schemas/1.21.0")
    assert spans[3]["scope"] == ("gateway.test", "1.0", "")
    assert spans[3]["resource"]["service.name"] == "gateway"
    assert all(span["timed"] and span["flags"] == 1 for span in spans)


def a_root_span(tracer: trace.Tracer, _: trace.Tracer) -> None:
    tracer.start_span("root").end()


def test_a_root_span_takes_a_new_trace_id_from_the_providers_generator() -> None:
    (span,) = both(a_root_span)

    assert (span["trace_id"], span["span_id"], span["parent"]) == (0xABC001, 2, None)


def failures(tracer: trace.Tracer, _: trace.Tracer) -> None:
    with tracer.start_as_current_span("outer", record_exception=False):
        try:
            with tracer.start_as_current_span("recorded"):
                raise ValueError("no such profile")
        except ValueError:
            pass
        try:
            with tracer.start_as_current_span(
                "quiet", record_exception=False, set_status_on_exception=False
            ):
                raise KeyError("x")
        except KeyError:
            pass
        with tracer.start_as_current_span("statuses") as span:
            span.set_status(StatusCode.ERROR, "first")
            span.set_status(StatusCode.UNSET)
            span.set_status(Status(StatusCode.OK))
            span.set_status(StatusCode.ERROR, "after OK")
        bare = tracer.start_span("entered")
        try:
            with bare:
                raise RuntimeError("in a bare span")
        except RuntimeError:
            pass


def test_exceptions_and_statuses_are_recorded_as_the_sdk_records_them() -> None:
    spans = {span["name"]: span for span in both(failures)}

    assert spans["recorded"]["status"] == (StatusCode.ERROR, "ValueError: no such profile")
    assert spans["recorded"]["events"] == [
        (
            "exception",
            {
                "exception.type": "ValueError",
                "exception.message": "no such profile",
                "exception.escaped": "False",
            },
        )
    ]
    assert (spans["quiet"]["status"], spans["quiet"]["events"]) == ((StatusCode.UNSET, None), [])
    assert spans["statuses"]["status"] == (StatusCode.OK, None)
    assert spans["entered"]["status"] == (StatusCode.ERROR, "RuntimeError: in a bare span")
    assert spans["entered"]["events"][0][1]["exception.escaped"] == "True"
    assert spans["outer"]["status"] == (StatusCode.UNSET, None)


def odd_attributes(tracer: trace.Tracer, _: trace.Tracer) -> None:
    span = tracer.start_span("odd", attributes={"first": "kept"})
    span.set_attributes(
        {
            "none": None,
            "list": ["a", "b"],
            "ints": [1, 2],
            "": "empty key",
            "long": "x" * 20,
            "bytes": b"raw",
        }
    )
    span.set_attribute("after", 1)
    span.set_attribute("first", "replaced")
    span.add_event("event", {"key": "v" * 20, "n": 1})
    span.add_link(trace.SpanContext(7, 8, is_remote=True), {"linked": 1})
    span.end()
    span.set_attribute("ended", 1)
    span.update_name("renamed after the end")
    span.end()


def test_odd_values_limits_and_changes_after_the_end_as_the_sdk_does() -> None:
    (span,) = both(odd_attributes, max_span_attribute_length=8, max_span_attributes=6)

    assert span["name"] == "odd"
    assert list(span["attributes"].items()) == [
        ("list", ("a", "b")),
        ("ints", (1, 2)),
        ("long", "xxxxxxxx"),
        ("bytes", b"raw"),
        ("after", 1),
        ("first", "replaced"),
    ]
    # None and the empty key refused, one more pushed out by "after"; events have a limit
    # of their own (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT), unset here.
    assert span["dropped_attributes"] == 3
    assert span["events"] == [("event", {"key": "v" * 20, "n": 1})]
    assert span["links"] == [(8, {"linked": 1})]


def test_over_the_attribute_limit_new_keys_are_dropped_and_counted() -> None:
    def many(tracer: trace.Tracer, _: trace.Tracer) -> None:
        with tracer.start_as_current_span("many", attributes={f"k{n}": n for n in range(5)}):
            trace.get_current_span().set_attributes({"k0": "changed", "k9": 9})

    (span,) = both(many, max_span_attributes=3)

    assert (list(span["attributes"].items()), span["dropped_attributes"]) == (
        [("k4", 4), ("k0", "changed"), ("k9", 9)],
        4,
    )


def unsampled(tracer: trace.Tracer, _: trace.Tracer) -> None:
    remote = propagate.extract({"traceparent": UNSAMPLED})
    with tracer.start_as_current_span("server", context=remote) as span:
        assert not span.is_recording()
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        # The trace goes on downstream, not sampled, under a span id of its own.
        assert carrier["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-00"
        with tracer.start_as_current_span("child") as child:
            assert not child.is_recording()


@pytest.mark.parametrize(
    ("script", "sampler"), [(unsampled, None), (a_request, ALWAYS_OFF)], ids=["parent", "off"]
)
def test_what_the_sampler_drops_is_neither_recorded_nor_exported(
    script: Script, sampler: Sampler | None
) -> None:
    assert both(script, sampler) == []


def test_the_gateway_uses_the_lean_tracer_with_its_speedups_and_the_sdks_without() -> None:
    on = build_telemetry(Settings(demo=True, otel_sdk_disabled=True))
    off = build_telemetry(Settings(demo=True, otel_sdk_disabled=True, speedups=False))

    assert isinstance(on.tracing, LeanTracerProvider)
    assert off.tracing is off.tracer_provider


def test_with_the_sdk_disabled_the_lean_tracer_records_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    exported = InMemorySpanExporter()
    telemetry = build_telemetry(Settings(demo=True), span_exporter=exported)

    with telemetry.tracing.get_tracer("x").start_as_current_span("request") as span:
        assert not span.is_recording()

    assert exported.get_finished_spans() == ()


@pytest.mark.parametrize("script", [a_request, failures, odd_attributes])
def test_lean_spans_encode_as_the_sdks_encoder_encodes_them(script: Script) -> None:
    spans = record(True, script, max_span_attributes=6)

    assert encode_spans(spans) == sdk_encode(spans).SerializePartialToString()


def test_a_scope_asked_for_twice_gets_one_tracer_as_from_the_sdk() -> None:
    provider = LeanTracerProvider(TracerProvider(), SpanLimits())

    assert provider.get_tracer("gateway.telnyx", "1") is provider.get_tracer("gateway.telnyx", "1")
    assert provider.get_tracer("gateway.telnyx", "1") is not provider.get_tracer("gateway.telnyx")
