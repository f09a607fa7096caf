"""Whole responses, kept until something they read changes or stops being fresh.

An entry is a finished response body, the (kind, scope) of every upstream read that made
it, when the oldest of the values read was stored, and when the first of them stops being
fresh. It is evicted by the upstream cache's own rules: every invalidation (a write on
this replica, or on another one through Redis) evicts the responses of that tenant that
read what it names, and clearing the upstream cache clears this one. It is bounded in
bytes, in total and per tenant. It knows nothing of GraphQL beyond the key's parts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.cache import TenantCache
from gateway.lru import TenantLRU, compact, weight

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
        digest = hashlib.sha256(document.encode()).hexdigest()
        return cls(tenant, digest, compact(canonical), operation)


@dataclass(frozen=True, slots=True)
class _Stored:
    body: bytes
    reads: frozenset[Read]
    read_at: float

    def read(self, kind: str, scope: str | None) -> bool:
        """Whether an invalidation of (kind, scope) reaches this response (as in TenantCache)."""
        return any(k == kind and (scope is None or s == scope) for k, s in self.reads)


class ResponseCache:
    """Response bodies by `ResponseKey`, least recently used first out, each until its reads'
    freshness ends, within `max_bytes` in total and `tenant_max_bytes` per tenant (0
    disables it)."""

    def __init__(
        self,
        *,
        max_bytes: int,
        tenant_max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._entries: TenantLRU[ResponseKey, _Stored] = TenantLRU(
            max_bytes=max_bytes,
            tenant_max_bytes=tenant_max_bytes,
            clock=clock,
            on_remove=self._unindex,
        )
        # Each tenant's responses by the kinds they read, so an invalidation looks at those.
        self._kinds: dict[tuple[str, str], set[ResponseKey]] = {}
        # Bumped by every invalidation: a response whose reads began before one may hold
        # what the write changed, so it is not kept.
        self._generation: dict[str, int] = {}
        self._epoch = 0

    @property
    def enabled(self) -> bool:
        return self._entries.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used_bytes(self) -> int:
        return self._entries.used

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
        reads = frozenset(reads)
        if not reads or fresh_until <= self._clock() or generation != self.generation(key.tenant):
            self._entries.pop(key)
            return False
        stored = _Stored(compact(body), reads, read_at)
        kept = self._entries.put(
            key, stored, tenant=key.tenant, size=weight(key, stored), expires=fresh_until
        )
        if kept:
            for kind, _ in reads:
                self._kinds.setdefault((key.tenant, kind), set()).add(key)
        return kept

    def _unindex(self, key: ResponseKey, stored: _Stored) -> None:
        for kind, _ in stored.reads:
            keys = self._kinds.get((key.tenant, kind))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._kinds[(key.tenant, kind)]

    def invalidate(self, tenant: str, kind: str, scope: str | None) -> int:
        """Evict the tenant's responses that read `kind` (of `scope`, when given)."""
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        doomed = [
            key
            for key in self._kinds.get((tenant, kind), ())
            if (stored := self._entries.peek(key)) is not None and stored.read(kind, scope)
        ]
        for key in doomed:
            self._entries.pop(key)
        return len(doomed)

    def clear(self, tenant: str | None = None) -> None:
        """Drop everything, or everything of one tenant."""
        if tenant is None:
            self._epoch += 1
        else:
            self._generation[tenant] = self._generation.get(tenant, 0) + 1
        self._entries.clear(tenant)
