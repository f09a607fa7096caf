"""The shared tier through the gateway: apps built on one Redis stand for replicas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.tenancy import Tenant, TenantRegistry
from gateway.tier import PREFIX
from tests.conftest import ALPHA_KEY, ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, MakeApp, client_for, scrape
from tests.observability.test_logs_and_metrics import samples
from tests.test_coherence import eventually


@pytest.fixture
async def shared_redis(redis_url: str) -> AsyncIterator[redis.Redis]:
    """The test Redis, without the shared entries of the suite's tenants (the simulator's
    ids are the same in every run), before and after the test."""
    client = redis.Redis.from_url(redis_url)

    async def forget() -> None:
        for tenant in ("alpha", "beta"):
            keys = [key async for key in client.scan_iter(f"{PREFIX}:{{{tenant}}}:*")]
            if keys:
                await client.delete(*keys)

    await forget()
    yield client
    await forget()
    await client.aclose()


async def contents(client: redis.Redis, key: bytes) -> bytes:
    """Everything Redis holds under `key`: its DUMP, and its fields and values in plain."""
    kind = await client.type(key)
    plain: list[object]
    if kind == b"hash":
        plain = [part for pair in (await client.hgetall(key)).items() for part in pair]
    elif kind == b"zset":
        plain = list(await client.zrange(key, 0, -1))
    elif kind == b"string":
        plain = [await client.get(key)]
    else:
        raise AssertionError(f"unexpected {kind!r} under {key!r}")
    dumped = await client.dump(key)
    return b"\n".join(part for part in (dumped, *plain) if isinstance(part, bytes))


@contextlib.asynccontextmanager
async def serving(apps: list[Starlette]) -> AsyncIterator[None]:
    """The apps' lifespans (Redis subscriptions, and their closing), which ASGITransport
    does not run."""
    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


async def test_a_read_one_replica_made_is_a_hit_on_another_until_a_write_evicts_it(
    make_app: MakeApp,
    simulator: Simulator,
    redis_url: str,
    shared_redis: redis.Redis,
    spans: InMemorySpanExporter,
) -> None:
    a, b, c = replicas = [make_app(redis_url=redis_url) for _ in range(3)]
    profile_id = next(iter(simulator.account(ALPHA_KEY).profiles))
    path = f"/v2/messaging_profiles/{profile_id}"
    async with (
        serving(replicas),
        client_for(a) as on_a,
        client_for(b) as on_b,
        client_for(c) as on_c,
    ):
        first = await on_a.get(path)
        spans.clear()
        second = await on_b.get(path)
        assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
        assert second.content == first.content
        assert [
            (span.name, (span.attributes or {}).get("gateway.cache.outcome"))
            for span in spans.get_finished_spans()
        ] == [
            ("telnyx.retrieve_messaging_profile", "shared"),
            ("GET /v2/messaging_profiles/{id}", "shared"),
        ]
        reads = samples((await scrape(b)).text)
        assert [
            (dict(labels)["telnyx_operation"], dict(labels)["outcome"], value)
            for (name, labels), value in reads.items()
            if name == "gateway_cache_reads_total"
        ] == [("retrieve_messaging_profile", "shared", 1.0)]

        renamed = await on_a.patch(path, json={"name": "Renamed on A"})
        assert renamed.status_code == 200
        third = await on_c.get(path)
        assert (third.headers["x-cache"], third.json()["data"]["name"]) == ("MISS", "Renamed on A")
    assert [(r.method, r.path) for r in simulator.requests] == [
        ("GET", path),
        ("PATCH", path),
        ("GET", path),
    ]


async def test_no_key_or_token_is_ever_in_redis(
    make_app: MakeApp, simulator: Simulator, redis_url: str, shared_redis: redis.Redis
) -> None:
    replicas = [make_app(redis_url=redis_url), make_app(redis_url=redis_url)]
    a = replicas[0]
    alpha_id = next(iter(simulator.account(ALPHA_KEY).profiles))
    beta_id = next(iter(simulator.account(BETA_KEY).profiles))
    async with serving(replicas):
        for app in replicas:
            for token, profile_id in ((ALPHA_TOKEN, alpha_id), (BETA_TOKEN, beta_id)):
                async with client_for(app, token) as client:
                    profile = await client.get(f"/v2/messaging_profiles/{profile_id}")
                    assert profile.status_code == 200
                    assert (await client.get("/v2/messaging_profiles")).status_code == 200
                    graphql = await client.post(
                        "/graphql", json={"query": "{ messagingProfiles(first: 2) { totalCount } }"}
                    )
                    assert graphql.status_code == 200
        async with client_for(a) as client:
            await client.patch(f"/v2/messaging_profiles/{alpha_id}", json={"name": "Renamed"})

    keys = [key async for key in shared_redis.scan_iter(f"{PREFIX}:*")]
    assert len(keys) > 4
    # DUMP may compress a value, so each is read as what it is too.
    stored = b"\n".join([*keys, *[await contents(shared_redis, key) for key in keys]])
    assert alpha_id.encode() in stored  # the scan sees what Telnyx answered
    for secret in (ALPHA_KEY, BETA_KEY, ALPHA_TOKEN, BETA_TOKEN):
        assert secret.encode() not in stored
        assert secret[3:].encode() not in stored


def test_the_shared_tier_is_on_with_redis_unless_turned_off(
    make_app: MakeApp, redis_url: str
) -> None:
    assert make_app().state.cache.shared is None
    assert make_app(redis_url=redis_url, cache_shared=False).state.cache.shared is None
    assert make_app(cache_shared=True).state.cache.shared is None  # no Redis to share
    assert make_app(redis_url=redis_url).state.cache.shared is not None


async def test_a_reader_waiting_on_another_replicas_failing_read_gets_its_failure(
    make_app: MakeApp, simulator: Simulator, redis_url: str, shared_redis: redis.Redis
) -> None:
    """B asks while A's read is failing (Telnyx answers 503 and A retries): B waits on A's
    lease rather than calling Telnyx too, and is told A's read failed."""
    a, b = replicas = [make_app(redis_url=redis_url) for _ in range(2)]
    profile_id = next(iter(simulator.account(ALPHA_KEY).profiles))
    path = f"/v2/messaging_profiles/{profile_id}"
    simulator.faults.fail(503, times=3, path=path)
    query = "query($id: ID!) { messagingProfile(id: $id) { id } }"
    async with serving(replicas), client_for(a) as on_a, client_for(b) as on_b:
        first = asyncio.create_task(on_a.get(path))
        await eventually(lambda: bool(simulator.requests))  # A holds the lease, to retry
        second = await on_b.post("/graphql", json={"query": query, "variables": {"id": profile_id}})
        on_a_answer = await first

    assert on_a_answer.status_code == 503
    assert second.json()["errors"] == [
        {
            "message": "Telnyx retrieve_messaging_profile: Telnyx failed this read on another replica",
            "locations": [{"line": 1, "column": 19}],
            "path": ["messagingProfile"],
            "extensions": {"code": "UPSTREAM_UNAVAILABLE"},
        }
    ]
    assert [(r.method, r.path) for r in simulator.requests] == [("GET", path)] * 3


