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


async def test_an_entry_exactly_as_old_as_its_ttl_is_no_longer_fresh() -> None:
    """`get` and `fresh` (the no-await path a hit takes) agree on the boundary."""
    clock = Clock()
    cache = make(clock)
    load = Loader("one")
    await cache.get(KEY, load, ttl=30)
    clock.now += 30
    assert cache.fresh(KEY, ttl=30) is None
    load.value = "two"
    assert await cache.get(KEY, load, ttl=30) == ("two", Outcome.MISS)


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


async def test_a_bypassing_reader_neither_joins_nor_is_joined_by_a_load_in_flight() -> None:
    cache = make(Clock())
    slow = Loader("before")
    slow.gate = asyncio.Event()
    reading = asyncio.create_task(cache.get(KEY, slow, ttl=30))
    await asyncio.sleep(0)
    assert await cache.get(KEY, Loader("fresh"), ttl=30, bypass=True) == (
        "fresh",
        Outcome.BYPASS,
    )
    slow.gate.set()
    assert await reading == ("before", Outcome.MISS)
    assert slow.calls == 1


async def test_a_load_detached_by_an_invalidation_leaves_the_newer_load_joinable() -> None:
    cache = make(Clock())
    old, new = Loader("old"), Loader("new")
    old.gate, new.gate = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(cache.get(KEY, old, ttl=30))
    await asyncio.sleep(0)
    cache.invalidate("acme", "profile", "p1")
    second = asyncio.create_task(cache.get(KEY, new, ttl=30))
    await asyncio.sleep(0)
    old.gate.set()
    assert await first == ("old", Outcome.MISS)
    # The old load's end does not detach the newer one: a third reader joins it.
    third = asyncio.create_task(cache.get(KEY, Loader("unused"), ttl=30))
    await asyncio.sleep(0)
    new.gate.set()
    assert await second == ("new", Outcome.MISS)
    assert await third == ("new", Outcome.COALESCED)


async def test_clearing_one_tenant_keeps_the_others_entries_and_loads() -> None:
    cache = make(Clock())
    globex = Key("globex", "profile", "p1")
    await cache.get(KEY, Loader("acme"), ttl=30)
    await cache.get(globex, Loader("globex"), ttl=30)
    slow = Loader("globex slow")
    slow.gate = asyncio.Event()
    other = Key("globex", "profile", "p2")
    loading = asyncio.create_task(cache.get(other, slow, ttl=30))
    await asyncio.sleep(0)
    cleared: list[str | None] = []
    cache.on_clear(cleared.append)

    cache.clear("acme")
    joined = asyncio.create_task(cache.get(other, Loader("unused"), ttl=30))
    await asyncio.sleep(0)
    slow.gate.set()

    assert await cache.get(KEY, Loader("acme again"), ttl=30) == ("acme again", Outcome.MISS)
    assert await cache.get(globex, Loader("unused"), ttl=30) == ("globex", Outcome.HIT)
    assert await loading == ("globex slow", Outcome.MISS)
    assert await joined == ("globex slow", Outcome.COALESCED)
    assert await cache.get(other, Loader("unused"), ttl=30) == ("globex slow", Outcome.HIT)
    assert cleared == ["acme"]


async def test_clearing_everything_detaches_every_load_and_keeps_none_of_them() -> None:
    cache = make(Clock())
    slow = Loader("before the clear")
    slow.gate = asyncio.Event()
    reading = asyncio.create_task(cache.get(KEY, slow, ttl=30))
    await asyncio.sleep(0)
    cache.clear()
    after = await cache.get(KEY, Loader("after the clear"), ttl=30)
    slow.gate.set()
    assert await reading == ("before the clear", Outcome.MISS)
    assert after == ("after the clear", Outcome.MISS)
    assert await cache.get(KEY, Loader("unused"), ttl=30) == ("after the clear", Outcome.HIT)
    assert len(cache) == 1


async def test_invalidation_listeners_hear_the_tenant_kind_and_scope() -> None:
    cache = make(Clock())
    heard: list[tuple[str, str, str | None]] = []
    cache.on_invalidate(lambda tenant, kind, scope: heard.append((tenant, kind, scope)))
    cache.invalidate("acme", "profile", "p1")
    cache.invalidate("acme", "profiles")
    assert heard == [("acme", "profile", "p1"), ("acme", "profiles", None)]


async def test_the_invalidation_index_holds_only_kept_entries() -> None:
    cache = make(Clock(), max_entries=2)
    for scope in ("a", "b", "c"):
        await cache.get(Key("acme", "profile", scope), Loader(scope), ttl=30)
    assert cache._kinds == {
        ("acme", "profile"): {Key("acme", "profile", "b"), Key("acme", "profile", "c")}
    }
    assert cache.invalidate("acme", "profile") == 2
    assert cache._kinds == {}


@pytest.mark.parametrize("change", ["invalidate", "clear the tenant", "clear everyone"])
async def test_a_second_change_outdates_a_load_begun_after_the_first(change: str) -> None:
    cache = make(Clock())

    def apply() -> None:
        if change == "invalidate":
            cache.invalidate("acme", "profile", "p1")
        else:
            cache.clear("acme" if change == "clear the tenant" else None)

    apply()
    slow = Loader("between the changes")
    slow.gate = asyncio.Event()
    reading = asyncio.create_task(cache.get(KEY, slow, ttl=30))
    await asyncio.sleep(0)
    apply()
    slow.gate.set()
    assert await reading == ("between the changes", Outcome.MISS)
    assert await cache.get(KEY, Loader("after"), ttl=30) == ("after", Outcome.MISS)


async def test_what_each_tenant_keeps_is_counted_in_bytes() -> None:
    cache = make(Clock())
    await cache.get(KEY, Loader("v"), ttl=30)
    assert (cache.tenant_bytes("acme"), cache.tenant_bytes("globex"), cache.used_bytes) == (
        ENTRY,
        0,
        ENTRY,
    )
