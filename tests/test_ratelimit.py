"""The per-tenant token bucket, its per-tenant rates, and the tenants file's overrides."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis
from pydantic import SecretStr

from gateway.config import Settings
from gateway.errors import RateLimitedError
from gateway.ratelimit import MemoryBuckets, RateLimiter, RedisBuckets, retry_after_seconds
from gateway.tenancy import RateLimit, Tenant, TenantRegistry, TenantsFileError
from tests.tcpproxy import TcpProxy

ACME = Tenant("acme", SecretStr("KEYacme"))
GLOBEX = Tenant("globex", SecretStr("KEYglobex"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, per_second: float = 2.0, burst: int = 3) -> RateLimiter:
    return RateLimiter(RateLimit(per_second, burst), buckets=MemoryBuckets(clock=clock))


async def test_a_tenant_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=2.0, burst=3)
    for _ in range(3):
        await limits.take(ACME)
    with pytest.raises(RateLimitedError) as refused:
        await limits.take(ACME)
    assert refused.value.retry_after == pytest.approx(0.5)
    assert refused.value.message == "Too many requests for this tenant; retry later."
    clock.now += 0.5
    await limits.take(ACME)
    with pytest.raises(RateLimitedError):
        await limits.take(ACME)


async def test_the_bucket_refills_to_the_burst_and_no_further() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=2.0, burst=3)
    await limits.take(ACME)
    clock.now += 3600
    for _ in range(3):
        await limits.take(ACME)
    with pytest.raises(RateLimitedError):
        await limits.take(ACME)


async def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=1.0, burst=1)
    await limits.take(ACME)
    for _ in range(5):
        with pytest.raises(RateLimitedError) as refused:
            await limits.take(ACME)
        assert refused.value.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    await limits.take(ACME)


async def test_tenants_have_separate_buckets() -> None:
    limits = limiter(Clock(), per_second=1.0, burst=1)
    await limits.take(ACME)
    with pytest.raises(RateLimitedError):
        await limits.take(ACME)
    await limits.take(GLOBEX)


async def test_a_tenants_own_rate_overrides_the_default() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=1.0, burst=1)
    generous = Tenant("generous", SecretStr("KEYg"), RateLimit(per_second=10.0, burst=5))
    for _ in range(5):
        await limits.take(generous)
    with pytest.raises(RateLimitedError) as refused:
        await limits.take(generous)
    assert refused.value.retry_after == pytest.approx(0.1)
    assert limits.rate(generous) == RateLimit(10.0, 5)
    assert limits.rate(ACME) == RateLimit(1.0, 1)


async def test_a_clock_going_backwards_refills_nothing() -> None:
    clock = Clock()
    limits = limiter(clock, per_second=1.0, burst=1)
    await limits.take(ACME)
    clock.now -= 50
    with pytest.raises(RateLimitedError):
        await limits.take(ACME)


async def test_the_settings_give_the_default_rate() -> None:
    settings = Settings(
        demo=True, rate_limit_per_second=4, rate_limit_burst=2, otel_sdk_disabled=True
    )
    clock = Clock()
    limits = RateLimiter.from_settings(settings, clock=clock)
    assert limits.rate(ACME) == RateLimit(4.0, 2)
    await limits.take(ACME)
    await limits.take(ACME)
    with pytest.raises(RateLimitedError) as refused:
        await limits.take(ACME)
    assert refused.value.retry_after == pytest.approx(0.25)


def test_documented_defaults() -> None:
    settings = Settings(demo=True, otel_sdk_disabled=True)
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (50.0, 100)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (2.0, 2), (59.01, 60)]
)
def test_retry_after_is_rounded_up_to_whole_seconds(seconds: float, header: int) -> None:
    assert retry_after_seconds(RateLimitedError(seconds)) == header


# --- the tenants file -----------------------------------------------------------------


def _write(tmp_path: Path, entry: dict[str, object]) -> Path:
    path = tmp_path / "tenants.json"
    base = {"id": "acme", "token_sha256": hashlib.sha256(b"tok").hexdigest()}
    path.write_text(json.dumps({"tenants": [{**base, "telnyx_api_key": "KEYa", **entry}]}))
    return path


def test_the_tenants_file_may_set_a_tenants_rate(tmp_path: Path) -> None:
    path = _write(tmp_path, {"rate_limit": {"per_second": 5, "burst": 10}})
    tenant = TenantRegistry.from_file(path).authenticate("Bearer tok")
    assert tenant.rate_limit == RateLimit(per_second=5.0, burst=10)


def test_without_a_rate_the_default_applies(tmp_path: Path) -> None:
    tenant = TenantRegistry.from_file(_write(tmp_path, {})).authenticate("Bearer tok")
    assert tenant.rate_limit is None


@pytest.mark.parametrize(
    ("rate_limit", "problem"),
    [
        (
            {"per_second": 0, "burst": 1},
            "tenants.0.rate_limit.per_second: Input should be greater than 0",
        ),
        (
            {"per_second": 1, "burst": 0},
            "tenants.0.rate_limit.burst: Input should be greater than or equal to 1",
        ),
        ({"per_second": 1}, "tenants.0.rate_limit.burst: Field required"),
        (
            {"per_second": 1, "burst": 1, "x": 1},
            "tenants.0.rate_limit.x: Extra inputs are not permitted",
        ),
    ],
)
def test_an_invalid_rate_is_refused_at_start_up(
    tmp_path: Path, rate_limit: dict[str, object], problem: str
) -> None:
    path = _write(tmp_path, {"rate_limit": rate_limit})
    with pytest.raises(TenantsFileError) as refused:
        TenantRegistry.from_file(path)
    assert str(refused.value) == f"invalid tenants file {path}: {problem}"


# --- shared through Redis (the machine's Redis; these tests never skip) --------------------


def redis_buckets(url: str, *, fallback: MemoryBuckets | None = None) -> RedisBuckets:
    return RedisBuckets(
        client_of(url, timeout=0.3),
        fallback=fallback or MemoryBuckets(),
        prefix=f"test-ratelimit-{uuid.uuid4().hex}:",
    )


def client_of(url: str, *, timeout: float) -> redis.Redis:
    """A client with timeouts, as `gateway.redisconn` builds them."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


