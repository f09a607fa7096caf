"""The tenant cache: TTL, single-flight, stale-if-error, invalidation, isolation."""

from __future__ import annotations

import asyncio

import pytest

from gateway.cache import Key, Outcome, TenantCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Counts its calls; returns `value`, or raises `error`, after an optional gate."""

    def __init__(self, value: object = "v", error: BaseException | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> object:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.value


class UnavailableError(Exception):
    pass


ENTRY = 1000  # what each entry weighs in these tests


def make(clock: Clock, *, max_entries: int = 100, stale: float = 60.0) -> TenantCache:
    return TenantCache(
        max_bytes=max_entries * ENTRY,
        tenant_max_bytes=max_entries * ENTRY,
        stale_window=stale,
        weigh=lambda key, value: ENTRY,
        clock=clock,
    )


KEY = Key("acme", "profile", "p1")


async def test_a_second_read_inside_the_ttl_is_a_hit_and_after_it_a_miss() -> None:
    clock = Clock()
    cache = make(clock)
    load = Loader("one")
    assert await cache.get(KEY, load, ttl=30) == ("one", Outcome.MISS)
    clock.now += 29.9
    assert await cache.get(KEY, load, ttl=30) == ("one", Outcome.HIT)
    clock.now += 0.2
    load.value = "two"
    assert await cache.get(KEY, load, ttl=30) == ("two", Outcome.MISS)
    assert load.calls == 2


async def test_concurrent_identical_reads_make_one_call() -> None:
    cache = make(Clock())
    load = Loader("shared")
    load.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(KEY, load, ttl=30)) for _ in range(5)]
    await asyncio.sleep(0)
    load.gate.set()
    results = await asyncio.gather(*tasks)
    assert load.calls == 1
    assert sorted(outcome for _, outcome in results) == sorted(
        [Outcome.MISS] + [Outcome.COALESCED] * 4
    )
    assert {value for value, _ in results} == {"shared"}


async def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache = make(Clock())
    load = Loader(error=UnavailableError("down"))
    load.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(KEY, load, ttl=30)) for _ in range(3)]
    await asyncio.sleep(0)
    load.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(result) for result in results] == [UnavailableError] * 3
    assert load.calls == 1
    load.error = None
    assert await cache.get(KEY, load, ttl=30) == ("v", Outcome.MISS)
    assert load.calls == 2


async def test_two_tenants_never_share_an_entry_or_an_inflight_call() -> None:
    cache = make(Clock())
    acme, globex = Loader("acme data"), Loader("globex data")
    acme.gate = globex.gate = asyncio.Event()
    first = asyncio.create_task(cache.get(Key("acme", "profile", "p1"), acme, ttl=30))
    second = asyncio.create_task(cache.get(Key("globex", "profile", "p1"), globex, ttl=30))
    await asyncio.sleep(0)
    acme.gate.set()
    assert await first == ("acme data", Outcome.MISS)
    assert await second == ("globex data", Outcome.MISS)
    assert (acme.calls, globex.calls) == (1, 1)
    assert await cache.get(Key("globex", "profile", "p1"), acme, ttl=30) == (
        "globex data",
        Outcome.HIT,
    )


async def test_stale_if_error_serves_an_expired_entry_inside_the_window_only() -> None:
    clock = Clock()
    cache = make(clock, stale=60)
    await cache.get(KEY, Loader("old"), ttl=30)
    failing = Loader(error=UnavailableError("down"))
    clock.now += 30 + 59
    assert await cache.get(KEY, failing, ttl=30, stale_on=(UnavailableError,)) == (
        "old",
        Outcome.STALE,
    )
    clock.now += 2
    with pytest.raises(UnavailableError):
        await cache.get(KEY, failing, ttl=30, stale_on=(UnavailableError,))


async def test_errors_not_listed_as_stale_on_propagate() -> None:
    clock = Clock()
    cache = make(clock)
    await cache.get(KEY, Loader("old"), ttl=30)
    clock.now += 31
    with pytest.raises(KeyError):
        await cache.get(KEY, Loader(error=KeyError("x")), ttl=30, stale_on=(UnavailableError,))


async def test_bypass_reads_upstream_and_refreshes_the_entry() -> None:
    cache = make(Clock())
    await cache.get(KEY, Loader("old"), ttl=30)
    assert await cache.get(KEY, Loader("new"), ttl=30, bypass=True) == ("new", Outcome.BYPASS)
    assert await cache.get(KEY, Loader("unused"), ttl=30) == ("new", Outcome.HIT)


async def test_invalidate_evicts_only_the_tenant_kind_and_scope_given() -> None:
    cache = make(Clock())
    keys = [
        Key("acme", "profile", "p1"),
        Key("acme", "profile", "p2"),
        Key("acme", "profiles", None, (1, 20)),
        Key("globex", "profile", "p1"),
    ]
    for key in keys:
        await cache.get(key, Loader("v"), ttl=30)
    assert cache.invalidate("acme", "profile", "p1") == 1
    outcomes = [(await cache.get(key, Loader("v2"), ttl=30))[1] for key in keys]
    assert outcomes == [Outcome.MISS, Outcome.HIT, Outcome.HIT, Outcome.HIT]
    assert cache.invalidate("acme", "profile") == 2
    assert len(cache) == 2


async def test_a_read_in_flight_during_an_invalidation_is_not_stored() -> None:
    cache = make(Clock())
    slow = Loader("before the write")
    slow.gate = asyncio.Event()
    reading = asyncio.create_task(cache.get(KEY, slow, ttl=30))
    await asyncio.sleep(0)
    cache.invalidate("acme", "profile", "p1")
    # A reader arriving after the write does not join the pre-write call.
    fresh = await cache.get(KEY, Loader("after the write"), ttl=30)
    slow.gate.set()
    assert await reading == ("before the write", Outcome.MISS)
    assert fresh == ("after the write", Outcome.MISS)
    assert await cache.get(KEY, Loader("unused"), ttl=30) == ("after the write", Outcome.HIT)


async def test_size_is_bounded_least_recently_used_first() -> None:
    cache = make(Clock(), max_entries=2)
    for scope in ("a", "b", "c"):
        await cache.get(Key("acme", "profile", scope), Loader(scope), ttl=30)
    assert len(cache) == 2
    assert (await cache.get(Key("acme", "profile", "a"), Loader("a2"), ttl=30))[1] is Outcome.MISS


async def test_zero_entries_disables_storage_but_keeps_single_flight() -> None:
    cache = make(Clock(), max_entries=0)
    load = Loader("v")
    load.gate = asyncio.Event()
    tasks = [asyncio.create_task(cache.get(KEY, load, ttl=30)) for _ in range(3)]
    await asyncio.sleep(0)
    load.gate.set()
    await asyncio.gather(*tasks)
    assert load.calls == 1
    assert (await cache.get(KEY, load, ttl=30))[1] is Outcome.MISS


async def test_a_shorter_ttl_asked_for_later_applies_to_entries_already_stored() -> None:
    clock = Clock()
    cache = make(clock)
    await cache.get(KEY, Loader("old"), ttl=300)
    clock.now += 2
    assert await cache.get(KEY, Loader("unused"), ttl=300) == ("old", Outcome.HIT)
    assert await cache.get(KEY, Loader("new"), ttl=1) == ("new", Outcome.MISS)


async def test_every_coalesced_waiter_gets_the_stale_value_when_the_shared_load_fails() -> None:
    clock = Clock()
    cache = make(clock, stale=60)
    await cache.get(KEY, Loader("old"), ttl=30)
    clock.now += 31
    failing = Loader(error=UnavailableError("down"))
    failing.gate = asyncio.Event()
    readers = [
        asyncio.create_task(cache.get(KEY, failing, ttl=30, stale_on=(UnavailableError,)))
        for _ in range(3)
    ]
    await asyncio.sleep(0)
    failing.gate.set()
    assert await asyncio.gather(*readers) == [("old", Outcome.STALE)] * 3
    assert failing.calls == 1


async def test_a_coalesced_waiter_without_a_kept_value_gets_the_shared_error() -> None:
    cache = make(Clock())
    failing = Loader(error=UnavailableError("down"))
    failing.gate = asyncio.Event()
    readers = [
        asyncio.create_task(cache.get(KEY, failing, ttl=30, stale_on=(UnavailableError,)))
        for _ in range(2)
    ]
    await asyncio.sleep(0)
    failing.gate.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert [str(result) for result in results] == ["down", "down"]
    assert [type(result) for result in results] == [UnavailableError] * 2
