"""Per-tenant rate limits: a token bucket for each tenant, refilled continuously.

`RateLimiter` chooses each tenant's rate (its own from the tenants file, else the
gateway's default) and raises `RateLimitedError` when the bucket is empty. Where the
buckets live is a `Buckets` seam: `MemoryBuckets` holds them in this process; a store
shared by replicas (Redis) implements the same one method.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

from gateway.errors import RateLimitedError
from gateway.redisconn import Client, RedisTarget
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


log = logging.getLogger(__name__)

# One atomic step of a token bucket in Redis, timed by Redis's own clock so that replicas
# with skewed clocks share one notion of "now". Returns the wait in seconds (0: taken).
# An optional second key is a pause (the upstream budget's, after Telnyx's 429): while it
# lives no token is given, and the wait is its time to live. Both keys share a hash tag when
# the caller runs on a Redis Cluster.
TAKE = """
if KEYS[2] then
  local paused = redis.call('PTTL', KEYS[2])
  if paused > 0 then
    return tostring(paused / 1000)
  end
end
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis, shared by every replica; `fallback` limits locally while Redis is
    unreachable, so an outage neither stops traffic nor lifts the limits."""

    def __init__(
        self, client: Client, *, fallback: Buckets, prefix: str = "telnyx-gateway:ratelimit:"
    ) -> None:
        # The client's own timeouts bound each call (`gateway.redisconn`).
        self._redis = client
        self._script = self._redis.register_script(TAKE)
        self._fallback = fallback
        self._prefix = prefix
        self._failing = False

    async def take(self, key: str, rate: RateLimit) -> float:
        try:
            wait = await self._script(keys=[self._prefix + key], args=[rate.per_second, rate.burst])
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning(
                    "rate limits are local while redis is unreachable: %s", type(exc).__name__
                )
                self._failing = True
            return await self._fallback.take(key, rate)
        if self._failing:
            log.info("rate limits are shared through redis again")
            self._failing = False
        return float(wait)

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    """Each tenant's rate, enforced one request at a time."""

    def __init__(self, default: RateLimit, *, buckets: Buckets) -> None:
        self._default = default
        self._buckets = buckets

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter:
        """The settings' default rate, over Redis when `redis_url` is set, else in memory."""
        default = RateLimit(settings.rate_limit_per_second, settings.rate_limit_burst)
        local = MemoryBuckets(clock=clock)
        target = RedisTarget.from_settings(settings)
        if target is not None:
            client = target.client(timeout=0.5, socket_timeout=0.5)
            return cls(default, buckets=RedisBuckets(client, fallback=local))
        return cls(default, buckets=local)

    async def aclose(self) -> None:
        if isinstance(self._buckets, RedisBuckets):
            await self._buckets.aclose()

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
