"""The shared tier: successful reads kept in Redis for every replica, and leases that make
identical cold reads on several replicas one upstream call.

Each Redis call is one Lua script, so a read costs one round trip. Keys are made of the
tenant id (in braces: a Redis Cluster keeps a tenant's keys on one slot, which its scripts
need), the read's kind and a digest of its scope and parameters; values hold Telnyx's bytes,
the status and the time they were stored. Neither ever holds a Telnyx key or a tenant token.

Invalidation is a version bump, not a search: every (tenant, kind) has a hash of versions,
one for the whole kind and one per invalidated scope, and every entry is stamped with the
versions it was read under. A write bumps the versions of what it changed (one script,
every target); an entry whose stamp no longer matches is a miss, and a load that began
before the bump cannot store what it read. A version is a number drawn from a per-tenant
sequence, never reused, so a versions hash may expire (`horizon` after its last bump, when
every entry stamped under it has expired too).

Each tenant's entries are kept within a byte budget: a sorted set of its keys by expiry and
a hash of their sizes. An entry over the per-entry cap, or one the budget has no room for,
is simply not shared.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import orjson
from redis.exceptions import RedisError

from gateway.redisconn import RedisTarget

log = logging.getLogger(__name__)

PREFIX = "telnyx-gateway:l2"

# KEYS: entry, versions, tenant, lease. ARGV: scope field ("" for none), lease token ("":
# do not take it), lease ms, fresh ms, whether the caller waited on another's lease.
# Returns {stamp, state, age ms, value}: state is hit, lease (taken), wait (another holds
# it), failed (its holder's load failed: only to a caller that waited) or free.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch = redis.call('HGET', KEYS[3], 'epoch') or '0'
local v = redis.call('HMGET', KEYS[2], '*', ARGV[1])
local stamp = epoch .. ':' .. (v[1] or '0') .. ':' .. (v[2] or '0')
local got = redis.call('HMGET', KEYS[1], 'at', 'ver', 'val')
local age, val = -1, ''
if got[1] and got[2] == stamp then
  age = now - tonumber(got[1])
  val = got[3]
  if age < tonumber(ARGV[4]) then return {stamp, 'hit', age, val} end
end
local lease = redis.call('GET', KEYS[4])
if lease == 'failed' and ARGV[5] == '1' then return {stamp, 'failed', age, val} end
if ARGV[2] ~= '' and (not lease or lease == 'failed') then
  redis.call('SET', KEYS[4], ARGV[2], 'PX', ARGV[3])
  return {stamp, 'lease', age, val}
end
if lease then return {stamp, 'wait', age, val} end
return {stamp, 'free', age, val}
"""

# KEYS: entry, versions, tenant, lease, budget (sorted set), sizes (hash). ARGV: scope
# field, stamp, value, ms to keep, size, tenant budget, horizon ms, lease token.
# Returns 1 when stored, 0 when refused (invalidated meanwhile, or no room).
_STORE = """
local epoch = redis.call('HGET', KEYS[3], 'epoch') or '0'
local v = redis.call('HMGET', KEYS[2], '*', ARGV[1])
local stamp = epoch .. ':' .. (v[1] or '0') .. ':' .. (v[2] or '0')
if ARGV[8] ~= '' and redis.call('GET', KEYS[4]) == ARGV[8] then redis.call('DEL', KEYS[4]) end
if stamp ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local freed = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 64)) do
  freed = freed + tonumber(redis.call('HGET', KEYS[6], member) or '0')
  redis.call('HDEL', KEYS[6], member)
  redis.call('ZREM', KEYS[5], member)
end
local old = tonumber(redis.call('HGET', KEYS[6], KEYS[1]) or '0')
local total = tonumber(redis.call('HGET', KEYS[6], '*total') or '0') - freed
local size = tonumber(ARGV[5])
if total - old + size > tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[6], '*total', total)
  return 0
end
redis.call('HSET', KEYS[1], 'at', now, 'ver', stamp, 'val', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), KEYS[1])
redis.call('HSET', KEYS[6], KEYS[1], size, '*total', total - old + size)
redis.call('PEXPIRE', KEYS[5], ARGV[7])
redis.call('PEXPIRE', KEYS[6], ARGV[7])
return 1
"""

