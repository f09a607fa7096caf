"""One budget of upstream calls per Telnyx account, shared by every replica.

Telnyx limits each account's request rate, whichever replica sends the requests. So every
attempt the client makes (retries included) first takes a token from its account's bucket,
kept in Redis with the rate limiter's script (`gateway/ratelimit.py`); a call waits for its
turn up to its deadline and otherwise fails unsent (`UpstreamBudgetError`). Telnyx's own 429
pauses the account: a Redis key that lives for the `Retry-After` it sent, and that the
bucket's script honours on every replica.

An account is named by a digest of its API key (tenants that share a key are one account),
never by the key itself. While Redis is unreachable each replica keeps a bucket of its own
with its share of the budget (the rate divided by the replicas), as the rate limiter and the
invalidations fall back to local work.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider
from redis.exceptions import RedisError

from gateway import __version__
from gateway.errors import UpstreamBudgetError
from gateway.ratelimit import TAKE, MemoryBuckets
from gateway.redisconn import Client
from gateway.telemetry import Tally
from gateway.tenancy import RateLimit, Tenant

log = logging.getLogger(__name__)
SCOPE = "gateway.telnyx.budget"

PREFIX = "telnyx-gateway:budget:"
# A Telnyx that asks for a longer pause than this is not obeyed beyond it, as the SDKs do.
MAX_PAUSE = 60.0
_DIGEST_DOMAIN = b"telnyx-gateway:account:"


def account_of(tenant: Tenant) -> str:
    """The account's name in Redis: a digest of its Telnyx key, in a domain of its own."""
    key = tenant.telnyx_api_key.get_secret_value().encode()
    return hashlib.sha256(_DIGEST_DOMAIN + key).hexdigest()[:32]


class UpstreamBudget:
    """Turns to call Telnyx, per account; `take` before every attempt, `pause` on a 429.

    `default` applies to tenants without an `upstream_budget` of their own (None: no budget
    for them). `client` is the shared Redis, or None when the replicas run without one.
    """

    def __init__(
        self,
        default: RateLimit | None,
        *,
        client: Client | None = None,
        replicas: int = 1,
        prefix: str = PREFIX,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._default = default
        self._redis = client
        self._script = None if client is None else client.register_script(TAKE)
        self._replicas = replicas
        self._prefix = prefix
        self._clock = clock
        self._sleep = sleep
        self._local = MemoryBuckets(clock=clock)
        self._paused: dict[str, float] = {}  # account -> end of its pause (this replica's clock)
        # One waiter per account and replica asks Redis at a time; the others queue here.
        self._queues: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._failing = False
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self._refusals = Tally(
            meter,
            "gateway.upstream.budget.refusals",
            labels=("tenant_id",),
            unit="{call}",
            description="Upstream calls refused unsent: their account's turn came too late.",
        )
        self._pauses = Tally(
            meter,
            "gateway.upstream.budget.pauses",
            labels=("tenant_id",),
            unit="{pause}",
            description="Telnyx 429s that paused an account on every replica.",
        )

    def rate(self, tenant: Tenant) -> RateLimit | None:
        return tenant.upstream_budget or self._default

    def share(self, rate: RateLimit) -> RateLimit:
        """This replica's part of `rate` while the replicas cannot share one bucket."""
        return RateLimit(rate.per_second / self._replicas, max(1, rate.burst // self._replicas))

    async def take(self, tenant: Tenant, *, deadline: float) -> None:
        """Wait for the account's next turn, until `deadline` (on the client's clock);
        `UpstreamBudgetError` when it would come later."""
        rate = self.rate(tenant)
        if rate is None:
            return
        account = account_of(tenant)
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = asyncio.Lock()
        wait = 1.0 / rate.per_second
        try:
            async with asyncio.timeout(max(deadline - self._clock(), 0.0)), queue:
                while True:
                    wait = await self._turn(account, rate)
                    if wait <= 0:
                        return
                    if self._clock() + wait > deadline:
                        break
                    await self._sleep(wait)
        except TimeoutError:
            pass  # the deadline passed while queued behind this replica's other calls
        self._refusals.add((tenant.id,))
        raise UpstreamBudgetError(wait)

    async def pause(self, tenant: Tenant, seconds: float) -> None:
        """Telnyx answered the account with 429 and asked for `seconds`: no replica sends it
        anything for that long (at most `MAX_PAUSE`)."""
        if self.rate(tenant) is None or not seconds > 0:
            return
        seconds = min(seconds, MAX_PAUSE)
        self._pauses.add((tenant.id,))
        account = account_of(tenant)
        until = self._clock() + seconds
        self._paused[account] = max(self._paused.get(account, 0.0), until)
        if self._redis is None:
            return
        try:
            key, millis = self._key(account, "pause"), max(1, round(seconds * 1000))
            # Never shortens a longer pause another replica set.
            if not await self._redis.set(key, b"1", px=millis, nx=True):
                await self._redis.pexpire(key, millis, gt=True)
        except (RedisError, OSError) as exc:
            self._down(exc)

    async def _turn(self, account: str, rate: RateLimit) -> float:
        if self._script is not None:
            try:
                wait = await self._script(
                    keys=[self._key(account, "tokens"), self._key(account, "pause")],
                    args=[rate.per_second, rate.burst],
                )
            except (RedisError, OSError) as exc:
                self._down(exc)
            else:
                if self._failing:
                    log.info("the upstream budget is shared through redis again")
                    self._failing = False
                return float(wait)
        paused = self._paused.get(account, 0.0) - self._clock()
        if paused > 0:
            return paused
        self._paused.pop(account, None)
        return await self._local.take(account, self.share(rate))

    def _key(self, account: str, what: str) -> str:
        # The hash tag keeps an account's two keys in one slot of a Redis Cluster.
        return f"{self._prefix}{{{account}}}:{what}"

    def _down(self, exc: BaseException) -> None:
        if not self._failing:
            log.warning(
                "the upstream budget is split between replicas while redis is unreachable: %s",
                type(exc).__name__,
            )
            self._failing = True

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
