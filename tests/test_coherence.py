"""Cross-replica invalidation over a real Redis (the `redis_url` fixture: the machine's, or
one the tests start). These tests never skip."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest

from gateway.coherence import CircuitNews, Coherence, Invalidation
from tests.tcpproxy import TcpProxy


class Replica:
    def __init__(self, url: str, channel: str) -> None:
        self.seen: list[Invalidation] = []
        self.resyncs = 0
        self.states: list[bool] = []
        self.news: list[CircuitNews] = []
        self.coherence = Coherence(
            url,
            on_invalidate=self.seen.append,
            on_resync=self._resync,
            on_state=self.states.append,
            on_circuit=self.news.append,
            channel=channel,
            circuit_channel=f"{channel}:circuit",
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


async def test_circuit_news_reaches_the_other_replicas_on_its_own_channel(
    channel: str, redis_url: str
) -> None:
    import redis.asyncio as redis

    a, b = Replica(redis_url, channel), Replica(redis_url, channel)
    await a.coherence.start()
    await b.coherence.start()
    raw = redis.Redis.from_url(redis_url)
    try:
        a.coherence.announce(CircuitNews(None, 9.5))
        a.coherence.announce(CircuitNews("acme", 3.0))
        await eventually(lambda: len(b.news) == 2)
        # Two announcements are published independently, in either order.
        assert set(b.news) == {CircuitNews(None, 9.5), CircuitNews("acme", 3.0)}
        for malformed in (
            b"not json",
            b'{"origin": "x", "tenant": 7, "open_for": 1}',
            b'{"origin": "x", "tenant": null, "open_for": "soon"}',
            b'{"origin": "x", "tenant": null, "open_for": true}',
            b'{"origin": "x", "tenant": null}',
        ):
            await raw.publish(f"{channel}:circuit", malformed)
        await raw.publish(f"{channel}:circuit", b'{"origin": "x", "tenant": "b", "open_for": 2}')
        await eventually(lambda: len(b.news) == 3)
        assert b.news[2] == CircuitNews("b", 2.0)
        await asyncio.sleep(0.05)
        assert (a.news, a.seen, b.seen) == ([CircuitNews("b", 2.0)], [], [])
    finally:
        await raw.aclose()
        await a.coherence.stop()
        await b.coherence.stop()
