"""Per-tenant rate limits: a token bucket for each tenant, refilled continuously.

`RateLimiter` chooses each tenant's rate (its own from the tenants file, else the
gateway's default) and raises `RateLimitedError` when the bucket is empty. Where the
buckets live is a `Buckets` seam: `MemoryBuckets` holds them in this process; a store
shared by replicas (Redis) implements the same one method.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.errors import RateLimitedError
from gateway.tenancy import RateLimit

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.tenancy import Tenant


class Buckets(Protocol):
    """Where the token buckets live."""

    async def take(self, key: str, rate: RateLimit) -> float:
        """Take one token from bucket `key`: 0 when taken, else seconds until one is due."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class MemoryBuckets:
    """Buckets in this process's memory; each replica limits on its own.

    One bucket per key ever seen: keys are tenant ids, a set the tenants file bounds.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, key: str, rate: RateLimit) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            # A tenant starts with a full bucket.
            bucket = self._buckets[key] = _Bucket(float(rate.burst), now)
        elapsed = max(now - bucket.updated, 0.0)
        bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate.per_second


class RateLimiter:
    """Each tenant's rate, enforced one request at a time."""

    def __init__(self, default: RateLimit, *, buckets: Buckets | None = None) -> None:
        self._default = default
        self._buckets = buckets if buckets is not None else MemoryBuckets()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter:
        """The settings' default rate over buckets in this process."""
        default = RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst)
        return cls(default, buckets=MemoryBuckets(clock=clock))

    def rate(self, tenant: Tenant) -> RateLimit:
        return tenant.rate_limit or self._default

    async def take(self, tenant: Tenant) -> None:
        """Count one request of `tenant`; `RateLimitedError` when it is over its rate."""
        wait = await self._buckets.take(tenant.id, self.rate(tenant))
        if wait > 0:
            raise RateLimitedError(wait)


def retry_after_seconds(exc: RateLimitedError) -> int:
    """The whole seconds a `Retry-After` header carries: rounded up, at least 1."""
    return max(1, math.ceil(exc.retry_after))