async def test_replicas_share_one_bucket_per_tenant_through_redis(redis_url: str) -> None:
    first = redis_buckets(redis_url)
    second = RedisBuckets(
        client_of(redis_url, timeout=0.3), fallback=MemoryBuckets(), prefix=first._prefix
    )
    rate = RateLimit(per_second=0.01, burst=3)
    try:
        waits = [
            await first.take("acme", rate),
            await second.take("acme", rate),
            await first.take("acme", rate),
            await second.take("acme", rate),
        ]
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert 99.0 < waits[3] <= 100.0
        assert await first.take("globex", rate) == 0.0
    finally:
        await first.aclose()
        await second.aclose()


async def test_without_redis_the_limits_are_kept_locally(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    buckets = redis_buckets(f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}")
    rate = RateLimit(per_second=0.01, burst=2)
    try:
        assert await buckets.take("acme", rate) == 0.0
        await proxy.cut()
        # The local bucket starts full: an outage neither blocks traffic nor lifts the limit.
        assert await buckets.take("acme", rate) == 0.0
        assert await buckets.take("acme", rate) == 0.0
        assert await buckets.take("acme", rate) > 99.0
        await proxy.restore()
        # Back on the shared bucket, which still holds one token from before the outage.
        assert await buckets.take("acme", rate) == 0.0
        assert await buckets.take("acme", rate) > 99.0
    finally:
        await buckets.aclose()
        await proxy.cut()


async def test_an_outage_is_logged_once_each_way_and_each_tenant_keeps_its_own_local_bucket(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    buckets = redis_buckets(f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}")
    rate = RateLimit(per_second=0.01, burst=1)
    caplog.set_level(logging.INFO, logger="gateway.ratelimit")
    try:
        assert await buckets.take("acme", rate) == 0.0
        await proxy.cut()
        local = [await buckets.take(tenant, rate) for tenant in ("acme", "globex", "acme")]
        await proxy.restore()
        assert await buckets.take("globex", rate) == 0.0
        assert await buckets.take("initech", rate) == 0.0
    finally:
        await buckets.aclose()
        await proxy.cut()
    assert local[:2] == [0.0, 0.0]
    assert local[2] > 99.0
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "rate limits are local while redis is unreachable: ConnectionError"),
        ("INFO", "rate limits are shared through redis again"),
    ]


