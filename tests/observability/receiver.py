"""A minimal OTLP/HTTP trace receiver: POST /v1/traces with protobuf bodies, kept in memory."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One exported span with its resource, ids as ints, attributes as a dict."""

    name: str
    kind: int
    trace_id: int
    span_id: int
    parent_span_id: int | None
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _values(pairs: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        result[pair.key] = getattr(pair.value, kind) if kind else None
    return result


class Receiver:
    """Serve `app` (tests/server.py); `spans()` lists everything received so far."""

    def __init__(self) -> None:
        self._requests: list[ExportTraceServiceRequest] = []
        self._lock = threading.Lock()
        self.app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        with self._lock:
            self._requests.append(message)
        return Response(
            ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf"
        )

    def spans(self) -> list[Received]:
        with self._lock:
            requests = list(self._requests)
        found: list[Received] = []
        span: Span
        for message in requests:
            for resource_spans in message.resource_spans:
                resource = _values(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            Received(
                                name=span.name,
                                kind=span.kind,
                                trace_id=int.from_bytes(span.trace_id, "big"),
                                span_id=int.from_bytes(span.span_id, "big"),
                                parent_span_id=(
                                    int.from_bytes(span.parent_span_id, "big")
                                    if span.parent_span_id
                                    else None
                                ),
                                attributes=_values(span.attributes),
                                resource=resource,
                            )
                        )
        return found
