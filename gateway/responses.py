"""Whole responses, kept until something they read changes or stops being fresh.

An entry is a finished response body, the (kind, scope) of every upstream read that made
it, when the oldest of the values read was stored, and when the first of them stops being
fresh. It is evicted by the upstream cache's own rules: every invalidation (a write on this replica, or on another one through
Redis) evicts the responses of that tenant that read what it names, and clearing the
upstream cache clears this one. It knows nothing of GraphQL beyond the key's parts.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cachetools import TLRUCache

from gateway.cache import TenantCache

# An upstream read, as the upstream cache names it: (kind, scope).
Read = tuple[str, str | None]


@dataclass(frozen=True, slots=True)
class ResponseKey:
    """What a response depends on besides the upstream data."""

    tenant: str
    document: str  # hex sha256 of the document's text
    variables: bytes  # canonical JSON: sorted keys, no whitespace
    operation: str | None

    @classmethod
    def of(
        cls,
        tenant: str,
        document: str,
        variables: Mapping[str, Any] | None,
        operation: str | None,
    ) -> ResponseKey | None:
        """The key of a request, or None when its variables have no canonical form."""
        try:
            canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. an integer past 64 bits
            return None
        return cls(tenant, hashlib.sha256(document.encode()).hexdigest(), canonical, operation)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class _Stored:
    body: bytes
    reads: frozenset[Read]
    read_at: float
    fresh_until: float

    def read(self, kind: str, scope: str | None) -> bool:
        """Whether an invalidation of (kind, scope) reaches this response (as in TenantCache)."""
        return any(k == kind and (scope is None or s == scope) for k, s in self.reads)


class ResponseCache:
    """Response bodies by `ResponseKey`, least recently used first out, each until its reads'
    freshness ends. `max_entries` 0 disables it."""

    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: TLRUCache[ResponseKey, _Stored] | None = (
            TLRUCache(
                maxsize=max_entries,
                ttu=lambda _key, stored, _now: stored.fresh_until,
                timer=clock,
            )
            if max_entries > 0
            else None
        )
        # Each tenant's entries, so an eviction looks at that tenant's only. The references
        # are weak: an entry the LRU or the clock dropped leaves the index with it.
        self._tenants: dict[str, weakref.WeakValueDictionary[ResponseKey, _Stored]] = {}
        # Bumped by every invalidation: a response whose reads began before one may hold
        # what the write changed, so it is not kept.
        self._generation: dict[str, int] = {}
        self._epoch = 0

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    def follow(self, cache: TenantCache) -> None:
        """Evict by `cache`'s invalidations, and clear with it."""
        cache.on_invalidate(self.invalidate)
        cache.on_clear(self.clear)

    def generation(self, tenant: str) -> tuple[int, int]:
        """Take this before the reads of a response; `put` refuses it once stale."""
        return self._epoch, self._generation.get(tenant, 0)

    def get(self, key: ResponseKey, *, max_age: float | None = None) -> bytes | None:
        """The body kept under `key`, unless what it read is older than `max_age` seconds
        (a cap set after it was kept, as the upstream cache judges its own entries)."""
        if self._entries is None:
            return None
        stored = self._entries.get(key)
        if stored is None or (max_age is not None and self._clock() - stored.read_at >= max_age):
            return None
        return stored.body

    def put(
        self,
        key: ResponseKey,
        body: bytes,
        *,
        reads: Iterable[Read],
        read_at: float,
        fresh_until: float,
        generation: tuple[int, int],
    ) -> bool:
        """Keep `body` until `fresh_until`, built on values stored from `read_at` on;
        whether it was kept.

        Not kept: with no reads (nothing would ever evict or expire it, and it was cheap),
        when already expired, or when the tenant saw an invalidation since `generation`.
        Then the entry it would have replaced goes too: the new answer supersedes it.
        """
        if self._entries is None:
            return False
        reads = frozenset(reads)
        if not reads or fresh_until <= self._clock() or generation != self.generation(key.tenant):
            self._entries.pop(key, None)
            return False
        stored = _Stored(body, reads, read_at, fresh_until)
        self._entries[key] = stored
        self._tenants.setdefault(key.tenant, weakref.WeakValueDictionary())[key] = stored
        return True

    def invalidate(self, tenant: str, kind: str, scope: str | None) -> int:
        """Evict the tenant's responses that read `kind` (of `scope`, when given)."""
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        index = self._tenants.get(tenant)
        if self._entries is None or not index:
            return 0
        doomed = [key for key, stored in list(index.items()) if stored.read(kind, scope)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    def clear(self, tenant: str | None = None) -> None:
        """Drop everything, or everything of one tenant."""
        if tenant is None:
            self._epoch += 1
            self._tenants.clear()
            if self._entries is not None:
                self._entries.clear()
            return
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        index = self._tenants.pop(tenant, None)
        if self._entries is not None and index:
            for key in list(index.keys()):
                self._entries.pop(key, None)