async def test_a_read_from_another_replica_stays_fresh_only_for_what_remains_of_its_ttl(
    make_app: MakeApp, simulator: Simulator, redis_url: str, shared_redis: redis.Redis
) -> None:
    """A loads a profile; B takes it from Redis 0.6 s later, as old as it is: when the
    1.2 s TTL has passed since A's load, B reads Telnyx again, as A would. (Redis has 2 s
    to answer: a slower answer would take the tier out for a second, not what is tested.)"""
    a, b = replicas = [
        make_app(redis_url=redis_url, cache_ttl_profiles=1.2, cache_shared_timeout=2.0)
        for _ in range(2)
    ]
    profile_id = next(iter(simulator.account(ALPHA_KEY).profiles))
    path = f"/v2/messaging_profiles/{profile_id}"
    async with serving(replicas), client_for(a) as on_a, client_for(b) as on_b:
        loaded = await on_a.get(path)
        await asyncio.sleep(0.6)
        shared = await on_b.get(path)
        await asyncio.sleep(0.8)  # 1.4 s after A's load, 0.8 s after B's
        again = await on_b.get(path)

    assert [r.headers["x-cache"] for r in (loaded, shared, again)] == ["MISS", "HIT", "MISS"]
    assert [(r.method, r.path) for r in simulator.requests] == [("GET", path)] * 2


async def test_a_tenant_whose_key_changed_never_gets_reads_made_with_the_old_one(
    make_app: MakeApp, simulator: Simulator, redis_url: str, shared_redis: redis.Redis
) -> None:
    """Replica B already has alpha's new key, which is another Telnyx account; replica A
    still the old one. B must not be served what A read with the old key."""
    a = make_app(redis_url=redis_url)
    rotated = TenantRegistry.from_tokens([(Tenant("alpha", SecretStr(BETA_KEY)), ALPHA_TOKEN)])
    b = create_app(
        Settings(demo=True, otel_sdk_disabled=True, redis_url=redis_url),
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=rotated,
    )
    profile_id = next(iter(simulator.account(ALPHA_KEY).profiles))
    path = f"/v2/messaging_profiles/{profile_id}"
    async with serving([a, b]), client_for(a) as on_a, client_for(b) as on_b:
        old = await on_a.get(path)
        new = await on_b.get(path)

    assert (old.status_code, new.status_code) == (200, 404)
    assert [(r.method, r.path) for r in simulator.requests] == [("GET", path)] * 2


async def test_graphql_on_another_replica_reads_what_rest_left_in_the_shared_tier(
    make_app: MakeApp, simulator: Simulator, redis_url: str, shared_redis: redis.Redis
) -> None:
    """A REST read keeps Telnyx's bytes unparsed; B parses them from Redis for GraphQL."""
    a, b = replicas = [make_app(redis_url=redis_url) for _ in range(2)]
    profile = next(iter(simulator.account(ALPHA_KEY).profiles.values()))
    query = "query($id: ID!) { messagingProfile(id: $id) { id name } }"
    async with serving(replicas), client_for(a) as on_a, client_for(b) as on_b:
        await on_a.get(f"/v2/messaging_profiles/{profile['id']}")
        answer = await on_b.post(
            "/graphql", json={"query": query, "variables": {"id": profile["id"]}}
        )

    assert answer.json() == {
        "data": {"messagingProfile": {"id": profile["id"], "name": profile["name"]}},
        "extensions": {"cache": {"cached": True, "stale": False}},
    }
    assert len(simulator.requests) == 1
