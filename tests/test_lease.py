"""The shared tier against a real Redis: two `TenantCache`s stand for two replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as redis

from gateway.cache import Key, Outcome, TenantCache
from gateway.lease import SharedTier
from gateway.redisconn import RedisTarget
from gateway.tier import Claim, Place, Shelf
from tests.process import free_port
from tests.tcpproxy import TcpProxy

KEY = Key("alpha", "retrieve_thing", "t1", ("t1",))
OTHER_SCOPE = Key("alpha", "retrieve_thing", "t2", ("t2",))
LIST = Key("alpha", "list_things", None, (1, 20))


class UnavailableError(Exception):
    """Stands for the upstream being unavailable (the reads' `stale_on`)."""


Make = Callable[..., TenantCache]


class Recording(Shelf):
    """A shelf that keeps the state of every claim it made."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.states: list[str] = []
        self.waiting = asyncio.Event()

    async def claim(
        self, place: Place, *, fresh: float, token: str = "", waited: bool = False
    ) -> Claim:
        claim = await super().claim(place, fresh=fresh, token=token, waited=waited)
        self.states.append(claim.state)
        if claim.state == "wait":
            self.waiting.set()
        return claim


def recording(cache: TenantCache) -> Recording:
    assert cache.shared is not None
    assert isinstance(cache.shared.shelf, Recording)
    return cache.shared.shelf


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own, its keys deleted afterwards."""
    prefix = f"test-l2-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def make(redis_url: str, prefix: str) -> AsyncIterator[Make]:
    """`make(**changes)`: a replica's cache with a shared tier on the test's Redis."""
    tiers: list[SharedTier] = []

    def build(
        *, url: str = redis_url, tenant_max_bytes: int = 1 << 20, entry_max_bytes: int = 1 << 16
    ) -> TenantCache:
        shelf = Recording(
            RedisTarget(url),
            prefix=prefix,
            entry_max_bytes=entry_max_bytes,
            tenant_max_bytes=tenant_max_bytes,
            horizon=60,
            lease=0.3,
            # A busy machine must not turn a slow answer into "Redis is away".
            timeout=2,
        )
        tier = SharedTier(
            shelf,
            encode=lambda key, value: str(value).encode(),
            decode=lambda key, data: data.decode(),
            failure=lambda kind: UnavailableError(kind),
            stale_window=30,
            wait=5,
            poll=0.01,
        )
        tiers.append(tier)
        return TenantCache(
            max_bytes=1 << 20,
            tenant_max_bytes=1 << 20,
            stale_window=30,
            weigh=lambda key, value: 100,
            shared=tier,
        )

    yield build
    for tier in tiers:
        await tier.aclose()


class Loads:
    """A loader that counts its calls and answers `value`."""

    def __init__(self, value: str = "v1") -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return self.value


async def get(
    cache: TenantCache, key: Key, load: Callable[[], Awaitable[str]], *, ttl: float = 30
) -> tuple[str, Outcome]:
    return await cache.get(key, load, ttl=ttl, stale_on=(UnavailableError,))


async def test_a_read_one_replica_loaded_is_served_by_another_without_a_load(make: Make) -> None:
    a, b = make(), make()
    loads = Loads()
    assert await get(a, KEY, loads) == ("v1", Outcome.MISS)
    assert await get(b, KEY, loads) == ("v1", Outcome.SHARED)
    assert await get(b, KEY, loads) == ("v1", Outcome.HIT)
    assert loads.calls == 1
    # Kept by b with the age it had in Redis: fresh for what remained of its TTL.
    kept = b.kept(KEY)
    assert kept is not None
    assert kept[1] == 30


async def test_a_write_evicts_the_shared_entries_it_names_for_every_replica(make: Make) -> None:
    a, b = make(), make()
    for key in (KEY, OTHER_SCOPE, LIST):
        assert await get(a, key, Loads()) == ("v1", Outcome.MISS)
    # The writing replica evicts the shared tier, then its own; the other hears of it.
    targets = (("retrieve_thing", "t1"), ("list_things", None))
    await a.invalidate_shared("alpha", targets)
    for kind, scope in targets:
        a.invalidate("alpha", kind, scope)
        b.invalidate("alpha", kind, scope)

    assert await get(b, KEY, Loads("v2")) == ("v2", Outcome.MISS)
    assert await get(b, LIST, Loads("v2")) == ("v2", Outcome.MISS)
    assert await get(b, OTHER_SCOPE, Loads("v2")) == ("v1", Outcome.SHARED)
    assert await get(a, KEY, Loads("v3")) == ("v2", Outcome.SHARED)


async def test_a_load_that_began_before_a_write_is_not_shared(make: Make) -> None:
    a, b = make(), make()
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await finish.wait()
        return "old"

    reading = asyncio.create_task(get(a, KEY, slow))
    await started.wait()
    await a.invalidate_shared("alpha", (("retrieve_thing", None),))
    finish.set()
    assert await reading == ("old", Outcome.MISS)
    assert await get(b, KEY, Loads("new")) == ("new", Outcome.MISS)


async def test_tenants_and_keys_never_share_an_entry(
    make: Make, redis_url: str, prefix: str
) -> None:
    a, b = make(), make()
    beta = Key("beta", KEY.kind, KEY.scope, KEY.params)
    assert await get(a, KEY, Loads("alpha's")) == ("alpha's", Outcome.MISS)
    assert await get(b, beta, Loads("beta's")) == ("beta's", Outcome.MISS)
    assert await b.get(KEY, Loads("new key's"), ttl=30, account="rotated") == (
        "new key's",
        Outcome.MISS,
    )
    client = redis.Redis.from_url(redis_url)
    keys = sorted([key.decode() async for key in client.scan_iter(f"{prefix}:*:e:*")])
    await client.aclose()
    assert [key.split(":")[1:4] for key in keys] == [
        ["{alpha}", "e", "retrieve_thing"],
        ["{alpha}", "e", "retrieve_thing"],
        ["{beta}", "e", "retrieve_thing"],
    ]


async def test_a_read_over_the_tenant_budget_or_the_entry_cap_is_not_shared(
    make: Make, prefix: str
) -> None:
    # What an entry costs: its value, its key and 64 bytes of bookkeeping.
    size = len("v1") + len(f"{prefix}:{{alpha}}:e:retrieve_thing:{'0' * 32}") + 64
    a, b = make(tenant_max_bytes=2 * size + 40), make()
    for key in (KEY, OTHER_SCOPE, LIST):
        await get(a, key, Loads())
    # Two fit in the tenant's budget; the third is each replica's own.
    assert [(await get(b, key, Loads("b's")))[1] for key in (KEY, OTHER_SCOPE, LIST)] == [
        Outcome.SHARED,
        Outcome.SHARED,
        Outcome.MISS,
    ]
    small, other = make(entry_max_bytes=10), make()
    beta = Key("beta", "retrieve_thing", None, ())
    await get(small, beta, Loads())
    assert await get(other, beta, Loads("other's")) == ("other's", Outcome.MISS)


async def test_identical_cold_reads_on_two_replicas_make_one_load(make: Make) -> None:
    a, b = make(), make()
    started, finish = asyncio.Event(), asyncio.Event()
    loads = Loads()

    async def slow() -> str:
        started.set()
        await finish.wait()
        return await loads()

    first = asyncio.create_task(get(a, KEY, slow))
    await started.wait()
    second = asyncio.create_task(get(b, KEY, loads))
    await recording(b).waiting.wait()
    await asyncio.sleep(0.8)  # past the lease's 0.3 s: the holder renews it while it loads
    finish.set()
    assert await first == ("v1", Outcome.MISS)
    assert await second == ("v1", Outcome.SHARED)
    assert loads.calls == 1


async def test_waiters_share_the_failure_of_the_lease_holder(make: Make) -> None:
    a, b = make(), make()
    started, finish = asyncio.Event(), asyncio.Event()
    loads = Loads()

    async def failing() -> str:
        started.set()
        await finish.wait()
        raise UnavailableError("retrieve_thing")

    first = asyncio.create_task(get(a, KEY, failing))
    await started.wait()
    second = asyncio.create_task(get(b, KEY, loads))
    await recording(b).waiting.wait()
    finish.set()
    for task in (first, second):
        with pytest.raises(UnavailableError):
            await task
    assert loads.calls == 0


async def test_a_lease_whose_holder_died_is_taken_over(make: Make, prefix: str) -> None:
    b = make()
    assert b.shared is not None
    shelf = b.shared.shelf
    # A replica took the lease and died before it loaded.
    place = shelf.place(KEY.tenant, KEY.kind, KEY.scope, KEY.params, "\0")
    assert (await shelf.claim(place, fresh=30, token="dead")).state == "lease"
    assert (await shelf.claim(place, fresh=30, token="other")).state == "wait"
    loads = Loads()
    assert await get(b, KEY, loads) == ("v1", Outcome.MISS)
    assert loads.calls == 1


async def test_a_stale_shared_entry_is_served_when_the_upstream_fails(make: Make) -> None:
    a, b = make(), make()
    await get(a, KEY, Loads(), ttl=0.05)
    await asyncio.sleep(0.1)

    async def failing() -> str:
        raise UnavailableError("retrieve_thing")

    assert await get(b, KEY, failing, ttl=0.05) == ("v1", Outcome.STALE)


async def test_without_redis_each_replica_loads_for_itself(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make(url=f"redis://127.0.0.1:{free_port()}/0")
    loads = Loads()
    assert await get(cache, KEY, loads) == ("v1", Outcome.MISS)
    assert await get(cache, KEY, loads) == ("v1", Outcome.HIT)
    await cache.invalidate_shared("alpha", (("retrieve_thing", None),))
    cache.invalidate("alpha", "retrieve_thing")
    assert await get(cache, KEY, loads) == ("v1", Outcome.MISS)
    assert loads.calls == 2
    assert {(r.levelname, r.getMessage()) for r in caplog.records if r.name == "gateway.tier"} == {
        (
            "WARNING",
            "shared cache tier unavailable (ConnectionError): reads are served by this "
            "replica alone for 1 s",
        )
    }


async def test_a_write_made_while_redis_was_away_evicts_the_shared_tier_when_it_returns(
    make: Make, redis_url: str
) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    writer = make(url=f"redis://127.0.0.1:{proxy.port}/0")
    reader = make()
    await get(reader, KEY, Loads())
    await proxy.cut()
    await writer.invalidate_shared("alpha", (("retrieve_thing", "t1"),))
    await proxy.restore()
    assert writer.shared is not None
    await asyncio.sleep(1.1)  # the writer leaves Redis alone for a second after a failure
    await writer.shared.resync()
    reader.clear()
    assert await get(reader, KEY, Loads("v2")) == ("v2", Outcome.MISS)
    await proxy.cut()


async def test_a_write_right_after_redis_returns_evicts_the_shared_entry_for_every_replica(
    make: Make, redis_url: str
) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    writer = make(url=f"redis://127.0.0.1:{proxy.port}/0")
    reader = make()
    await proxy.cut()
    # The writer's read fails: it leaves Redis alone for its reads for a second.
    assert await get(writer, OTHER_SCOPE, Loads()) == ("v1", Outcome.MISS)
    await proxy.restore()
    assert await get(reader, KEY, Loads("v1")) == ("v1", Outcome.MISS)
    # Within that second, a write on the writer; its news reaches the reader.
    await writer.invalidate_shared("alpha", (("retrieve_thing", "t1"),))
    writer.invalidate("alpha", "retrieve_thing", "t1")
    reader.invalidate("alpha", "retrieve_thing", "t1")
    assert await get(reader, KEY, Loads("v2")) == ("v2", Outcome.MISS)
    assert await get(make(), KEY, Loads("v3")) == ("v2", Outcome.SHARED)
    await proxy.cut()


async def test_reads_still_leave_redis_alone_for_a_second_after_a_write_failed_to_reach_it(
    make: Make, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    writer = make(url=f"redis://127.0.0.1:{proxy.port}/0")
    await proxy.cut()
    await writer.invalidate_shared("alpha", (("retrieve_thing", "t1"),))
    assert await get(writer, KEY, Loads()) == ("v1", Outcome.MISS)
    # One failure, the write's: the read did not try Redis (nor the write's pending bump).
    assert [r.levelname for r in caplog.records if r.name == "gateway.tier"] == ["WARNING"]
    assert recording(writer).states == []
    await proxy.restore()
    await asyncio.sleep(1.1)
    assert await get(writer, OTHER_SCOPE, Loads()) == ("v1", Outcome.MISS)
    assert recording(writer).states == ["lease"]
    await proxy.cut()


async def test_a_read_that_asks_for_fresh_data_neither_waits_nor_reads_the_shared_tier(
    make: Make,
) -> None:
    a, b = make(), make()
    assert await get(a, KEY, Loads("old")) == ("old", Outcome.MISS)
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> str:
        started.set()
        await finish.wait()
        return "slow"

    holding = asyncio.create_task(get(a, LIST, slow))
    await started.wait()
    assert await b.get(KEY, Loads("fresh"), ttl=30, bypass=True) == ("fresh", Outcome.BYPASS)
    assert await b.get(LIST, Loads("fresh"), ttl=30, bypass=True) == ("fresh", Outcome.BYPASS)
    finish.set()
    await holding
    # What the bypass fetched is shared.
    assert await get(make(), KEY, Loads("unused")) == ("fresh", Outcome.SHARED)


async def test_a_failed_holder_with_its_own_stale_value_still_tells_the_waiters(
    make: Make,
) -> None:
    a, b = make(), make()
    await get(a, KEY, Loads(), ttl=0.05)
    await asyncio.sleep(0.1)  # past the TTL, in the stale window on both tiers
    started, finish = asyncio.Event(), asyncio.Event()
    loads = Loads("v2")

    async def failing() -> str:
        started.set()
        await finish.wait()
        raise UnavailableError("retrieve_thing")

    first = asyncio.create_task(get(a, KEY, failing, ttl=0.05))
    await started.wait()
    second = asyncio.create_task(get(b, KEY, loads, ttl=0.05))
    await recording(b).waiting.wait()
    finish.set()
    assert await first == ("v1", Outcome.STALE)  # from its own memory
    assert await second == ("v1", Outcome.STALE)  # from Redis
    assert loads.calls == 0
