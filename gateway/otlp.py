"""OTLP/HTTP span export, with the protobuf bytes written directly.

The SDK's exporter builds a protobuf message object for every span, attribute and value
(and hashes the resource as JSON for every span) before serialising them: about 25 us a
span, on a thread that holds the GIL the event loop needs. The OTLP trace schema is small
and stable, so `encode_spans` writes the same bytes (the same fields, in field-number
order, defaults left out as proto3 does) from the spans directly, several times faster.
The tests hold it to the SDK encoder's output, byte for byte.
"""

from __future__ import annotations

import functools
import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as SdkOTLPSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

log = logging.getLogger(__name__)

_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_FIXED32 = struct.Struct("<I")
# SpanFlags: the context's is-remote bit is known (0x100), and set (0x200).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_MASK64 = (1 << 64) - 1


_SMALL = tuple(bytes((value,)) for value in range(0x80))


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    size = len(payload)
    return tag + (_SMALL[size] if size < 0x80 else _varint(size)) + payload


def _string(tag: bytes, text: str | None) -> bytes:
    """A string field, left out when empty (proto3)."""
    return _delimited(tag, text.encode()) if text else b""


def _value(value: Any) -> bytes:
    """An AnyValue: the one member of its oneof that is set is always written."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _delimited(b"\x0a", value.encode())
    if isinstance(value, int):
        return b"\x18" + _varint(value & _MASK64)  # int64: negatives in two's complement
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes):
        return _delimited(b"\x3a", value)
    if isinstance(value, Sequence):
        return _delimited(b"\x2a", b"".join(_delimited(b"\x0a", _value(item)) for item in value))
    if isinstance(value, Mapping):
        return _delimited(b"\x32", _attributes(b"\x0a", value))
    raise TypeError(f"cannot encode a {type(value).__name__} attribute")


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    """Each attribute as a KeyValue field `tag`; one that cannot be encoded is left out."""
    if not attributes:
        return b""
    out = []
    for key, value in attributes.items():
        try:
            pair = _pair(key, value) if type(value) in _REPEATING else _encode_pair(key, value)
        except TypeError:
            log.exception("span attribute %s left out", key)
            continue
        out.append(_delimited(tag, pair))
    return b"".join(out)


def _encode_pair(key: str, value: Any) -> bytes:
    return _string(b"\x0a", str(key)) + _delimited(b"\x12", _value(value))


# Most attributes repeat from span to span (methods, routes, statuses, operations, tenants):
# each such pair is encoded once. Only exact strings and integers: `typed` keeps True apart
# from 1, but nothing would keep -0.0 apart from 0.0, or (True,) from (1,).
_REPEATING = (str, int)
_pair = functools.lru_cache(maxsize=4096, typed=True)(_encode_pair)


def _flags(context: SpanContext | None) -> bytes:
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if context is not None and context.is_remote else 0)
    return _FIXED32.pack(flags)


def _count(tag: bytes, count: int) -> bytes:
    return tag + _varint(count) if count else b""


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None  # noqa: S101  -- every SDK span has one
    parent = span.parent
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        _string(b"\x1a", ",".join(f"{key}={value}" for key, value in context.trace_state.items())),
        b"" if parent is None else b"\x22\x08" + parent.span_id.to_bytes(8, "big"),
        _string(b"\x2a", span.name),
        b"\x30" + _varint(span.kind.value + 1),  # the SDK's kinds count from 0, OTLP's from 1
        b"" if not span.start_time else b"\x39" + _FIXED64.pack(span.start_time),
        b"" if not span.end_time else b"\x41" + _FIXED64.pack(span.end_time),
        _attributes(b"\x4a", span.attributes),
        _count(b"\x50", span.dropped_attributes),
    ]
    for event in span.events:
        parts.append(
            _delimited(
                b"\x5a",
                (b"\x09" + _FIXED64.pack(event.timestamp) if event.timestamp else b"")
                + _string(b"\x12", event.name)
                + _attributes(b"\x1a", event.attributes)
                + _count(b"\x20", event.dropped_attributes),
            )
        )
    parts.append(_count(b"\x60", span.dropped_events))
    for link in span.links:
        parts.append(
            _delimited(
                b"\x6a",
                b"\x0a\x10"
                + link.context.trace_id.to_bytes(16, "big")
                + b"\x12\x08"
                + link.context.span_id.to_bytes(8, "big")
                + _attributes(b"\x22", link.attributes)
                + _count(b"\x28", link.dropped_attributes)
                + b"\x35"
                + _flags(link.context),
            )
        )
    parts.append(_count(b"\x70", span.dropped_links))
    status = span.status
    parts.append(
        _delimited(
            b"\x7a",
            _string(b"\x12", status.description) + _count(b"\x18", status.status_code.value),
        )
    )
    parts.append(b"\x85\x01" + _flags(parent))  # field 16, fixed32
    return b"".join(parts)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    return (
        _string(b"\x0a", scope.name)
        + _string(b"\x12", scope.version)
        + _attributes(b"\x1a", scope.attributes)
    )


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """An ExportTraceServiceRequest holding `spans`, grouped by resource, then by scope."""
    # By identity: a provider's spans share its resource and its tracers' scope objects.
    groups: dict[int, tuple[Resource, dict[int, tuple[InstrumentationScope | None, list[bytes]]]]]
    groups = {}
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        _, scopes = groups.setdefault(id(resource), (resource, {}))
        scopes.setdefault(id(scope), (scope, []))[1].append(_delimited(b"\x12", _span(span)))
    out = []
    for resource, scopes in groups.values():
        scope_spans = b"".join(
            _delimited(
                b"\x12",
                _delimited(b"\x0a", _scope(scope))
                + b"".join(encoded)
                + _string(b"\x1a", scope.schema_url if scope else None),
            )
            for scope, encoded in scopes.values()
        )
        body = (
            _delimited(b"\x0a", _attributes(b"\x0a", resource.attributes))
            + scope_spans
            + _string(b"\x1a", resource.schema_url)
        )
        out.append(_delimited(b"\x0a", body))
    return b"".join(out)


# What `export` below uses of the SDK exporter's internals; the lock file pins the SDK, and
# a version that renames any of them gets the SDK's own export path instead of breaking.
_SDK_INTERNALS = ("_shutdown", "_metrics", "_max_request_size", "_client")


class OTLPSpanExporter(SdkOTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter (endpoint, headers, TLS, compression, retries and its
    own metrics as it sets them up), sending bytes from `encode_spans`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = all(hasattr(self, name) for name in _SDK_INTERNALS)
        if not self.fast:
            log.warning("span export uses the SDK's encoder: its exporter's internals changed")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not self.fast:
            return super().export(spans)
        if self._shutdown:
            log.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = encode_spans(spans)
            except Exception as exc:  # noqa: BLE001  -- as the SDK's: a bad batch is dropped
                log.error("Failed to encode span batch: %s", exc)
                result.error = exc
                return SpanExportResult.FAILURE
            if 0 < self._max_request_size < len(data):
                log.warning(
                    "Dropping span batch: %d bytes exceed the maximum request size of %d",
                    len(data),
                    self._max_request_size,
                )
                result.error = ValueError("span batch over the maximum request size")
                return SpanExportResult.FAILURE
            sent = self._client.export(data)
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
