"""Redis as operators run it (tests/redisdeploy.py starts each kind): TLS with a password, a
Sentinel, a Cluster. Each is reached through the settings, and carries the upstream budget,
the rate limits and the invalidations."""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.coherence import Coherence, Invalidation
from gateway.config import Settings
from gateway.errors import UpstreamBudgetError
from gateway.ratelimit import RateLimiter
from gateway.redisconn import RedisTarget, parse_sentinels
from gateway.telnyx.budget import UpstreamBudget
from gateway.tenancy import RateLimit, Tenant
from tests.redisdeploy import PASSWORD, cluster, sentinel_watching, tls_redis

pytestmark = pytest.mark.slow

ONE_CALL = RateLimit(per_second=0.001, burst=1)


def tenant() -> Tenant:
    return Tenant("acme", SecretStr(f"KEY{uuid.uuid4().hex}"))


def target(**settings: object) -> RedisTarget:
    found = RedisTarget.from_settings(Settings(demo=True, otel_sdk_disabled=True, **settings))  # type: ignore[arg-type]
    assert found is not None
    return found


async def turns(redis: RedisTarget, *, calls: int = 2) -> list[str]:
    """What `calls` calls of one account get from a budget of one call over `redis`."""
    budget = UpstreamBudget(
        ONE_CALL, client=redis.client(timeout=1, socket_timeout=1), prefix=f"t-{uuid.uuid4().hex}:"
    )
    account, outcomes = tenant(), []
    loop = asyncio.get_running_loop()
    try:
        for _ in range(calls):
            try:
                await budget.take(account, deadline=loop.time() + 5)
                outcomes.append("sent")
            except UpstreamBudgetError as exc:
                outcomes.append(f"refused for {math.ceil(exc.retry_after)} s")
    finally:
        await budget.aclose()
    return outcomes


async def invalidation_crosses(redis: RedisTarget) -> bool:
    """Whether one replica's invalidation reaches another over `redis`."""
    channel = f"test-{uuid.uuid4().hex}"
    seen: list[Invalidation] = []

    def replica(on_invalidate: object) -> Coherence:
        return Coherence(
            redis,
            on_invalidate=on_invalidate,  # type: ignore[arg-type]
            on_resync=lambda: None,
            channel=channel,
            circuit_channel=f"{channel}:circuit",
            timeout=1.0,
        )

    a, b = replica(lambda _: None), replica(seen.append)
    await a.start()
    await b.start()
    try:
        await a.publish("acme", [("profile", "p1")])
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
    finally:
        await a.stop()
        await b.stop()
    return seen == [Invalidation("acme", (("profile", "p1"),))]


async def test_tls_with_a_password_and_the_ca_from_the_settings(tmp_path: Path) -> None:
    with tls_redis(tmp_path) as (port, tls):
        redis = target(
            redis_url=f"rediss://:{PASSWORD}@127.0.0.1:{port}/0", redis_tls_ca_file=tls.ca
        )
        assert redis.tls
        assert await turns(redis) == ["sent", "refused for 1000 s"]
        assert await invalidation_crosses(redis)
        limiter = RateLimiter.from_settings(
            Settings(
                demo=True,
                otel_sdk_disabled=True,
                redis_url=f"rediss://:{PASSWORD}@127.0.0.1:{port}/0",
                redis_tls_ca_file=tls.ca,
            )
        )
        await limiter.take(tenant())
        await limiter.aclose()

        # A server the system's CAs do not vouch for, or a wrong password: Redis is
        # unreachable for the gateway, and the budget falls back to this replica's share.
        for unverified in (
            target(redis_url=f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"),
            target(redis_url=f"rediss://:wrong@127.0.0.1:{port}/0", redis_tls_ca_file=tls.ca),
        ):
            assert await turns(unverified, calls=3) == [
                "sent",
                "refused for 1000 s",
                "refused for 1000 s",
            ]


async def test_the_master_a_sentinel_names(tmp_path: Path) -> None:
    import redis.asyncio as redis

    with sentinel_watching(tmp_path) as (master_port, sentinel_port):
        via_sentinel = target(
            redis_url="redis://ignored/0",
            redis_sentinels=f"127.0.0.1:{sentinel_port}",
            redis_sentinel_master="mymaster",
        )
        assert await turns(via_sentinel) == ["sent", "refused for 1000 s"]
        assert await invalidation_crosses(via_sentinel)
        # The budget's keys are on the master the Sentinel named.
        client = via_sentinel.client(timeout=1)
        await client.set("test-sentinel-probe", b"1")
        await client.aclose()
        master = redis.Redis(host="127.0.0.1", port=master_port)
        assert await master.get("test-sentinel-probe") == b"1"
        await master.aclose()


async def test_a_cluster_found_from_one_node(tmp_path: Path) -> None:
    with cluster(tmp_path) as ports:
        redis = target(redis_url=f"redis://127.0.0.1:{ports[1]}/0", redis_cluster=True)
        # Several accounts: their keys land on different nodes, each pair in one slot.
        for _ in range(3):
            assert await turns(redis) == ["sent", "refused for 1000 s"]
        assert await invalidation_crosses(redis)


def test_sentinels_are_read_as_host_port_pairs() -> None:
    assert parse_sentinels(" a:1, b:26380 ,,") == [("a", 1), ("b", 26380)]
    assert parse_sentinels("") == []
    assert parse_sentinels("[::1]:5") == [("::1", 5)]
    with pytest.raises(ValueError, match="a sentinel must be host:port, not 'a:b'"):
        parse_sentinels("a:b")


def test_a_targets_repr_holds_no_password() -> None:
    redis = target(redis_url=f"rediss://:{PASSWORD}@redis:6380/0")
    assert PASSWORD not in repr(redis)