async def test_a_redis_that_never_answers_falls_back_to_the_local_bucket(redis_url: str) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # holds the connection open and answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    buckets = RedisBuckets(
        client_of(f"redis://127.0.0.1:{port}/0", timeout=0.1), fallback=MemoryBuckets()
    )
    try:
        assert await buckets.take("acme", RateLimit(per_second=0.01, burst=1)) == 0.0
    finally:
        await buckets.aclose()
        for writer in held:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def stalling_redis() -> AsyncIterator[str]:
    """The URL of a Redis that takes the connection and its set-up commands, then never
    answers a script."""
    held: list[asyncio.StreamWriter] = []

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while data := await reader.read(65536):
            if b"EVAL" in data.upper():
                continue  # the script: never answered
            writer.write(b"+OK\r\n" * data.count(b"*"))  # one OK per command
            await writer.drain()

    server = await asyncio.start_server(stalls, "127.0.0.1", 0)
    try:
        yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_redis_that_stops_answering_after_connecting_falls_back_in_time() -> None:
    """The bucket's script is never answered: the read times out and the local bucket
    answers (the wait is bounded here so a hang fails the test rather than the run)."""
    async with stalling_redis() as url:
        buckets = RedisBuckets(client_of(url, timeout=0.2), fallback=MemoryBuckets())
        try:
            rate = RateLimit(per_second=0.01, burst=1)
            waits = [await asyncio.wait_for(buckets.take("acme", rate), 5) for _ in range(2)]
        finally:
            await buckets.aclose()

    assert waits[0] == 0.0
    assert 99.0 < waits[1] <= 100.0


async def test_limiters_built_from_settings_with_redis_share_each_tenants_bucket(
    redis_url: str,
) -> None:
    """Two replicas' limiters: a tenant's burst of 2 is spent on either."""
    tenant = Tenant(f"tenant-{uuid.uuid4().hex}", SecretStr("KEY"))
    settings = Settings(
        demo=True, redis_url=redis_url, rate_limit_per_second=0.01, rate_limit_burst=2
    )
    first, second = RateLimiter.from_settings(settings), RateLimiter.from_settings(settings)
    try:
        await first.take(tenant)
        await second.take(tenant)
        with pytest.raises(RateLimitedError):
            await first.take(tenant)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_limiter_from_settings_falls_back_when_redis_stops_answering() -> None:
    async with stalling_redis() as url:
        settings = Settings(
            demo=True, redis_url=url, rate_limit_per_second=0.01, rate_limit_burst=1
        )
        limits = RateLimiter.from_settings(settings)
        try:
            await asyncio.wait_for(limits.take(ACME), 5)  # the local bucket's one token
            with pytest.raises(RateLimitedError):
                await asyncio.wait_for(limits.take(ACME), 5)
        finally:
            await limits.aclose()


async def test_buckets_are_kept_in_redis_under_the_gateways_prefix(redis_url: str) -> None:
    tenant = f"tenant-{uuid.uuid4().hex}"
    buckets = RedisBuckets(client_of(redis_url, timeout=0.5), fallback=MemoryBuckets())
    client = redis.Redis.from_url(redis_url)
    try:
        assert await buckets.take(tenant, RateLimit(per_second=1, burst=2)) == 0.0
        assert await client.hget(f"telnyx-gateway:ratelimit:{tenant}", "tokens") == b"1"
    finally:
        await client.delete(f"telnyx-gateway:ratelimit:{tenant}")
        await client.aclose()
        await buckets.aclose()
