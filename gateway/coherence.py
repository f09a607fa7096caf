"""Cross-replica cache coherence over Redis pub/sub.

Every write's invalidation is published; every replica evicts the same tenant-scoped
entries from its own cache. When Redis is unreachable the replica keeps serving from its
local cache (the service shortens TTLs meanwhile); on reconnecting it drops its whole
cache, since invalidations published while it was away are lost.

A second channel, on the same connection, carries circuit breaker news: a replica whose
breaker opened says so, and the others open theirs without waiting out deadlines to learn
it. That news is best effort: a replica that misses it learns the outage by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
from redis.exceptions import RedisError

from gateway.redisconn import RedisTarget, prepared

log = logging.getLogger(__name__)

CHANNEL = "telnyx-gateway:invalidations"
CIRCUIT_CHANNEL = "telnyx-gateway:circuit"


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Evict a tenant's entries of each (kind, scope) target; a None scope means all."""

    tenant: str
    targets: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, slots=True)
class CircuitNews:
    """A replica's circuit breaker opened: Telnyx's host as a whole (`tenant` None) or one
    tenant's account, for `open_for` more seconds."""

    tenant: str | None
    open_for: float


class Coherence:
    """Publishes this replica's invalidations and applies the other replicas'."""

    def __init__(
        self,
        target: str | RedisTarget,
        *,
        on_invalidate: Callable[[Invalidation], object],
        on_resync: Callable[[], object],
        channel: str = CHANNEL,
        timeout: float = 0.5,
        retry_delay: float = 1.0,
        on_state: Callable[[bool], object] = lambda up: None,
        on_circuit: Callable[[CircuitNews], object] = lambda news: None,
        circuit_channel: str = CIRCUIT_CHANNEL,
    ) -> None:
        self._target = RedisTarget(target) if isinstance(target, str) else target
        self._on_invalidate = on_invalidate
        self._on_resync = on_resync
        self._on_state = on_state
        self._on_circuit = on_circuit
        self._channel = channel
        self._circuit_channel = circuit_channel
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._origin = uuid.uuid4().hex
        self._publisher = self._target.client(timeout=timeout, socket_timeout=timeout)
        self._listener: asyncio.Task[None] | None = None
        self._announcing: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self._up = False
        self._was_down = False

    @property
    def up(self) -> bool:
        """Whether invalidations currently reach the other replicas."""
        return self._up

    def _set_up(self, up: bool) -> None:
        if up == self._up:
            return
        self._up = up
        if up:
            log.info("redis reachable: cross-replica invalidation on")
        else:
            self._was_down = True
            log.warning("redis unreachable: serving from the local cache with short TTLs")
        self._on_state(up)

    async def start(self) -> None:
        """Subscribe in the background; wait briefly so the first requests are coherent."""
        self._listener = asyncio.create_task(self._listen(), name="redis-coherence")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), self._timeout * 4)

    async def stop(self) -> None:
        for task in list(self._announcing):
            task.cancel()
        await asyncio.gather(*self._announcing, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._publisher.aclose()

    async def publish(self, tenant: str, targets: Sequence[tuple[str, str | None]]) -> None:
        """Tell the other replicas; a failure is logged and marks Redis as down."""
        message = orjson.dumps({"origin": self._origin, "tenant": tenant, "targets": targets})
        try:
            await self._publisher.publish(self._channel, message)
        except (RedisError, OSError) as exc:
            log.warning("could not publish an invalidation: %s", type(exc).__name__)
            self._set_up(False)

    def announce(self, news: CircuitNews) -> None:
        """Tell the other replicas, in the background: the call that opened the breaker
        does not wait for Redis."""
        task = asyncio.get_running_loop().create_task(self._announce(news))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _announce(self, news: CircuitNews) -> None:
        message = orjson.dumps(
            {"origin": self._origin, "tenant": news.tenant, "open_for": news.open_for}
        )
        try:
            await self._publisher.publish(self._circuit_channel, message)
        except (RedisError, OSError) as exc:
            log.warning("could not announce a circuit breaker change: %s", type(exc).__name__)
            self._set_up(False)

    async def _listen(self) -> None:
        while True:
            client = self._target.client(timeout=self._timeout, health_check_interval=5)
            pubsub = None
            try:
                pubsub = (await prepared(client)).pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self._channel, self._circuit_channel)
                if self._was_down:
                    # Invalidations sent while we were away are lost: start afresh.
                    self._on_resync()
                    self._was_down = False
                self._set_up(True)
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["channel"] == self._circuit_channel.encode():
                        self._hear(message["data"])
                    else:
                        self._apply(message["data"])
            except (RedisError, OSError) as exc:
                log.debug("redis subscription lost: %s", type(exc).__name__)
                self._set_up(False)
                self._was_down = True
            finally:
                with contextlib.suppress(Exception):
                    if pubsub is not None:
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
            await asyncio.sleep(self._retry_delay)

    def _apply(self, data: bytes) -> None:
        try:
            fields = orjson.loads(data)
            if fields.get("origin") == self._origin:
                return
            tenant = fields["tenant"]
            targets = tuple(
                (str(kind), None if scope is None else str(scope))
                for kind, scope in fields["targets"]
            )
            if not isinstance(tenant, str):
                raise TypeError(tenant)
            invalidation = Invalidation(tenant, targets)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            log.warning("ignored a malformed invalidation message")
            return
        self._on_invalidate(invalidation)

    def _hear(self, data: bytes) -> None:
        try:
            fields = orjson.loads(data)
            if fields.get("origin") == self._origin:
                return
            tenant, open_for = fields["tenant"], fields["open_for"]
            if tenant is not None and not isinstance(tenant, str):
                raise TypeError(tenant)
            if isinstance(open_for, bool) or not isinstance(open_for, int | float):
                raise TypeError(open_for)
            news = CircuitNews(tenant, float(open_for))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed circuit breaker message")
            return
        self._on_circuit(news)
