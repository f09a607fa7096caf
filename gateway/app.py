"""`create_app`: the one place where the parts of the gateway meet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
from opentelemetry.metrics import Observation
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Scope

from gateway.cache import TenantCache
from gateway.coherence import CircuitNews, Coherence, Invalidation
from gateway.config import Settings
from gateway.errors import AuthenticationError
from gateway.lease import SharedTier
from gateway.limits import BodySizeLimit
from gateway.ratelimit import RateLimiter
from gateway.redisconn import RedisTarget
from gateway.reload import CountInFlight, TenantsReloader
from gateway.responses import ResponseCache
from gateway.rest import ANY_METHOD, create_rest_app
from gateway.rest import error_response as rest_error_response
from gateway.rest import not_found as rest_not_found
from gateway.rest.wire import own
from gateway.telemetry import (
    PROMETHEUS_CONTENT_TYPE,
    ServerTelemetry,
    Telemetry,
    build_telemetry,
    log_span_destination,
)
from gateway.telnyx.breaker import Breaker
from gateway.telnyx.budget import UpstreamBudget
from gateway.telnyx.circuit import Policy
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.service import (
    TelnyxService,
    Ttl,
    decode_read,
    encode_read,
    shared_failure,
    weigh_read,
)
from gateway.telnyx.transport import Upstream, build_upstream
from gateway.tenancy import RateLimit, Tenant, TenantRegistry
from gateway.tier import Shelf
from schema import create_graphql_app, graphiql_routes

DEMO_TENANT_ID = "demo"
DEMO_TELNYX_KEY = "KEYdemo0000000000000000000000000"
SIMULATOR_BASE_URL = "http://simulator.internal/v2"
# Health checks are polled constantly; tracing them would drown the real traffic.
UNTRACED_PATHS = ("/healthz", "/readyz")


def _too_large(path: str) -> Response:
    """413 in the shape of the face the request was for."""
    if path.startswith("/v2/"):
        return rest_error_response(
            413,
            [own("10015", "Request Entity Too Large", "The request body is too large.")],
        )
    return JSONResponse(
        {
            "errors": [
                {"message": "Request body too large.", "extensions": {"code": "BAD_USER_INPUT"}}
            ]
        },
        status_code=413,
    )


def _breaker(settings: Settings, telemetry: Telemetry) -> Breaker | None:
    """The circuit breaker in front of Telnyx, unless its window is 0."""
    if settings.upstream_circuit_window == 0:
        return None
    policy = Policy(
        window=settings.upstream_circuit_window,
        min_calls=settings.upstream_circuit_min_calls,
        failure_ratio=settings.upstream_circuit_failure_ratio,
        reset_timeout=settings.upstream_circuit_reset_timeout,
        probes=settings.upstream_circuit_probes,
    )
    return Breaker(
        policy, tracer_provider=telemetry.tracing, meter_provider=telemetry.meter_provider
    )


def _account_budget(settings: Settings, telemetry: Telemetry) -> UpstreamBudget:
    """Each Telnyx account's budget of calls, shared through Redis when there is one."""
    per_second = settings.upstream_budget_per_second
    default = RateLimit(per_second, settings.upstream_budget_burst) if per_second > 0 else None
    target = RedisTarget.from_settings(settings)
    client = None if target is None else target.client(timeout=0.5, socket_timeout=0.5)
    return UpstreamBudget(
        default,
        client=client,
        replicas=settings.replicas,
        meter_provider=telemetry.meter_provider,
    )


def _coherence(
    settings: Settings,
    cache: TenantCache,
    on_state: Callable[[bool], object],
    telemetry: Telemetry,
    breaker: Breaker | None,
) -> Coherence | None:
    """Cross-replica invalidation, and circuit breaker news, when Redis is configured."""
    if not settings.redis_url:
        return None

    def apply(invalidation: Invalidation) -> None:
        for kind, scope in invalidation.targets:
            cache.invalidate(invalidation.tenant, kind, scope)

    def hear(news: CircuitNews) -> None:
        if breaker is not None:
            breaker.announced(news.tenant, news.open_for)

    target = RedisTarget.from_settings(settings)
    assert target is not None  # noqa: S101  -- redis_url is set
    coherence = Coherence(
        target,
        on_invalidate=apply,
        on_resync=cache.clear,
        on_state=on_state,
        on_circuit=hear,
    )
    if breaker is not None:
        breaker.on_open(lambda tenant, seconds: coherence.announce(CircuitNews(tenant, seconds)))
    telemetry.meter_provider.get_meter(__name__).create_observable_gauge(
        "gateway.redis.up",
        callbacks=[lambda _: [Observation(1 if coherence.up else 0)]],
        description="1 while cross-replica invalidation reaches Redis, else 0.",
    )
    return coherence


