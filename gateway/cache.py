"""A tenant-scoped TTL cache for upstream reads, with single-flight and stale-if-error.

It knows nothing of Telnyx: a read is a loader coroutine under a key made of the tenant id,
a *kind* (which resource list or item), a *scope* (the id the entry belongs to, for targeted
invalidation) and the normalised parameters. The tenant id is always part of the key, so
two tenants never share an entry or an in-flight call.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cachetools import TLRUCache

T = TypeVar("T")


class Outcome(enum.StrEnum):
    """How a read was served; reported on spans, metrics and responses."""

    HIT = "hit"
    MISS = "miss"
    STALE = "stale"
    COALESCED = "coalesced"
    BYPASS = "bypass"


@dataclass(frozen=True, slots=True)
class Key:
    tenant: str
    kind: str
    scope: str | None
    params: tuple[Hashable, ...] = ()


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    stored_at: float
    ttl: float


class TenantCache:
    """Successful reads, by `Key`, fresh for their TTL and kept for `stale_window` after it.

    `max_entries` bounds the whole cache (least recently used goes first); 0 disables caching
    but keeps single-flight.
    """

    def __init__(
        self,
        *,
        max_entries: int,
        stale_window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stale_window = stale_window
        self._clock = clock
        self._entries: TLRUCache[Key, _Entry] | None = (
            TLRUCache(
                maxsize=max_entries,
                ttu=lambda _key, entry, _now: entry.stored_at + entry.ttl + stale_window,
                timer=clock,
            )
            if max_entries > 0
            else None
        )
        self._inflight: dict[Key, asyncio.Future[Any]] = {}
        self._listeners: list[Callable[[str, str, str | None], object]] = []
        self._clear_listeners: list[Callable[[str | None], object]] = []
        # Bumped by every invalidation of a tenant: a load that began before the bump must
        # not store what it read, or a read right after a write could see the old value.
        self._generation: dict[str, int] = {}

    def on_invalidate(self, listener: Callable[[str, str, str | None], object]) -> None:
        """Call `listener(tenant, kind, scope)` on every invalidation, so caches built on
        these reads (whole responses) are evicted by the same rules."""
        self._listeners.append(listener)

    def on_clear(self, listener: Callable[[str | None], object]) -> None:
        """Call `listener(tenant)` on every `clear` (`None`: every tenant's entries)."""
        self._clear_listeners.append(listener)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    async def get(
        self,
        key: Key,
        load: Callable[[], Awaitable[T]],
        *,
        ttl: float,
        bypass: bool = False,
        stale_on: tuple[type[BaseException], ...] = (),
    ) -> tuple[T, Outcome]:
        """Return the cached value for `key`, or load it once however many callers ask.

        With `bypass`, the cache is not read but the fresh value is stored. When `load`
        raises one of `stale_on` and an expired entry is still inside the stale window,
        that entry is returned with `Outcome.STALE` instead of the error.
        """
        entry = None if self._entries is None else self._entries.get(key)
        # Freshness is judged with the TTL asked for now, so a shortened TTL (say, while
        # other replicas' invalidations cannot arrive) also applies to older entries.
        if (
            entry is not None
            and not bypass
            and self._clock() - entry.stored_at < min(ttl, entry.ttl)
        ):
            return cast(T, entry.value), Outcome.HIT

        waiting = self._inflight.get(key)
        if waiting is not None and not bypass:
            try:
                return cast(T, await asyncio.shield(waiting)), Outcome.COALESCED
            except stale_on:
                if entry is None:
                    raise
                return cast(T, entry.value), Outcome.STALE

        generation = self._generation.get(key.tenant, 0)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not bypass:
            self._inflight[key] = future
        try:
            value = await load()
        except BaseException as exc:
            self._settle(key, future, exc)
            if isinstance(exc, stale_on) and entry is not None:
                return cast(T, entry.value), Outcome.STALE
            raise
        self._settle(key, future, value)
        if self._entries is not None and self._generation.get(key.tenant, 0) == generation:
            self._entries[key] = _Entry(value, self._clock(), ttl)
        return value, Outcome.BYPASS if bypass else Outcome.MISS

    def fresh(self, key: Key, *, ttl: float) -> tuple[Any, float, float] | None:
        """The value under `key` if `get` would serve it as a hit, with when it was stored
        and the TTL it was stored with (as `kept` gives them); else None. No await: a hit
        needs none."""
        entry = None if self._entries is None else self._entries.get(key)
        if entry is None or self._clock() - entry.stored_at >= min(ttl, entry.ttl):
            return None
        return entry.value, entry.stored_at, entry.ttl

    def kept(self, key: Key) -> tuple[float, float] | None:
        """When the entry under `key` was stored (this cache's clock) and the TTL it was
        stored with; None when nothing is kept (caching off, or a write made the load's value
        unkeepable), so nothing built on that read may be kept either."""
        entry = None if self._entries is None else self._entries.get(key)
        return None if entry is None else (entry.stored_at, entry.ttl)

    def _settle(self, key: Key, future: asyncio.Future[Any], result: Any) -> None:
        if self._inflight.get(key) is future:
            del self._inflight[key]
        if isinstance(result, BaseException):
            future.set_exception(result)
            # Nobody may be waiting; retrieving the exception keeps asyncio from logging it.
            future.exception()
        else:
            future.set_result(result)

    def invalidate(self, tenant: str, kind: str, scope: str | None = None) -> int:
        """Evict the tenant's entries of `kind` (only those of `scope` when given).

        In-flight loads of the tenant are detached too, so later readers start afresh.
        Returns how many entries were evicted.
        """
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        for listener in self._listeners:
            listener(tenant, kind, scope)

        def matches(key: Key) -> bool:
            return (
                key.tenant == tenant and key.kind == kind and (scope is None or key.scope == scope)
            )

        for key in [key for key in self._inflight if matches(key)]:
            del self._inflight[key]
        if self._entries is None:
            return 0
        doomed = [key for key in list(self._entries.keys()) if matches(key)]
        for key in doomed:
            self._entries.pop(key, None)
        return len(doomed)

    def clear(self, tenant: str | None = None) -> None:
        """Drop everything, or everything of one tenant."""
        for listener in self._clear_listeners:
            listener(tenant)
        if tenant is None:
            self._generation = {t: g + 1 for t, g in self._generation.items()}
            self._inflight.clear()
            if self._entries is not None:
                self._entries.clear()
            return
        self._generation[tenant] = self._generation.get(tenant, 0) + 1
        for key in [key for key in self._inflight if key.tenant == tenant]:
            del self._inflight[key]
        if self._entries is not None:
            for key in [key for key in list(self._entries.keys()) if key.tenant == tenant]:
                self._entries.pop(key, None)