# KEYS: lease. ARGV: token, lease ms, "1" to renew / "failed" / "" to release.
_LEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '1' then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if ARGV[3] == 'failed' then
  redis.call('SET', KEYS[1], 'failed', 'PX', ARGV[2])
  return 1
end
return redis.call('DEL', KEYS[1])
"""

# KEYS: tenant, then the versions hash of each target. ARGV: horizon ms, then each target's
# field ("*" for the whole kind), or nothing after the horizon to bump the tenant's epoch.
_INVALIDATE = """
if #KEYS == 1 then
  redis.call('HSET', KEYS[1], 'epoch', redis.call('HINCRBY', KEYS[1], 'seq', 1))
  return 1
end
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[i], redis.call('HINCRBY', KEYS[1], 'seq', 1))
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
return #KEYS - 1
"""


def digest(*parts: object) -> str:
    """A short, stable digest of a read's scope or parameters: never the values themselves."""
    text = orjson.dumps([repr(part) for part in parts])
    return hashlib.sha256(text).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Place:
    """Where one read lives in Redis."""

    entry: str
    versions: str
    tenant: str
    lease: str
    budget: str
    sizes: str
    scope_field: str

    @classmethod
    def of(
        cls,
        prefix: str,
        tenant: str,
        kind: str,
        scope: str | None,
        params: tuple[Hashable, ...],
        account: str = "",
    ) -> Place:
        base = f"{prefix}:{{{tenant}}}"
        # The account (which upstream, with which key: a digest) keeps a read made with a
        # tenant's old key from being served once it has another.
        read = digest(account, scope, *params)
        return cls(
            entry=f"{base}:e:{kind}:{read}",
            versions=f"{base}:v:{kind}",
            tenant=f"{base}:t",
            lease=f"{base}:l:{kind}:{read}",
            budget=f"{base}:z",
            sizes=f"{base}:n",
            scope_field="" if scope is None else digest(scope),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """What Redis holds for a read: the versions it is read under, whether its lease was
    taken (or is held by another, or failed), and the entry with its age when there is one."""

    stamp: bytes
    state: str  # hit, lease, wait, failed, free
    age: float  # seconds; -1 without an entry
    value: bytes


class Unavailable(Exception):  # noqa: N818  -- a signal inside this package, not an error
    """Redis did not answer in time, or is being left alone after a failure."""


class Shelf:
    """The Redis side of the shared tier: one script per call, each within `timeout`.

    After a failure Redis is left alone for `retry_delay` seconds (every read's call raises
    `Unavailable` at once), so that an outage costs one timeout, not one per read. An
    invalidation is tried all the same: Redis may be back, and a write it misses leaves the
    other replicas its old value to share.
    """

    def __init__(
        self,
        target: RedisTarget,
        *,
        prefix: str = PREFIX,
        timeout: float = 0.25,
        retry_delay: float = 1.0,
        entry_max_bytes: int,
        tenant_max_bytes: int,
        horizon: float,
        lease: float = 1.0,
    ) -> None:
        self.prefix = prefix
        self.entry_max_bytes = entry_max_bytes
        self.tenant_max_bytes = tenant_max_bytes
        self.horizon_ms = max(1, int(horizon * 1000))
        self.lease = lease
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._down_until = 0.0
        self._client = target.client(timeout=timeout, socket_timeout=timeout)
        self._claim = self._client.register_script(_CLAIM)
        self._store = self._client.register_script(_STORE)
        self._lease = self._client.register_script(_LEASE)
        self._invalidate = self._client.register_script(_INVALIDATE)

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def place(
        self,
        tenant: str,
        kind: str,
        scope: str | None,
        params: tuple[Hashable, ...],
        account: str = "",
    ) -> Place:
        return Place.of(self.prefix, tenant, kind, scope, params, account)

    async def _run(
        self,
        script: object,
        keys: Sequence[str],
        args: Sequence[object],
        *,
        rested: bool = True,
    ) -> object:
        if rested and not self.up:
            raise Unavailable
        try:
            # socket_timeout bounds each read; this bounds the whole call (connect included).
            async with asyncio.timeout(self._timeout):
                return await script(keys=list(keys), args=list(args))  # type: ignore[operator]
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + self._retry_delay
            # At most one line per retry delay: calls meanwhile do not reach Redis.
            log.warning(
                "shared cache tier unavailable (%s): reads are served by this replica alone "
                "for %g s",
                type(exc).__name__,
                self._retry_delay,
            )
            raise Unavailable from exc

    async def claim(
        self, place: Place, *, fresh: float, token: str = "", waited: bool = False
    ) -> Claim:
        """The read's entry when fresh (`fresh` seconds), else its lease taken with `token`
        when free (never when `token` is empty), else who holds it."""
        reply = await self._run(
            self._claim,
            (place.entry, place.versions, place.tenant, place.lease),
            (
                place.scope_field,
                token,
                int(self.lease * 1000),
                int(fresh * 1000),
                "1" if waited else "0",
            ),
        )
        if not isinstance(reply, list) or len(reply) != 4:
            raise Unavailable
        stamp, state, age, value = (bytes(reply[0]), bytes(reply[1]), int(reply[2]), reply[3])
        return Claim(stamp, state.decode(), -1.0 if age < 0 else age / 1000, bytes(value))

    async def store(
        self, place: Place, stamp: bytes, value: bytes, *, keep: float, token: str = ""
    ) -> bool:
        """Share `value` for `keep` seconds (at most the horizon) unless what it was read
        under has been invalidated since, it is over the entry cap, or the tenant's budget
        has no room; releases the lease held with `token` either way."""
        size = len(value) + len(place.entry) + 64  # the hash's fields and bookkeeping
        if size > self.entry_max_bytes:
            value, size = b"", -1
        keep_ms = max(1, min(int(keep * 1000), self.horizon_ms))
        reply = await self._run(
            self._store,
            (
                place.entry,
                place.versions,
                place.tenant,
                place.lease,
                place.budget,
                place.sizes,
            ),
            (
                place.scope_field,
                # Too large: only the lease is released (an impossible stamp stores nothing).
                stamp if size >= 0 else b"-",
                value,
                keep_ms,
                size,
                self.tenant_max_bytes,
                self.horizon_ms,
                token,
            ),
        )
        return reply == 1

    async def renew(self, place: Place, token: str) -> bool:
        return (
            await self._run(self._lease, (place.lease,), (token, int(self.lease * 1000), "1")) == 1
        )

    async def release(self, place: Place, token: str, *, failed: bool = False) -> None:
        """Free the lease; `failed` leaves a marker for a lease's length, so that those
        waiting on it share the failure rather than each trying again."""
        await self._run(
            self._lease, (place.lease,), (token, int(self.lease * 1000), "failed" if failed else "")
        )

    async def invalidate(self, tenant: str, targets: Sequence[tuple[str, str | None]]) -> None:
        """Bump the versions of each (kind, scope) target; no targets: the tenant's epoch,
        which makes every entry of the tenant a miss."""
        base = f"{self.prefix}:{{{tenant}}}"
        keys = [f"{base}:t", *(f"{base}:v:{kind}" for kind, _ in targets)]
        fields = ["*" if scope is None else digest(scope) for _, scope in targets]
        await self._run(self._invalidate, keys, (self.horizon_ms, *fields), rested=False)

    async def aclose(self) -> None:
        await self._client.aclose()
