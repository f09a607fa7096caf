"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import Tenant, TenantRegistry

# Fixtures that run the gateway as a real process, and the Redis the replica tests use.
pytest_plugins = ["tests.process", "tests.services"]


@pytest.fixture
def anyio_backend() -> str:
    # Coroutine tests run through anyio's plugin in auto mode (pyproject.toml), on asyncio.
    return "asyncio"


# --- the full stack: gateway over the in-process simulator, two tenants -------------------

ALPHA_KEY = "KEYalpha00000000000000000000000"
BETA_KEY = "KEYbeta000000000000000000000000"
ALPHA_TOKEN = "alpha-token-0123456789"
BETA_TOKEN = "beta-token-0123456789"
GATEWAY_URL = "http://gateway.test"


@pytest.fixture
def settings() -> Settings:
    return Settings(demo=True, graphiql=False, introspection=True, otel_sdk_disabled=True)


@pytest.fixture
def simulator() -> Simulator:
    return Simulator()


@pytest.fixture
def tenants() -> TenantRegistry:
    return TenantRegistry.from_tokens(
        [
            (Tenant("alpha", SecretStr(ALPHA_KEY)), ALPHA_TOKEN),
            (Tenant("beta", SecretStr(BETA_KEY)), BETA_TOKEN),
        ]
    )


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def app(
    settings: Settings,
    simulator: Simulator,
    tenants: TenantRegistry,
    spans: InMemorySpanExporter,
) -> Iterator[Starlette]:
    telemetry = build_telemetry(settings, span_exporter=spans)
    yield create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=telemetry,
    )
    telemetry.shutdown()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A caller of the gateway, authenticated as tenant alpha."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
    ) as client:
        yield client


MakeApp = Callable[..., Starlette]


@pytest.fixture
def make_app(
    simulator: Simulator, tenants: TenantRegistry, spans: InMemorySpanExporter
) -> Iterator[MakeApp]:
    """`make_app(**changes)`: a gateway over the suite's simulator, with the `settings`
    fixture's values except those changed."""
    shutdowns: list[Callable[[], None]] = []

    def build(**changes: Any) -> Starlette:
        settings = Settings(
            **{
                "demo": True,
                "graphiql": False,
                "introspection": True,
                "otel_sdk_disabled": True,
                **changes,
            }
        )
        telemetry = build_telemetry(settings, span_exporter=spans)
        shutdowns.append(telemetry.shutdown)
        return create_app(
            settings,
            upstream_transport=httpx.ASGITransport(app=simulator.app),
            tenants=tenants,
            telemetry=telemetry,
        )

    yield build
    for shutdown in shutdowns:
        shutdown()


async def scrape(app: Starlette) -> httpx.Response:
    """`GET /metrics` on the app's metrics port (its probes app)."""
    async with client_for(app.state.probes, token=None) as probes:
        return await probes.get("/metrics")


def client_for(app: Any, token: str | None = ALPHA_TOKEN) -> httpx.AsyncClient:
    """A caller of `app` with this bearer token (none when None); alpha's by default."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL, headers=headers
    )
