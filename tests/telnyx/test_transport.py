"""The shared upstream client over both transports, on real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading

import aiohttp
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.errors import UpstreamUnavailableError
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import CreateMessagingProfileRequest
from gateway.telnyx.operations import CreateMessagingProfile, RetrieveMessagingProfile
from gateway.telnyx.transport import build_http_client, never_sent
from tests.server import serve
from tests.telnyx.support import KEY, PROFILE, PROFILE_ID, FakeTime, tenant

pytestmark = pytest.mark.anyio

TRANSPORTS = ["httpx", "aiohttp"]


class Gauge:
    """Requests in flight at the server, and the most seen at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def upstream_app(gauge: Gauge) -> Starlette:
    async def profile(request: Request) -> Response:
        gauge.enter()
        try:
            await asyncio.sleep(float(request.query_params.get("delay", "0")))
            return JSONResponse(
                {"data": PROFILE},
                headers={"x-seen-authorization": request.headers.get("authorization", "")},
            )
        finally:
            gauge.leave()

    return Starlette(routes=[Route("/v2/messaging_profiles/{id}", profile)])


def settings(transport: str, **overrides: object) -> Settings:
    return Settings(upstream_transport=transport, **overrides)  # type: ignore[arg-type]


def test_client_is_built_from_settings() -> None:
    http = build_http_client(settings("aiohttp", upstream_timeout=7, upstream_connect_timeout=2))
    assert http.timeout == httpx.Timeout(7, connect=2)
    assert "authorization" not in http.headers
    assert http.follow_redirects is False
    transport = http._transport
    assert isinstance(transport, AiohttpTransport)
    assert transport.limits.max_connections == 100
    http = build_http_client(
        settings("httpx", upstream_max_connections=7, upstream_max_keepalive=3)
    )
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert (pool._max_connections, pool._max_keepalive_connections) == (7, 3)


async def test_injected_transport_wins() -> None:
    app = upstream_app(Gauge())
    async with build_http_client(settings("aiohttp"), transport=httpx.ASGITransport(app)) as http:
        client = TelnyxClient(http, base_url="http://upstream/v2")
        fetched = await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert fetched.value["data"]["id"] == PROFILE_ID


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_both_transports_talk_to_a_real_server(transport: str) -> None:
    with serve(upstream_app(Gauge())) as url:
        async with build_http_client(settings(transport)) as http:
            client = TelnyxClient(http, base_url=f"{url}/v2")
            fetched = await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
            raw = await client.request(
                tenant(), "retrieve_messaging_profile", "GET", f"/messaging_profiles/{PROFILE_ID}"
            )
    assert fetched.value["data"]["name"] == "Support"
    assert fetched.body == raw.content
    assert raw.headers["x-seen-authorization"] == f"Bearer {KEY}"


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pool_limit_takes_effect(transport: str) -> None:
    gauge = Gauge()
    with serve(upstream_app(gauge)) as url:
        async with build_http_client(settings(transport, upstream_max_connections=2)) as http:
            await asyncio.gather(
                *(http.get(f"{url}/v2/messaging_profiles/p?delay=0.1") for _ in range(8))
            )
    assert gauge.peak == 2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_create_is_retried_when_the_connection_is_refused(transport: str) -> None:
    fake = FakeTime()
    async with build_http_client(settings(transport)) as http:
        client = TelnyxClient(
            http,
            base_url=f"http://127.0.0.1:{closed_port()}/v2",
            sleep=fake.sleep,
            clock=fake.clock,
            random=lambda: 0.0,
        )
        with pytest.raises(UpstreamUnavailableError) as caught:
            await client.send(
                tenant(),
                CreateMessagingProfile(),
                CreateMessagingProfileRequest(name="x", whitelisted_destinations=["US"]),
            )
    assert fake.slept == [0.5, 1.0]
    assert caught.value.status is None


# What aiohttp raises for a refused connection; the connection key is not needed here.
REFUSED = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]


def mapped(kind: type[httpx.RequestError], cause: BaseException | None) -> httpx.RequestError:
    exc = kind("failed")
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (mapped(httpx.ConnectError, None), True),
        (mapped(httpx.ConnectTimeout, None), True),
        (mapped(httpx.PoolTimeout, None), True),
        (mapped(httpx.ReadTimeout, None), False),
        (mapped(httpx.RemoteProtocolError, None), False),
        # httpx_aiohttp maps all of these to ConnectTimeout; only some never sent anything.
        (mapped(httpx.ConnectTimeout, REFUSED), True),
        (mapped(httpx.ConnectTimeout, aiohttp.ConnectionTimeoutError()), True),
        (mapped(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError()), False),
        (mapped(httpx.ConnectTimeout, aiohttp.ClientConnectionResetError()), False),
    ],
)
def test_never_sent(exc: httpx.RequestError, expected: bool) -> None:
    assert never_sent(exc) is expected
