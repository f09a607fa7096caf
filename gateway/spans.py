"""Spans recorded in a plain dict, for the gateway's own tracers.

The SDK's span cleans every attribute through a recursive, locked `BoundedAttributes`,
takes a lock on every change and goes through `use_span`'s generator to become current:
about 40 us a span, a fifth of a cached read and three times over on a cold one. The
gateway's own attributes are strings and numbers it wrote itself, so `Tracer` here keeps
the SDK's decisions (the provider's sampler, id generator, resource and span limits, the
same span processors) and records each span as a `LeanSpan`: a dict, checked by type, and
handed to the processors as the SDK's `ReadableSpan` when it ends. Anything unusual (a
value that is not a string, number or bool, an empty key) takes the SDK's cleaning; the
limits are applied as the SDK applies them. Both tracers are held to the same output by
`tests/test_spans.py`.

It is one of the speed-ups behind `GATEWAY_SPEEDUPS`; with it off the SDK's tracer records
every span. The processors are called on end only: the gateway's (batch and simple export)
do nothing on start.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from time import time_ns as _time_ns
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

log = logging.getLogger(__name__)

_PLAIN = frozenset({str, bool, int, float})
_UNSET = Status(StatusCode.UNSET)


class _Recorder:
    """What every span of one provider shares."""

    __slots__ = ("ids", "limits", "processor", "resource", "sampler")

    def __init__(self, provider: TracerProvider, limits: SpanLimits) -> None:
        self.sampler = provider.sampler
        self.ids = provider.id_generator
        self.resource: Resource = provider.resource
        self.limits = limits
        self.processor = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]


class LeanTracerProvider(trace.TracerProvider):
    """Tracers over `provider`'s sampler, ids and resource, within `limits` (the limits
    `provider` was given), that hand ended spans to the processors added here (which
    `provider` gets too)."""

    def __init__(self, provider: TracerProvider, limits: SpanLimits) -> None:
        self._provider = provider
        self._recorder = _Recorder(provider, limits)
        self._tracers: dict[InstrumentationScope, Tracer] = {}

    def add_span_processor(self, processor: SpanProcessor) -> None:
        self._provider.add_span_processor(processor)
        self._recorder.processor.add_span_processor(processor)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes | None = None,
    ) -> trace.Tracer:
        sdk = self._provider.get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        if not isinstance(sdk, SdkTracer):
            return sdk  # the SDK records nothing (OTEL_SDK_DISABLED): neither do we
        scope = InstrumentationScope(
            instrumenting_module_name, instrumenting_library_version or "", schema_url, attributes
        )
        # One tracer a scope, as the SDK keeps them: the encoder groups spans by scope.
        tracer = self._tracers.get(scope)
        if tracer is None:
            tracer = self._tracers[scope] = Tracer(self._recorder, scope)
        return tracer


class Tracer(trace.Tracer):
    def __init__(self, recorder: _Recorder, scope: InstrumentationScope) -> None:
        self._recorder = recorder
        self._scope = scope

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        recorder = self._recorder
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = recorder.ids.generate_trace_id()
            random = recorder.ids.is_trace_id_random()
        else:
            trace_id = parent.trace_id
            random = parent.trace_flags.random_trace_id
        links = links or ()
        sampled = recorder.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        decision = sampled.decision
        flags = TraceFlags.SAMPLED if decision is Decision.RECORD_AND_SAMPLE else TraceFlags.DEFAULT
        if random:
            flags |= TraceFlags.RANDOM_TRACE_ID
        span_context = SpanContext(
            trace_id,
            recorder.ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=sampled.trace_state,
        )
        if decision is Decision.DROP:
            return trace.NonRecordingSpan(span_context)
        span = LeanSpan(
            recorder,
            self._scope,
            name,
            span_context,
            parent,
            kind,
            links,
            start_time,
            record_exceptions=record_exception,
            status_on_exception=set_status_on_exception,
        )
        if sampled.attributes:
            span.set_attributes(sampled.attributes)
        return span

    def start_as_current_span(  # type: ignore[override]  # a context manager, not a generator
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Current:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        return Current(span, end_on_exit, record_exception, set_status_on_exception)


class Current:
    """`span` as the current span while the block runs: `use_span`, without a generator."""

    __slots__ = ("_end", "_record", "_status", "_token", "span")

    def __init__(self, span: trace.Span, end: bool, record: bool, status: bool) -> None:
        self.span = span
        self._end = end
        self._record = record
        self._status = status
        self._token: object = None

    def __enter__(self) -> trace.Span:
        self._token = context_api.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        try:
            context_api.detach(self._token)  # type: ignore[arg-type]
            # As `use_span`: errors only, not GeneratorExit or a cancellation.
            if isinstance(exc, Exception) and span.is_recording():
                if self._record:
                    span.record_exception(exc)
                if self._status:
                    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            if self._end:
                span.end()


class LeanSpan(trace.Span):
    """A recording span: attributes in a dict, handed to the processors when it ends."""

    def __init__(
        self,
        recorder: _Recorder,
        scope: InstrumentationScope,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        links: Sequence[Link],
        start_time: int | None,
        *,
        record_exceptions: bool,
        status_on_exception: bool,
    ) -> None:
        self._recorder = recorder
        self._scope = scope
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._links = tuple(links)
        self._attributes: dict[str, types.AnyValue] = {}
        self._dropped = 0
        self._events: list[Event] = []
        self._status = _UNSET
        self._start = start_time if start_time is not None else _time_ns()
        self._end: int | None = None
        # What `with span:` does with an exception, as the SDK's span does.
        self._record_exceptions = record_exceptions
        self._status_on_exception = status_on_exception

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end is not None:
            log.warning("Setting attribute on ended span.")
            return
        limits = self._recorder.limits
        longest = limits.max_span_attribute_length
        most = limits.max_span_attributes
        mine = self._attributes
        for key, value in attributes.items():
            kind = type(value)
            if kind in _PLAIN and type(key) is str and key:
                if kind is str and longest is not None and len(value) > longest:  # type: ignore[arg-type]
                    value = value[:longest]  # type: ignore[index]
            else:
                # The SDK's cleaning, and its refusals: lists, bytes, odd keys, None.
                cleaned = BoundedAttributes(None, {key: value}, max_value_len=longest)
                if key not in cleaned:
                    self._dropped += 1
                    continue
                value = cleaned[key]
            # As the SDK's attributes: a key set again moves to the end, and a new key
            # beyond the limit pushes out the oldest.
            if key in mine:
                del mine[key]
            elif most is not None and len(mine) >= most:
                self._dropped += 1
                if not mine:
                    continue
                del mine[next(iter(mine))]
            mine[key] = value

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        self.set_attributes({key: value})

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if self._end is not None:
            log.warning("Calling add_event on an ended span.")
            return
        limits = self._recorder.limits
        cleaned = BoundedAttributes(
            limits.max_event_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
        )
        most = limits.max_events
        if most is None or len(self._events) < most:
            self._events.append(Event(name, cleaned, timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._end is None and context.is_valid:
            self._links += (Link(context, attributes),)

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK's span: OK is final, UNSET changes nothing.
        if self._end is not None or self._status.status_code is StatusCode.OK:
            return
        if not isinstance(status, Status):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        recorded: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            log.warning("Calling end() on an ended span.")
            return
        self._end = end_time if end_time is not None else _time_ns()
        recorder = self._recorder
        recorder.processor.on_end(
            Ended(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=recorder.resource,
                attributes=self._attributes,
                events=tuple(self._events),
                links=self._links,
                kind=self._kind,
                status=self._status,
                start_time=self._start,
                end_time=self._end,
                instrumentation_scope=self._scope,
                dropped=self._dropped,
            )
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # `with span:` on a span started with `start_span`, as the SDK's span does it.
        if exc is not None and self.is_recording():
            if self._record_exceptions:
                self.record_exception(exc, escaped=True)
            if self._status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()


class Ended(ReadableSpan):
    """An ended span as the processors read it, with how many attributes it dropped."""

    def __init__(self, *, dropped: int, **fields: Any) -> None:
        super().__init__(**fields)
        self._dropped = dropped

    @property
    def dropped_attributes(self) -> int:
        return self._dropped
