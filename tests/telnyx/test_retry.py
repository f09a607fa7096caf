"""Retry rules, backoff, server-given delays and the overall deadline."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.errors import (
    InvalidRequestError,
    NotFoundError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import CreateMessagingProfileRequest, UpdateMessagingProfileRequest
from gateway.telnyx.operations import (
    CreateMessagingProfile,
    DeleteMessagingProfile,
    RetrieveMessagingProfile,
    UpdateMessagingProfile,
)
from gateway.telnyx.retry import RetryBudget, parse_retry_after, retry_delay
from gateway.telnyx.transport import HttpxUpstream, build_upstream
from tests.server import serve
from tests.telnyx.support import (
    PROFILE,
    PROFILE_ID,
    FakeTime,
    Upstream,
    make_client,
    one,
    tenant,
)

pytestmark = pytest.mark.anyio

CREATE = CreateMessagingProfileRequest(name="x", whitelisted_destinations=["US"])


def status(code: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(code, headers=headers, content=b'{"errors": []}')


async def retrieve(client: TelnyxClient) -> object:
    return await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504])
async def test_retryable_statuses_are_retried_then_succeed(code: int) -> None:
    upstream = Upstream([status(code), status(code), one(PROFILE)])
    fake = FakeTime()
    fetched = await retrieve(make_client(upstream, time=fake))
    assert len(upstream.requests) == 3
    assert fake.slept == [0.5, 1.0]
    assert getattr(fetched, "status", None) == 200


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, InvalidRequestError),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (404, NotFoundError),
        (422, InvalidRequestError),
    ],
)
async def test_client_errors_are_not_retried(code: int, error: type[Exception]) -> None:
    upstream = Upstream([status(code), one(PROFILE)])
    fake = FakeTime()
    with pytest.raises(error):
        await retrieve(make_client(upstream, time=fake))
    assert len(upstream.requests) == 1
    assert fake.slept == []


async def test_retries_stop_after_max_retries() -> None:
    upstream = Upstream([status(503)])
    fake = FakeTime()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await retrieve(make_client(upstream, time=fake, max_retries=3))
    assert len(upstream.requests) == 4
    assert fake.slept == [0.5, 1.0, 2.0]
    assert caught.value.status == 503


async def test_server_may_forbid_a_retry() -> None:
    upstream = Upstream([status(503, {"x-should-retry": "false"}), one(PROFILE)])
    with pytest.raises(UpstreamUnavailableError):
        await retrieve(make_client(upstream))
    assert len(upstream.requests) == 1


async def test_server_may_ask_for_a_retry() -> None:
    upstream = Upstream([status(400, {"x-should-retry": "true"}), one(PROFILE)])
    await retrieve(make_client(upstream))
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("garbage"),
        httpx.PoolTimeout("pool"),
    ],
)
async def test_transport_failures_are_retried_for_reads(exc: Exception) -> None:
    upstream = Upstream([exc, one(PROFILE)])
    await retrieve(make_client(upstream))
    assert len(upstream.requests) == 2


async def test_unsupported_protocol_is_not_retried() -> None:
    upstream = Upstream([httpx.UnsupportedProtocol("ftp"), one(PROFILE)])
    with pytest.raises(UpstreamUnavailableError):
        await retrieve(make_client(upstream))
    assert len(upstream.requests) == 1


# --- non-idempotent create ---------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        status(500),
        status(503),
        status(409),
        httpx.ReadTimeout("t"),
        httpx.ReadError("r"),
        httpx.WriteError("w"),
    ],
)
async def test_create_is_not_retried_once_it_may_have_reached_telnyx(first: object) -> None:
    upstream = Upstream([first, one(PROFILE)])  # type: ignore[list-item]
    with pytest.raises(UpstreamError):
        await make_client(upstream).send(tenant(), CreateMessagingProfile(), CREATE)
    assert len(upstream.requests) == 1


@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("t"),
        status(429),
        status(500, {"x-should-retry": "true"}),
    ],
)
async def test_create_is_retried_when_it_never_reached_telnyx_or_on_429(first: object) -> None:
    upstream = Upstream([first, one(PROFILE)])  # type: ignore[list-item]
    fetched = await make_client(upstream).send(tenant(), CreateMessagingProfile(), CREATE)
    assert len(upstream.requests) == 2
    assert fetched.value["data"]["id"] == PROFILE_ID


async def test_patch_and_delete_follow_the_normal_rules() -> None:
    upstream = Upstream([status(503), httpx.ReadTimeout("t"), one(PROFILE)])
    client = make_client(upstream)
    await client.send(
        tenant(), UpdateMessagingProfile(id=PROFILE_ID), UpdateMessagingProfileRequest(enabled=True)
    )
    assert [r.method for r in upstream.requests] == ["PATCH"] * 3
    upstream = Upstream([httpx.ReadTimeout("t"), one(PROFILE)])
    await make_client(upstream).send(tenant(), DeleteMessagingProfile(id=PROFILE_ID))
    assert [r.method for r in upstream.requests] == ["DELETE"] * 2


# --- delays ------------------------------------------------------------------------------


async def test_backoff_doubles_with_jitter_and_caps() -> None:
    upstream = Upstream([status(503)] * 5 + [one(PROFILE)])
    fake = FakeTime()
    client = make_client(
        upstream, time=fake, max_retries=5, max_retry_delay=2.0, random=lambda: 0.5, deadline=60
    )
    await retrieve(client)
    assert fake.slept == [0.4375, 0.875, 1.75, 1.75, 1.75]


def test_backoff_formula_bounds() -> None:
    assert retry_delay(0, server_delay=None, max_delay=8.0, random=lambda: 0.0) == 0.5
    assert retry_delay(0, server_delay=None, max_delay=8.0, random=lambda: 1.0) == 0.375
    assert retry_delay(1, server_delay=None, max_delay=8.0, random=lambda: 1.0) == 0.75
    assert retry_delay(10, server_delay=None, max_delay=8.0, random=lambda: 0.0) == 8.0
    assert retry_delay(5000, server_delay=None, max_delay=8.0, random=lambda: 0.0) == 8.0


@pytest.mark.parametrize(
    ("headers", "slept"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "7"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "200"}, 0.2),  # under a second, as asked
        ({"retry-after": "60"}, 60.0),
        ({"retry-after": "61"}, 0.5),
        ({"retry-after": "0"}, 0.5),
        ({"retry-after": "-4"}, 0.5),
        ({"retry-after": "nan"}, 0.5),
        ({"retry-after": "not a date"}, 0.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.5),
    ],
)
async def test_server_given_delay(headers: dict[str, str], slept: float) -> None:
    upstream = Upstream([status(429, headers), one(PROFILE)])
    fake = FakeTime()
    await retrieve(make_client(upstream, time=fake, deadline=120))
    assert fake.slept == [slept]


async def test_retry_after_http_date_in_the_near_future() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    upstream = Upstream([status(503, {"retry-after": when}), one(PROFILE)])
    fake = FakeTime()
    await retrieve(make_client(upstream, time=fake, deadline=120))
    (slept,) = fake.slept
    assert 28 < slept <= 30


def test_parse_retry_after_http_date() -> None:
    headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    now = email.utils.mktime_tz(email.utils.parsedate_tz("Wed, 21 Oct 2015 07:27:48 GMT"))  # type: ignore[arg-type]
    assert parse_retry_after(headers, now=now) == 12.0
    assert parse_retry_after(httpx.Headers(), now=now) is None


async def test_rate_limited_after_retries_reports_retry_after() -> None:
    upstream = Upstream([status(429, {"retry-after": "2"})])
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await retrieve(make_client(upstream))
    assert caught.value.retry_after == 2.0
    assert caught.value.status == 429
    assert len(upstream.requests) == 3


async def test_rate_limited_falls_back_to_telnyx_reset_header() -> None:
    upstream = Upstream([status(429, {"x-ratelimit-reset": "17"})])
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await retrieve(make_client(upstream, max_retries=0))
    assert caught.value.retry_after == 17.0


# --- the deadline -------------------------------------------------------------------------


async def test_a_backoff_past_the_deadline_is_not_slept() -> None:
    upstream = Upstream([status(503)])
    fake = FakeTime()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await retrieve(make_client(upstream, time=fake, deadline=1.2))
    # 0.5 fits (ends at 0.5 < 1.2); the next 1.0 would end at 1.5, past the deadline.
    assert fake.slept == [0.5]
    assert len(upstream.requests) == 2
    assert caught.value.status == 503


async def test_a_long_retry_after_fails_fast_with_the_delay() -> None:
    upstream = Upstream([status(429, {"retry-after": "30"})])
    fake = FakeTime()
    with pytest.raises(UpstreamRateLimitedError) as caught:
        await retrieve(make_client(upstream, time=fake, deadline=20))
    assert fake.slept == []
    assert caught.value.retry_after == 30.0


async def test_each_attempt_timeout_is_cut_to_the_time_left() -> None:
    upstream = Upstream([status(503), one(PROFILE)])
    fake = FakeTime()
    await retrieve(make_client(upstream, time=fake, deadline=3.0))
    first, second = (r.extensions["timeout"] for r in upstream.requests)
    assert first == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert second == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


async def test_a_hanging_upstream_fails_at_the_deadline() -> None:
    async def hang(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    client = TelnyxClient(
        HttpxUpstream(httpx.MockTransport(hang)), base_url="http://t/v2", deadline=0.2
    )
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await retrieve(client)
    assert time.monotonic() - started < 2
    assert str(caught.value) == "Telnyx retrieve_messaging_profile: deadline of 0.2 s exceeded"


async def test_waiting_for_a_tenant_slot_counts_against_the_deadline() -> None:
    release = asyncio.Event()

    async def block(_: httpx.Request) -> httpx.Response:
        await release.wait()
        return one(PROFILE)

    client = TelnyxClient(
        HttpxUpstream(httpx.MockTransport(block)),
        base_url="http://t/v2",
        deadline=0.2,
        tenant_concurrency=1,
    )
    first = asyncio.create_task(retrieve(client))
    await asyncio.sleep(0.01)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await retrieve(client)
    assert caught.value.message.endswith("deadline of 0.2 s exceeded")
    release.set()
    with pytest.raises(UpstreamUnavailableError):
        await first  # its own deadline passed while blocked too


def slow_app() -> Starlette:
    async def slow(_: Request) -> Response:
        await asyncio.sleep(1.0)
        return Response(b"{}", media_type="application/json")

    return Starlette(routes=[Route("/v2/messaging_profiles/{id}", slow)])


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_deadline_bounds_timeouts_and_retries_on_a_real_server(transport: str) -> None:
    settings = Settings(
        upstream_timeout=0.3,
        upstream_connect_timeout=0.3,
        upstream_transport=transport,  # type: ignore[arg-type]
    )
    with serve(slow_app()) as url:
        async with contextlib.aclosing(build_upstream(settings)) as upstream:
            client = TelnyxClient(upstream, base_url=f"{url}/v2", max_retries=2, deadline=0.5)
            started = time.monotonic()
            with pytest.raises(UpstreamUnavailableError) as caught:
                await retrieve(client)
            elapsed = time.monotonic() - started
    # Without the deadline: 3 x 0.3 s timeouts plus ~1.1 s of backoff.
    assert elapsed < 0.9
    assert caught.value.status is None


async def test_the_retry_budget_caps_retries_as_a_share_of_calls_per_tenant() -> None:
    upstream = Upstream([status(503)])
    fake = FakeTime()
    client = make_client(
        upstream,
        time=fake,
        max_retries=2,
        retry_budget_ratio=0.5,
        retry_budget_min_per_second=0.1,  # a budget of one retry, refilled every 10 s
    )
    outcomes = []
    for _ in range(6):
        with pytest.raises(UpstreamUnavailableError):
            await retrieve(client)
        outcomes.append(len(upstream.requests))
    # A budget of one retry, and half a retry earned per call: call 1 retries once (not
    # twice, as max_retries would allow), then every second call earns its one retry.
    assert outcomes == [2, 3, 5, 6, 8, 9]
    # Another tenant has its own budget.
    other = make_client(upstream, time=fake, retry_budget_min_per_second=0.1)
    with pytest.raises(UpstreamUnavailableError):
        await other.send(tenant("other"), RetrieveMessagingProfile(id=PROFILE_ID))
    assert len(upstream.requests) == 11


def test_the_retry_budget_refills_with_time_up_to_ten_seconds_of_its_floor() -> None:
    now = [0.0]
    budget = RetryBudget(ratio=0.0, min_per_second=1.0, clock=lambda: now[0])
    assert [budget.withdraw("acme") for _ in range(11)] == [True] * 10 + [False]
    now[0] += 2.5
    assert [budget.withdraw("acme") for _ in range(3)] == [True, True, False]
    now[0] += 100
    assert sum(budget.withdraw("acme") for _ in range(20)) == 10
