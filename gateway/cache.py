"""A tenant-scoped TTL cache for upstream reads, with single-flight and stale-if-error.

It knows nothing of Telnyx: a read is a loader coroutine under a key made of the tenant id,
a *kind* (which resource list or item), a *scope* (the id the entry belongs to, for targeted
invalidation) and the normalised parameters. The tenant id is always part of the key, so
two tenants never share an entry or an in-flight call. Entries are kept within a byte
budget, in total and per tenant (`gateway.lru`), weighed by `weigh`.

With a `SharedTier` (`gateway.lease`), a miss here asks the replicas' shared tier in Redis
before loading, and what is loaded is shared; without one, or while Redis is away, each
replica loads for itself.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gateway.lru import TenantLRU

if TYPE_CHECKING:
    from gateway.lease import SharedTier

T = TypeVar("T")


class Outcome(enum.StrEnum):
    """How a read was served; reported on spans, metrics and responses."""

    HIT = "hit"
    MISS = "miss"
    STALE = "stale"
    COALESCED = "coalesced"
    BYPASS = "bypass"
    # Not in this replica's memory, but in the shared tier: no upstream call.
    SHARED = "shared"


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

    `max_bytes` bounds the whole cache and `tenant_max_bytes` each tenant's share (least
    recently used go first); `weigh(key, value)` is what an entry costs. A budget of 0
    disables caching but keeps single-flight.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        tenant_max_bytes: int,
        stale_window: float,
        weigh: Callable[[Key, Any], int],
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTier | None = None,
    ) -> None:
        self._stale_window = stale_window
        self.shared = shared
        self._clock = clock
        self._weigh = weigh
        self._entries: TenantLRU[Key, _Entry] = TenantLRU(
            max_bytes=max_bytes,
            tenant_max_bytes=tenant_max_bytes,
            clock=clock,
            on_remove=self._unindex,
        )
        # Each tenant's keys by kind, so an invalidation looks at the entries it names only.
        self._kinds: dict[tuple[str, str], set[Key]] = {}
        self._inflight: dict[Key, asyncio.Future[Any]] = {}
        self._listeners: list[Callable[[str, str, str | None], object]] = []
        self._clear_listeners: list[Callable[[str | None], object]] = []
        # Bumped by every invalidation of a tenant: a load that began before the bump must
        # not store what it read, or a read right after a write could see the old value.
        self._generation: dict[str, int] = {}
        # Bumped by every clear of all tenants, for the same reason.
        self._epoch = 0

    def on_invalidate(self, listener: Callable[[str, str, str | None], object]) -> None:
        """Call `listener(tenant, kind, scope)` on every invalidation, so caches built on
        these reads (whole responses) are evicted by the same rules."""
        self._listeners.append(listener)

    def on_clear(self, listener: Callable[[str | None], object]) -> None:
        """Call `listener(tenant)` on every `clear` (`None`: every tenant's entries)."""
        self._clear_listeners.append(listener)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used_bytes(self) -> int:
        """What the kept entries weigh, together."""
        return self._entries.used

    def tenant_bytes(self, tenant: str) -> int:
        return self._entries.tenant_bytes(tenant)

    async def get(
        self,
        key: Key,
        load: Callable[[], Awaitable[T]],
        *,
        ttl: float,
        bypass: bool = False,
        store: bool = True,
        stale_on: tuple[type[BaseException], ...] = (),
        account: str = "",
    ) -> tuple[T, Outcome]:
        """Return the cached value for `key`, or load it once however many callers ask.

        With `bypass`, the cache is not read but the fresh value is stored (unless `store`
        is false, a request's `Cache-Control: no-store`: then neither tier is used). When `load`
        raises one of `stale_on` and an expired entry is still inside the stale window,
        that entry is returned with `Outcome.STALE` instead of the error. `account` (a
        digest) is what the shared tier tells a tenant's reads with different keys apart by.
        """
        entry = self._entries.get(key)
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

        generation = (self._epoch, self._generation.get(key.tenant, 0))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not bypass:
            self._inflight[key] = future
        outcome, age = Outcome.BYPASS if bypass else Outcome.MISS, 0.0
        try:
            if self.shared is None or not store:
                value = await load()
            else:
                # With an entry here to serve stale, Redis's older one is not needed.
                value, outcome, age = await self.shared.read(
                    key,
                    load,
                    ttl=ttl,
                    bypass=bypass,
                    stale_on=stale_on,
                    serve_stale=entry is None,
                    account=account,
                )
        except BaseException as exc:
            self._settle(key, future, exc)
            if isinstance(exc, stale_on) and entry is not None:
                return cast(T, entry.value), Outcome.STALE
            raise
        self._settle(key, future, value)
        if (
            store
            and (self._epoch, self._generation.get(key.tenant, 0)) == generation
            and outcome is not Outcome.STALE
        ):
            self._store(key, value, ttl, age=age)
        return value, outcome

    async def invalidate_shared(
        self, tenant: str, targets: tuple[tuple[str, str | None], ...]
    ) -> None:
        """Evict the targets from the shared tier, for every replica (before `invalidate`
        and the other replicas' news, so that no replica refills from what was evicted)."""
        if self.shared is not None and targets:
            await self.shared.invalidate(tenant, targets)

    def _store(self, key: Key, value: Any, ttl: float, *, age: float) -> None:
        # A shared entry is as old as when the replica that loaded it stored it.
        now = self._clock() - age
        kept = self._entries.put(
            key,
            _Entry(value, now, ttl),
            tenant=key.tenant,
            size=self._weigh(key, value),
            expires=now + ttl + self._stale_window,
        )
        if kept:
            self._kinds.setdefault((key.tenant, key.kind), set()).add(key)

    def _unindex(self, key: Key, _: _Entry) -> None:
        kind = (key.tenant, key.kind)
        keys = self._kinds.get(kind)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._kinds[kind]

    def fresh(self, key: Key, *, ttl: float) -> tuple[Any, float, float] | None:
        """The value under `key` if `get` would serve it as a hit, with when it was stored
        and the TTL it was stored with (as `kept` gives them); else None. No await: a hit
        needs none."""
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry.stored_at >= min(ttl, entry.ttl):
            return None
        return entry.value, entry.stored_at, entry.ttl

    def kept(self, key: Key) -> tuple[float, float] | None:
        """When the entry under `key` was stored (this cache's clock) and the TTL it was
        stored with; None when nothing is kept (caching off, or a write made the load's value
        unkeepable), so nothing built on that read may be kept either."""
        entry = self._entries.peek(key)
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
        doomed = [key for key in self._kinds.get((tenant, kind), ()) if matches(key)]
        for key in doomed:
            self._entries.pop(key)
        return len(doomed)

    def clear(self, tenant: str | None = None) -> None:
        """Drop everything, or everything of one tenant."""
        for listener in self._clear_listeners:
            listener(tenant)
        if tenant is None:
            # Every tenant's, also those never invalidated yet (absent from `_generation`).
            self._epoch += 1
            self._inflight.clear()
        else:
            self._generation[tenant] = self._generation.get(tenant, 0) + 1
            for key in [key for key in self._inflight if key.tenant == tenant]:
                del self._inflight[key]
        self._entries.clear(tenant)
