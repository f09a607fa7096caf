"""Reading what the gateway exported: span trees, span lookups, and everything as text."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_TOKEN, client_for

# A span as (name, children), children ordered by name, then by start.
Tree = tuple[str, tuple["Tree", ...]]


def tree(spans: Sequence[ReadableSpan]) -> list[Tree]:
    """The finished spans as a forest; a span whose parent was not exported is a root."""
    ids = {span.context.span_id for span in spans}
    ordered = sorted(spans, key=lambda span: (span.name, span.start_time or 0))

    def node(span: ReadableSpan) -> Tree:
        return (span.name, children(span.context.span_id))

    def children(span_id: int) -> tuple[Tree, ...]:
        return tuple(
            node(span) for span in ordered if span.parent and span.parent.span_id == span_id
        )

    return [node(span) for span in ordered if span.parent is None or span.parent.span_id not in ids]


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return sorted(
        (span for span in spans if span.name == name), key=lambda span: span.start_time or 0
    )


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = named(spans, name)
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def server(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    (found,) = (span for span in spans if span.kind is SpanKind.SERVER)
    return found


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def parent_of(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


def as_text(span: ReadableSpan) -> str:
    """Everything a span carries that an exporter would send, as one string."""
    return repr(
        (
            span.name,
            attributes(span),
            [(event.name, dict(event.attributes or {})) for event in span.events],
            [dict(link.attributes or {}) for link in span.links],
            span.status.description,
            dict(span.resource.attributes),
        )
    )


class Recording(httpx.AsyncBaseTransport):
    """Passes requests on, keeping a copy of each one's headers."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers.copy())
        return await self.inner.handle_async_request(request)


@contextlib.asynccontextmanager
async def gateway(
    settings: Settings,
    simulator: Simulator,
    tenants: TenantRegistry,
    spans: InMemorySpanExporter,
    *,
    metric_readers: Sequence[MetricReader] = (),
    upstream: httpx.AsyncBaseTransport | None = None,
    token: str = ALPHA_TOKEN,
    probes: list[Starlette] | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """A caller of a gateway built from these parts, as the `client` fixture is; `probes`,
    when given, receives the app its metrics port serves."""
    telemetry = build_telemetry(settings, span_exporter=spans, metric_readers=metric_readers)
    app = create_app(
        settings,
        upstream_transport=upstream or httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=telemetry,
    )
    if probes is not None:
        probes.append(app.state.probes)
    try:
        async with client_for(app, token) as client:
            yield client
    finally:
        telemetry.shutdown()
