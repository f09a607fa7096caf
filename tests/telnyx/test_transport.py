"""The shared upstream connection pool over both transports, on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading

import aiohttp
import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.errors import UpstreamUnavailableError
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import CreateMessagingProfileRequest
from gateway.telnyx.operations import CreateMessagingProfile, RetrieveMessagingProfile
from gateway.telnyx.transport import (
    AiohttpUpstream,
    HttpxUpstream,
    Reply,
    build_upstream,
    never_sent,
    reply,
)
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
            seen = {
                "x-seen-authorization": request.headers.get("authorization", ""),
                "x-seen-accept-encoding": request.headers.get("accept-encoding", ""),
                "x-seen-cookie": request.headers.get("cookie", ""),
                # Set on every answer: a shared pool that kept it would send it on.
                "set-cookie": "session=tenant-a; Path=/",
            }
            if request.query_params.get("gzip"):
                body = gzip.compress(orjson.dumps({"data": PROFILE}))
                return Response(
                    body,
                    headers={**seen, "content-encoding": "gzip"},
                    media_type="application/json",
                )
            return JSONResponse({"data": PROFILE}, headers=seen)
        finally:
            gauge.leave()

    return Starlette(routes=[Route("/v2/messaging_profiles/{id}", profile)])


def settings(transport: str, **overrides: object) -> Settings:
    return Settings(upstream_transport=transport, **overrides)  # type: ignore[arg-type]


def test_upstream_is_built_from_settings() -> None:
    upstream = build_upstream(settings("aiohttp", upstream_timeout=7, upstream_connect_timeout=2))
    assert isinstance(upstream, AiohttpUpstream)
    assert upstream.timeout == httpx.Timeout(7, connect=2)
    assert upstream._max_connections == 100
    upstream = build_upstream(
        settings("httpx", upstream_max_connections=7, upstream_max_keepalive=3)
    )
    assert isinstance(upstream, HttpxUpstream)
    pool = upstream._transport._pool  # type: ignore[attr-defined]
    assert (pool._max_connections, pool._max_keepalive_connections) == (7, 3)


async def test_injected_transport_wins() -> None:
    app = upstream_app(Gauge())
    upstream = build_upstream(settings("aiohttp"), transport=httpx.ASGITransport(app))
    async with contextlib.aclosing(upstream):
        client = TelnyxClient(upstream, base_url="http://upstream/v2")
        fetched = await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert isinstance(upstream, HttpxUpstream)
    assert fetched.value["data"]["id"] == PROFILE_ID
    assert upstream.is_closed


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_both_transports_talk_to_a_real_server(transport: str) -> None:
    with serve(upstream_app(Gauge())) as url:
        async with contextlib.aclosing(build_upstream(settings(transport))) as upstream:
            client = TelnyxClient(upstream, base_url=f"{url}/v2")
            fetched = await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
            raw = await client.request(
                tenant(), "retrieve_messaging_profile", "GET", f"/messaging_profiles/{PROFILE_ID}"
            )
            gzipped = await client.request(
                tenant(),
                "retrieve_messaging_profile",
                "GET",
                f"/messaging_profiles/{PROFILE_ID}",
                params={"gzip": "1"},
            )
    assert fetched.value["data"]["name"] == "Support"
    assert fetched.body == raw.content
    assert raw.headers["x-seen-authorization"] == f"Bearer {KEY}"
    assert raw.headers["x-seen-accept-encoding"] == "gzip, deflate"
    # A compressed answer arrives decoded.
    assert orjson.loads(gzipped.content) == {"data": PROFILE}
    # No cookie an answer set goes out again: the pool is every tenant's.
    assert (raw.headers["x-seen-cookie"], gzipped.headers["x-seen-cookie"]) == ("", "")
    # The answer handed back keeps no request, whose headers hold the key.
    assert isinstance(raw, Reply)
    assert not hasattr(raw, "request")


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pool_limit_takes_effect(transport: str) -> None:
    gauge = Gauge()
    with serve(upstream_app(gauge)) as url:
        upstream = build_upstream(settings(transport, upstream_max_connections=2))
        async with contextlib.aclosing(upstream):
            answers = await asyncio.gather(
                *(
                    upstream.exchange(
                        "GET", f"{url}/v2/messaging_profiles/p?delay=0.1", {}, None, {}
                    )
                    for _ in range(8)
                )
            )
    assert [answer.status_code for answer in answers] == [200] * 8
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
    async with contextlib.aclosing(build_upstream(settings(transport))) as upstream:
        client = TelnyxClient(
            upstream,
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
    assert caught.value.message == "Telnyx create_messaging_profile: connection refused"


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
        # An aiohttp cause decides: only some of its connection errors never sent anything.
        (mapped(httpx.ConnectTimeout, REFUSED), True),
        (mapped(httpx.ConnectTimeout, aiohttp.ConnectionTimeoutError()), True),
        (mapped(httpx.ConnectTimeout, aiohttp.ServerDisconnectedError()), False),
        (mapped(httpx.ConnectTimeout, aiohttp.ClientConnectionResetError()), False),
    ],
)
def test_never_sent(exc: httpx.RequestError, expected: bool) -> None:
    assert never_sent(exc) is expected


def test_an_answer_goes_through_httpx_only_when_it_is_compressed() -> None:
    raw = [(b"Content-Type", b"application/json"), (b"Retry-After", b"3")]
    plain = reply(503, raw, b"{}")
    assert isinstance(plain, Reply)
    assert (plain.status_code, plain.reason_phrase, plain.content) == (
        503,
        "Service Unavailable",
        b"{}",
    )
    assert (plain.headers["retry-after"], plain.headers["content-type"]) == (
        "3",
        "application/json",
    )
    assert [reply(status, [], b"").is_success for status in (199, 200, 299, 300)] == [
        False,
        True,
        True,
        False,
    ]
    identity = reply(200, [(b"Content-Encoding", b" Identity ")], b"{}")
    assert (type(identity), identity.content) == (Reply, b"{}")

    zipped = reply(200, [(b"content-encoding", b"gzip")], gzip.compress(b'{"a": 1}'))

    assert (type(zipped), zipped.content) == (httpx.Response, b'{"a": 1}')
