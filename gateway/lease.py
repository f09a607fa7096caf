"""Reads through the shared tier (`gateway.tier`): an L1 miss asks Redis once; a cold read
takes the read's lease and loads, or waits for the replica that holds it.

The lease is short (a second) and renewed while its load runs, never past the upstream
deadline, so a holder that dies frees it within a second, and one that hangs frees it when
its call must have ended. Waiters poll the entry (one script: the entry, else the lease,
which they take when it is free) until the holder stores its answer, fails (they share the
failure, as the callers of one in-flight load do on one replica), or vanishes (one of them
takes the lease and loads).

Redis being slow or gone never fails a read: every call is bounded, and without an answer
the read is loaded here, as it would be without the shared tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.cache import Key, Outcome
from gateway.tier import Claim, Shelf, Unavailable

log = logging.getLogger(__name__)


class SharedTier:
    """The replicas' shared cache and leases, for one `TenantCache`.

    `encode(key, value)` and `decode(key, data)` turn a read's value into bytes and back;
    `failure(kind)` is the error waiters get when the lease's holder failed with one of
    the read's `stale_on` errors. `wait` bounds a waiter (the upstream deadline);
    `namespace` (the upstream's URL) keeps apart gateways that share a Redis but not Telnyx.
    """

    def __init__(
        self,
        shelf: Shelf,
        *,
        encode: Callable[[Key, Any], bytes],
        decode: Callable[[Key, bytes], Any],
        failure: Callable[[str], BaseException],
        stale_window: float,
        wait: float,
        poll: float = 0.02,
        namespace: str = "",
    ) -> None:
        self.shelf = shelf
        self._namespace = namespace
        self._encode = encode
        self._decode = decode
        self._failure = failure
        self._stale_window = stale_window
        self._wait = wait
        self._poll = poll
        # Tenants whose invalidation could not reach Redis: their whole shared tier is
        # dropped (an epoch bump) before it is used again.
        self._pending: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()

    async def read(
        self,
        key: Key,
        load: Callable[[], Awaitable[Any]],
        *,
        ttl: float,
        bypass: bool,
        stale_on: tuple[type[BaseException], ...],
        serve_stale: bool = True,
        account: str = "",
    ) -> tuple[Any, Outcome, float]:
        """`key`'s value, its outcome and its age in seconds: shared (from Redis), or
        loaded here (miss, bypass), or, with `serve_stale`, stale from Redis when `load`
        fails with `stale_on` (the errors waiters on this load share too). `account` tells
        apart reads of one tenant made with different keys."""
        loaded = Outcome.BYPASS if bypass else Outcome.MISS
        place = self.shelf.place(
            key.tenant, key.kind, key.scope, key.params, f"{self._namespace}\0{account}"
        )
        token = "" if bypass else secrets.token_hex(8)
        try:
            await self._flush()
            claim = await self.shelf.claim(place, fresh=0 if bypass else ttl, token=token)
        except Unavailable:
            return await load(), loaded, 0.0
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._wait + self.shelf.lease
        while True:
            if claim.state == "hit":
                value = self._decoded(key, claim)
                if value is not None:
                    return value, Outcome.SHARED, claim.age
                claim = Claim(claim.stamp, "free", -1.0, b"")
            if claim.state == "failed":
                return self._stale(key, claim, serve_stale, self._failure(key.kind))
            # A caller that asked for fresh data does not wait for another's.
            if claim.state != "wait" or bypass or loop.time() >= give_up:
                break
            await asyncio.sleep(self._poll)
            try:
                claim = await self.shelf.claim(place, fresh=ttl, token=token, waited=True)
            except Unavailable:
                claim = Claim(claim.stamp, "free", -1.0, b"")
                token = ""
        holding = claim.state == "lease"
        renewing = loop.create_task(self._renew(place, token)) if holding else None
        try:
            value = await load()
        except BaseException as exc:
            if holding:
                self._later(self.shelf.release(place, token, failed=isinstance(exc, stale_on)))
            if isinstance(exc, stale_on):
                return self._stale(key, claim, serve_stale, exc)
            raise
        finally:
            if renewing is not None:
                renewing.cancel()
        data = self._encode(key, value)
        with contextlib.suppress(Unavailable):
            await self.shelf.store(
                place,
                claim.stamp,
                data,
                keep=ttl + self._stale_window,
                token=token if holding else "",
            )
        return value, loaded, 0.0

    def _decoded(self, key: Key, claim: Claim) -> Any:
        try:
            return self._decode(key, claim.value)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored an undecodable shared entry of %s", key.kind)
            return None

    def _stale(
        self, key: Key, claim: Claim, serve: bool, exc: BaseException
    ) -> tuple[Any, Outcome, float]:
        """The entry Redis still had, when it may be served and is in the stale window;
        else `exc` is raised."""
        if serve and claim.age >= 0 and claim.value:
            value = self._decoded(key, claim)
            if value is not None:
                return value, Outcome.STALE, claim.age
        raise exc

    async def _renew(self, place: Any, token: str) -> None:
        """Keep the lease while the load runs, until the upstream deadline at most."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._wait - self.shelf.lease
        while loop.time() + self.shelf.lease / 3 < until:
            await asyncio.sleep(self.shelf.lease / 3)
            with contextlib.suppress(Unavailable):
                if not await self.shelf.renew(place, token):
                    return

    def _later(self, call: Awaitable[Any]) -> None:
        """Run a best-effort Redis call without making the caller wait for it."""

        async def run() -> None:
            with contextlib.suppress(Unavailable):
                await call

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def invalidate(self, tenant: str, targets: Sequence[tuple[str, str | None]]) -> None:
        """Make the shared entries of the targets misses; while Redis is away, remember to
        drop the tenant's whole shared tier when it returns."""
        try:
            # Tried even while reads leave Redis alone after a failure: if it is back, the
            # other replicas must not be left the old value to share.
            await self._flush(now=True)
            await self.shelf.invalidate(tenant, targets)
        except Unavailable:
            self._pending.add(tenant)

    async def _flush(self, *, now: bool = False) -> None:
        """Bump the epoch of each tenant whose invalidation was lost; unless `now`, not while
        reads leave Redis alone (`Unavailable` then, as the read's own call would be)."""
        if self._pending and not (now or self.shelf.up):
            raise Unavailable
        for tenant in list(self._pending):
            await self.shelf.invalidate(tenant, ())
            self._pending.discard(tenant)

    async def resync(self) -> None:
        """Drop what the invalidations lost while Redis was away made unsafe (called when
        Redis is back)."""
        with contextlib.suppress(Unavailable):
            await self._flush(now=True)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.shelf.aclose()