def _shared_tier(settings: Settings) -> SharedTier | None:
    """The replicas' cache tier in Redis, when there is a Redis and it is not turned off."""
    if not settings.shares_cache or settings.redis_url is None:
        return None
    ttls = (
        settings.cache_ttl_profiles,
        settings.cache_ttl_short_codes,
        settings.cache_ttl_phone_numbers,
    )
    target = RedisTarget.from_settings(settings)
    assert target is not None  # noqa: S101  -- redis_url is set
    shelf = Shelf(
        target,
        timeout=settings.cache_shared_timeout,
        entry_max_bytes=settings.cache_shared_entry_max_bytes,
        tenant_max_bytes=settings.cache_shared_tenant_max_bytes,
        # No entry outlives its TTL and stale window; nor, then, need its versions.
        horizon=max(ttls) + settings.cache_stale_if_error,
        lease=1.0,
    )
    return SharedTier(
        shelf,
        encode=encode_read,
        decode=decode_read,
        failure=shared_failure,
        stale_window=settings.cache_stale_if_error,
        wait=settings.upstream_deadline,
        namespace=settings.base_url,
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    """Telnyx's 404 under /v2, also for paths Mount's pattern cannot match (a newline)."""
    path = request.url.path
    if path == "/v2" or path.startswith("/v2/"):
        return await rest_not_found(request)
    return PlainTextResponse("Not Found", status_code=404)


def load_tenants(settings: Settings) -> TenantRegistry:
    """The tenants file's registry, or the single demo tenant in demo mode."""
    if settings.tenants_file is not None:
        return TenantRegistry.from_file(settings.tenants_file)
    return TenantRegistry.from_tokens(
        [(Tenant(DEMO_TENANT_ID, SecretStr(DEMO_TELNYX_KEY)), settings.demo_token)]
    )


def create_app(
    settings: Settings,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    upstream: Upstream | None = None,
    tenants: TenantRegistry | None = None,
    telemetry: Telemetry | None = None,
) -> Starlette:
    """Build the gateway. Tests inject the upstream (an httpx transport, or a whole
    `Upstream` pool), the tenants and telemetry; the app closes the upstream it uses."""
    telemetry = telemetry or build_telemetry(settings)
    reloader: TenantsReloader | None = None
    if tenants is None and settings.tenants_file is not None:
        # Tenants from a file follow it while serving (gateway/reload.py).
        reloader = TenantsReloader(settings.tenants_file, interval=settings.tenants_reload_interval)
        tenants = reloader.registry
    tenants = tenants or load_tenants(settings)
    base_url = settings.base_url
    if upstream is None and upstream_transport is None and settings.is_demo:
        # Imported here so that a production gateway never loads the simulator.
        from gateway.simulator import Simulator

        upstream_transport = httpx.ASGITransport(app=Simulator().app)
        base_url = SIMULATOR_BASE_URL
    upstream = upstream or build_upstream(settings, transport=upstream_transport)
    breaker = _breaker(settings, telemetry)
    account_budget = _account_budget(settings, telemetry)
    client = TelnyxClient(
        upstream,
        base_url=base_url,
        max_retries=settings.upstream_max_retries,
        deadline=settings.upstream_deadline,
        max_retry_delay=settings.upstream_max_retry_delay,
        tenant_concurrency=settings.tenant_upstream_concurrency,
        retry_budget_ratio=settings.upstream_retry_budget_ratio,
        retry_budget_min_per_second=settings.upstream_retry_budget_min_per_second,
        breaker=breaker,
        account_budget=account_budget,
        tracer_provider=telemetry.tracing,
        meter_provider=telemetry.meter_provider,
    )
    shared = _shared_tier(settings)
    cache = TenantCache(
        max_bytes=settings.cache_max_bytes,
        tenant_max_bytes=settings.cache_tenant_max_bytes,
        stale_window=settings.cache_stale_if_error,
        weigh=weigh_read,
        shared=shared,
    )
    # Whole GraphQL responses, evicted by the same invalidations as the reads they used.
    responses = ResponseCache(
        max_bytes=settings.response_cache_max_bytes,
        tenant_max_bytes=settings.response_cache_tenant_max_bytes,
    )
    responses.follow(cache)
    resyncing: set[asyncio.Task[None]] = set()

    def redis_state(up: bool) -> None:
        service.cap_ttl(None if up else settings.redis_down_ttl)
        if up and shared is not None:
            # Drop the shared entries this replica's lost invalidations left unsafe.
            task = asyncio.get_running_loop().create_task(shared.resync())
            resyncing.add(task)
            task.add_done_callback(resyncing.discard)

    coherence = _coherence(settings, cache, redis_state, telemetry, breaker)
    service = TelnyxService(
        client,
        cache,
        ttl=Ttl(
            profiles=settings.cache_ttl_profiles,
            short_codes=settings.cache_ttl_short_codes,
            phone_numbers=settings.cache_ttl_phone_numbers,
        ),
        tracer_provider=telemetry.tracing,
        meter_provider=telemetry.meter_provider,
        publish=None if coherence is None else coherence.publish,
    )
    if coherence is not None:
        # Until the first subscription succeeds, other replicas' writes cannot reach us.
        service.cap_ttl(settings.redis_down_ttl)
    if reloader is not None:
        # A tenant that is gone or has another key must not be served what the old key read.
        reloader.on_forget(cache.clear)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = {"tenants": len(tenants) > 0, "upstream_client": not upstream.is_closed}
        ready = all(checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
        if coherence is not None:
            # Reported, not required: without Redis the replica still serves, less coherently.
            body["redis"] = "up" if coherence.up else "down"
        return JSONResponse(body, status_code=200 if ready else 503)

    def identify(scope: Scope) -> str | None:
        # For the server span and the access log; the face that answers finds the outcome
        # in the scope and keeps its own 401.
        try:
            return tenants.authenticate_scope(scope).id
        except AuthenticationError:
            return None

    async def metrics(_: Request) -> Response:
        return Response(telemetry.metrics_text(), media_type=PROMETHEUS_CONTENT_TYPE)

    rate_limiter = RateLimiter.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        log_span_destination(settings)
        if coherence is not None:
            await coherence.start()
        if reloader is not None:
            await reloader.start()
        try:
            yield
        finally:
            if reloader is not None:
                await reloader.stop()
            if coherence is not None:
                await coherence.stop()
            if shared is not None:
                await shared.aclose()
            await rate_limiter.aclose()
            await account_budget.aclose()
            await upstream.aclose()
            telemetry.shutdown()

    graphql = create_graphql_app(
        service,
        tenants,
        settings,
        tracer_provider=telemetry.tracing,
        rate_limiter=rate_limiter,
        responses=responses,
    )
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            *graphiql_routes(graphql),
            # Without it Starlette answers /v2 with a redirect to /v2/.
            Route("/v2", rest_not_found, methods=list(ANY_METHOD)),
            Mount("/v2", create_rest_app(service, tenants, rate_limiter=rate_limiter)),
        ],
        exception_handlers={404: _not_found},
        middleware=[
            # Counts requests before anything authenticates them (gateway/reload.py).
            *([] if reloader is None else [Middleware(CountInFlight, inflight=reloader.inflight)]),
            Middleware(
                ServerTelemetry,
                tracer_provider=telemetry.tracing,
                meter_provider=telemetry.meter_provider,
                excluded_paths=UNTRACED_PATHS,
                identify_scope=identify,
            ),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, refuse=_too_large),
        ],
        lifespan=lifespan,
    )
    # Served on the metrics port (gateway/server.py), never on the API's.
    app.state.probes = Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )
    app.state.service = service
    app.state.cache = cache
    app.state.responses = responses
    app.state.telemetry = telemetry
    app.state.tenants_reloader = reloader
    return app
