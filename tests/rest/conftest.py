"""The REST face over the in-process simulator, with every upstream exchange recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Account, Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_KEY

SIMULATOR_URL = "http://simulator.test"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One upstream call as the gateway made it and received it."""

    method: str
    url: httpx.URL
    status: int
    body: bytes


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes every request on and keeps the exact bytes of each answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        self.exchanges.append(Exchange(request.method, request.url, response.status_code, body))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
        )

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]


@pytest.fixture
def recorder(simulator: Simulator) -> RecordingTransport:
    return RecordingTransport(httpx.ASGITransport(app=simulator.app))


@pytest.fixture
def app(
    settings: Settings,
    recorder: RecordingTransport,
    tenants: TenantRegistry,
    spans: InMemorySpanExporter,
) -> Iterator[Starlette]:
    telemetry = build_telemetry(settings, span_exporter=spans)
    yield create_app(settings, upstream_transport=recorder, tenants=tenants, telemetry=telemetry)
    telemetry.shutdown()


@pytest.fixture
async def direct(simulator: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """Tenant alpha's Telnyx account, called without the gateway."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator.app),
        base_url=SIMULATOR_URL,
        headers={"Authorization": f"Bearer {ALPHA_KEY}"},
    ) as client:
        yield client


@pytest.fixture
def alpha(simulator: Simulator) -> Account:
    """Tenant alpha's Telnyx account (seeded)."""
    return simulator.account(ALPHA_KEY)


def errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The entries of a Telnyx error envelope."""
    body: dict[str, Any] = response.json()
    assert list(body) == ["errors"]
    entries: list[dict[str, Any]] = body["errors"]
    return entries
