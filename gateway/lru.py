"""Least-recently-used entries kept within a byte budget, in total and per tenant.

Every store that grows with traffic (upstream reads, whole responses, persisted documents)
keeps its entries here, so that one tenant can neither grow the process nor push every
other tenant's entries out: a tenant over its share loses its own oldest entries, and the
store over its total loses the oldest of anyone's. An entry's weight is what it costs in
memory, measured (see `weight`): a budget in bytes of text would let small entries cost
many times their size.

Entries may also carry a time after which they are useless: those are dropped when met,
and swept from the oldest end as new ones arrive, so expired memory is reused rather than
held until the budget pushes it out.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What keeping one entry costs beyond its own value and key, measured with tracemalloc
# (tests/test_lru.py holds the figure to the interpreter): two ordered-dict slots and
# links, and the slot object.
ENTRY_OVERHEAD = 400


def compact(data: bytes) -> bytes:
    """`data` in a buffer of its own length, to be kept. orjson's output keeps the capacity
    its buffer grew to (4 KiB for a few bytes, 64 KiB for 5 KB), which `sys.getsizeof`, and
    so `weight`, does not see."""
    return bytes(memoryview(data))


def weight(*parts: object) -> int:
    """What keeping `parts` costs in memory: an entry's overhead, and the size
    (`sys.getsizeof`: bytes and str by what they hold) of each part and of everything it
    holds, each object once: the items of tuples, lists, sets and dicts, and the fields of
    slotted objects. Functions are shared code, not counted. Walking what an entry holds,
    rather than listing its parts, leaves no field out when one is added."""
    seen: set[int] = set()
    total = ENTRY_OVERHEAD
    pending = list(parts)
    while pending:
        part = pending.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        kind = type(part)
        if kind in _LEAVES:
            total += sys.getsizeof(part)
        elif kind in _CONTAINERS:
            total += sys.getsizeof(part)
            pending.extend(cast("Iterable[object]", part))
        elif kind is dict:
            total += sys.getsizeof(part)
            held = cast("dict[object, object]", part)
            pending.extend(held)
            pending.extend(held.values())
        elif not callable(part):
            total += sys.getsizeof(part)
            pending.extend([getattr(part, name, None) for name in _fields(kind)])
    return total


_LEAVES = frozenset({bytes, str, int, float, bool, type(None)})
_CONTAINERS = frozenset({tuple, list, set, frozenset})
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    """The slots of `cls` and its bases (a slotted object keeps its fields there)."""
    names = _FIELDS.get(cls)
    if names is None:
        slots = [base.__dict__.get("__slots__", ()) for base in cls.__mro__]
        every = [name for names in slots for name in ([names] if isinstance(names, str) else names)]
        names = _FIELDS[cls] = tuple(name for name in every if not name.startswith("__"))
    return names


@dataclass(slots=True)
class _Slot(Generic[V]):
    value: V
    tenant: str
    size: int
    expires: float


class TenantLRU(Generic[K, V]):
    """Values by key, each belonging to a tenant; `max_bytes` bounds them all,
    `tenant_max_bytes` each tenant's. A budget of 0 keeps nothing."""

    def __init__(
        self,
        *,
        max_bytes: int,
        tenant_max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        on_remove: Callable[[K, V], object] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.tenant_max_bytes = min(tenant_max_bytes, max_bytes)
        self._clock = clock
        # Told of every entry that leaves (evicted, expired, replaced, popped or cleared),
        # so indexes kept beside this store stay exact.
        self._on_remove = on_remove
        self._slots: OrderedDict[K, _Slot[V]] = OrderedDict()
        self._tenants: dict[str, OrderedDict[K, None]] = {}
        self._tenant_bytes: dict[str, int] = {}
        self.used = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def tenant_bytes(self, tenant: str) -> int:
        return self._tenant_bytes.get(tenant, 0)

    def get(self, key: K) -> V | None:
        """The value under `key`, now the most recently used; None when absent or expired."""
        slot = self._slots.get(key)
        if slot is None:
            return None
        if slot.expires <= self._clock():
            self._remove(key)
            return None
        self._slots.move_to_end(key)
        self._tenants[slot.tenant].move_to_end(key)
        return slot.value

    def peek(self, key: K) -> V | None:
        """The value under `key` without making it recent; None when absent or expired."""
        slot = self._slots.get(key)
        if slot is None or slot.expires <= self._clock():
            return None
        return slot.value

    def put(
        self, key: K, value: V, *, tenant: str, size: int, expires: float = float("inf")
    ) -> bool:
        """Keep `value` (weighing `size` bytes) until `expires` on this store's clock;
        whether it was kept (not when larger than the tenant's whole share)."""
        self._remove(key)
        if size > self.tenant_max_bytes:
            return False
        self._sweep()
        tenant_bytes = self._tenant_bytes.get(tenant, 0)
        order = self._tenants.get(tenant)
        while order and tenant_bytes + size > self.tenant_max_bytes:
            self._remove(next(iter(order)))
            tenant_bytes = self._tenant_bytes.get(tenant, 0)
            order = self._tenants.get(tenant)
        while self._slots and self.used + size > self.max_bytes:
            self._remove(next(iter(self._slots)))
        self._slots[key] = _Slot(value, tenant, size, expires)
        self._tenants.setdefault(tenant, OrderedDict())[key] = None
        self._tenant_bytes[tenant] = self._tenant_bytes.get(tenant, 0) + size
        self.used += size
        return True

    def pop(self, key: K) -> V | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        self._remove(key)
        return slot.value

    def keys(self, tenant: str | None = None) -> list[K]:
        """Every key, or one tenant's (a copy: removing while walking it is safe)."""
        if tenant is None:
            return list(self._slots)
        return list(self._tenants.get(tenant, ()))

    def items(self, tenant: str) -> Iterator[tuple[K, V]]:
        """One tenant's entries, expired ones included (a copy)."""
        return iter([(key, self._slots[key].value) for key in self._tenants.get(tenant, ())])

    def clear(self, tenant: str | None = None) -> None:
        """Drop everything, or everything of one tenant."""
        for key in self.keys(tenant):
            self._remove(key)

    def _remove(self, key: K) -> None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        order = self._tenants[slot.tenant]
        del order[key]
        remaining = self._tenant_bytes[slot.tenant] - slot.size
        if order:
            self._tenant_bytes[slot.tenant] = remaining
        else:
            del self._tenants[slot.tenant]
            del self._tenant_bytes[slot.tenant]
        self.used -= slot.size
        if self._on_remove is not None:
            self._on_remove(key, slot.value)

    def _sweep(self) -> None:
        """Drop expired entries from the least recently used end (the oldest, mostly)."""
        now = self._clock()
        while self._slots:
            key, slot = next(iter(self._slots.items()))
            if slot.expires > now:
                return
            self._remove(key)
