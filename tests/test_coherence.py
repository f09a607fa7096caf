"""Cross-replica invalidation over a real Redis (the `redis_url` fixture: the machine's, or
one the tests start). These tests never skip."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from gateway.coherence import Coherence, Invalidation
from tests.tcpproxy import TcpProxy


class Replica:
    def __init__(self, url: str, channel: str) -> None:
        self.seen: list[Invalidation] = []
        self.resyncs = 0
        self.states: list[bool] = []
        self.coherence = Coherence(
            url,
            on_invalidate=self.seen.append,
            on_resync=self._resync,
            on_state=self.states.append,
            channel=channel,
            timeout=0.3,
            retry_delay=0.05,
        )

    def _resync(self) -> None:
        self.resyncs += 1


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
def channel() -> str:
    return f"test-invalidations-{uuid.uuid4().hex}"


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.cut()


def via(proxy: TcpProxy, redis_url: str) -> str:
    path = urlsplit(redis_url).path or "/0"
    return f"redis://127.0.0.1:{proxy.port}{path}"


async def test_an_invalidation_reaches_the_other_replica_and_not_its_sender(
    channel: str, redis_url: str
) -> None:
    a, b = Replica(redis_url, channel), Replica(redis_url, channel)
    await a.coherence.start()
    await b.coherence.start()
    try:
        assert (a.coherence.up, b.coherence.up) == (True, True), "is Redis running?"
        await a.coherence.publish("acme", (("messaging_profile", "p1"),))
        await eventually(lambda: b.seen == [Invalidation("acme", (("messaging_profile", "p1"),))])
        await asyncio.sleep(0.05)
        assert a.seen == []
    finally:
        await a.coherence.stop()
        await b.coherence.stop()


async def test_an_outage_is_survived_and_the_cache_is_resynced_after_it(
    channel: str, proxy: TcpProxy, redis_url: str
) -> None:
    a, b = Replica(via(proxy, redis_url), channel), Replica(redis_url, channel)
    await a.coherence.start()
    await b.coherence.start()
    try:
        assert a.coherence.up
        await proxy.cut()
        await eventually(lambda: not a.coherence.up)
        # Published while A is away: A never hears of it, so it must resync on return.
        await b.coherence.publish("acme", (("short_codes", None),))
        # A's own publish fails quietly instead of failing the write.
        await a.coherence.publish("acme", (("messaging_profiles", None),))
        await proxy.restore()
        await eventually(lambda: a.coherence.up)
        assert a.resyncs == 1
        assert a.states == [True, False, True]
        await b.coherence.publish("acme", (("phone_numbers", None),))
        await eventually(lambda: a.seen == [Invalidation("acme", (("phone_numbers", None),))])
    finally:
        await a.coherence.stop()
        await b.coherence.stop()


async def test_starting_without_redis_serves_on_and_connects_later(
    channel: str, proxy: TcpProxy, redis_url: str
) -> None:
    await proxy.cut()
    a = Replica(via(proxy, redis_url), channel)
    await a.coherence.start()
    try:
        assert not a.coherence.up
        await proxy.restore()
        await eventually(lambda: a.coherence.up)
        assert a.resyncs == 1
    finally:
        await a.coherence.stop()


async def test_malformed_messages_are_ignored(channel: str, redis_url: str) -> None:
    import redis.asyncio as redis

    a = Replica(redis_url, channel)
    await a.coherence.start()
    raw = redis.Redis.from_url(redis_url)
    try:
        await raw.publish(channel, b"not json")
        await raw.publish(channel, b'{"tenant": "acme"}')
        await raw.publish(
            channel, b'{"origin": "x", "tenant": "acme", "targets": [["short_code", "s1"]]}'
        )
        await eventually(lambda: a.seen == [Invalidation("acme", (("short_code", "s1"),))])
    finally:
        await raw.aclose()
        await a.coherence.stop()
