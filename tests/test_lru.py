"""Byte budgets: in total and per tenant, weighed by what entries really cost in memory."""

from __future__ import annotations

import sys
import tracemalloc

import pytest

from gateway.lru import ENTRY_OVERHEAD, TenantLRU, weight


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def store(total: int, tenant: int, clock: Clock | None = None) -> TenantLRU[str, str]:
    return TenantLRU(max_bytes=total, tenant_max_bytes=tenant, clock=clock or Clock())


def test_a_tenant_over_its_share_loses_its_own_oldest_entries_only() -> None:
    lru = store(total=1000, tenant=300)
    assert lru.put("b1", "beta", tenant="beta", size=100)
    for n in range(10):
        assert lru.put(f"a{n}", "alpha", tenant="alpha", size=100)

    assert lru.keys("alpha") == ["a7", "a8", "a9"]
    assert (lru.tenant_bytes("alpha"), lru.tenant_bytes("beta"), lru.used) == (300, 100, 400)
    assert lru.get("b1") == "beta"


def test_a_large_entry_pushes_out_as_many_of_its_tenants_entries_as_it_needs() -> None:
    lru = store(total=1000, tenant=300)
    for n in range(3):
        lru.put(f"a{n}", "alpha", tenant="alpha", size=100)
    lru.put("b1", "beta", tenant="beta", size=100)

    assert lru.put("a-large", "alpha", tenant="alpha", size=250)
    assert lru.keys("alpha") == ["a-large"]
    assert (lru.tenant_bytes("alpha"), lru.tenant_bytes("beta"), lru.used) == (250, 100, 350)


def test_over_the_total_the_least_recently_used_of_anyone_go() -> None:
    lru = store(total=300, tenant=300)
    lru.put("a", "1", tenant="alpha", size=100)
    lru.put("b", "2", tenant="beta", size=100)
    lru.put("c", "3", tenant="gamma", size=100)
    assert lru.get("a") == "1"  # now the most recently used

    lru.put("d", "4", tenant="delta", size=100)

    assert lru.keys() == ["c", "a", "d"]
    assert lru.used == 300


def test_an_entry_larger_than_a_tenants_share_is_not_kept_and_pushes_nothing_out() -> None:
    lru = store(total=1000, tenant=300)
    lru.put("small", "x", tenant="alpha", size=200)
    assert not lru.put("large", "y", tenant="alpha", size=301)
    assert lru.keys() == ["small"]
    assert lru.put("exact", "z", tenant="alpha", size=300)
    assert lru.keys() == ["exact"]


def test_a_budget_of_zero_keeps_nothing() -> None:
    lru = store(total=0, tenant=100)
    assert not lru.put("a", "1", tenant="alpha", size=1)
    assert (len(lru), lru.used) == (0, 0)


def test_expired_entries_are_dropped_when_met_and_swept_as_others_arrive() -> None:
    clock = Clock()
    removed: list[str] = []
    lru: TenantLRU[str, str] = TenantLRU(
        max_bytes=1000,
        tenant_max_bytes=1000,
        clock=clock,
        on_remove=lambda key, value: removed.append(key),
    )
    lru.put("old", "1", tenant="alpha", size=100, expires=110.0)
    lru.put("older", "2", tenant="beta", size=100, expires=105.0)
    lru.put("lasting", "3", tenant="alpha", size=100)
    clock.now = 110.0

    assert lru.peek("old") is None
    lru.put("new", "4", tenant="beta", size=100)

    assert lru.keys() == ["lasting", "new"]
    assert removed == ["old", "older"]
    assert (lru.used, lru.tenant_bytes("alpha"), lru.tenant_bytes("beta")) == (200, 100, 100)


def test_replacing_an_entry_counts_it_once() -> None:
    lru = store(total=1000, tenant=1000)
    lru.put("a", "1", tenant="alpha", size=100)
    lru.put("a", "2", tenant="alpha", size=250)
    assert (lru.get("a"), lru.used, lru.tenant_bytes("alpha")) == ("2", 250, 250)
    assert lru.pop("a") == "2"
    assert (lru.used, lru.keys("alpha")) == (0, [])


def test_clearing_one_tenant_leaves_the_others() -> None:
    lru = store(total=1000, tenant=1000)
    lru.put("a", "1", tenant="alpha", size=100)
    lru.put("b", "2", tenant="beta", size=100)
    lru.clear("alpha")
    assert (lru.keys(), lru.used) == (["b"], 100)
    lru.clear()
    assert (len(lru), lru.used) == (0, 0)


@pytest.mark.parametrize("size", [10, 1_000, 100_000])
def test_the_weight_of_an_entry_covers_what_keeping_it_costs(size: int) -> None:
    """Measured: what 2,000 kept entries of `size` bytes cost the process, per entry,
    against what `weight` says each costs. A budget in weight is then a budget in memory."""
    count = 2_000
    lru: TenantLRU[tuple[str, int], bytes] = TenantLRU(
        max_bytes=sys.maxsize, tenant_max_bytes=sys.maxsize
    )
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            value = bytes(size) + n.to_bytes(4, "big")  # distinct objects, as bodies are
            key = ("tenant-with-a-realistic-name", n)
            lru.put(key, value, tenant=key[0], size=weight(value, key))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert lru.used >= used
    # ...and not wildly more: within the overhead of one entry each.
    assert lru.used - used < count * ENTRY_OVERHEAD


def test_what_a_store_holds_is_visible_by_key_and_by_tenant() -> None:
    lru = store(total=1000, tenant=1000)
    lru.put("a1", "one", tenant="alpha", size=100)
    lru.put("b1", "two", tenant="beta", size=100)

    assert ("a1" in lru, "b1" in lru, "a2" in lru) == (True, True, False)
    assert list(lru.items("alpha")) == [("a1", "one")]
    assert list(lru.items("gamma")) == []
    assert lru.tenant_bytes("gamma") == 0


def test_weight_counts_everything_an_entry_holds_once() -> None:
    body, inner, name = b"x" * 1000, ("scope",), "kind-name"
    outer = (body, inner, [name], {name: body}, frozenset({name}))
    size = sys.getsizeof

    assert weight(outer) == ENTRY_OVERHEAD + sum(
        size(part) for part in (outer, body, inner, "scope", outer[2], name, outer[3], outer[4])
    )
    # Given twice, or reached twice, an object is counted once.
    assert weight(body, body, (body,)) == ENTRY_OVERHEAD + size(body) + size((body,))


def test_weight_reaches_the_fields_of_slotted_objects_and_their_bases() -> None:
    # Classes made here, new on each run: `weight` remembers the fields of each class.
    class Slotted:
        __slots__ = ("__weakref__", "body", "note", "parts")  # `note` is never set

        def __init__(self, body: bytes, parts: tuple[str, ...]) -> None:
            self.body = body
            self.parts = parts

    class Derived(Slotted):
        __slots__ = "extra"

        def __init__(self, body: bytes, parts: tuple[str, ...], extra: bytes) -> None:
            super().__init__(body, parts)
            self.extra = extra

    body, extra, parts = b"b" * 500, b"e" * 700, ("one", "two")
    kept = Derived(body, parts, extra)
    size = sys.getsizeof

    assert weight(kept) == ENTRY_OVERHEAD + sum(
        size(part) for part in (kept, body, parts, "one", "two", extra, None)
    )


def test_weight_leaves_out_functions_which_every_entry_shares() -> None:
    assert weight(len, sorted) == ENTRY_OVERHEAD
    assert weight((b"abc", len)) == ENTRY_OVERHEAD + sys.getsizeof((b"abc", len)) + sys.getsizeof(
        b"abc"
    )
