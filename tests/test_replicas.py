"""Gateway processes behind one simulator and one real Redis (`redis_url`): a write through
one replica is seen by a read through the other, also across a Redis outage; reads spread
over three replicas make one upstream call each (the shared tier and its leases)."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.simulator import Simulator
from tests.process import Gateway, Start
from tests.server import serve
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow

KEY = "KEYreplicas000000000000000000000"
TOKEN = "replica-test-token-0123456789"
QUERY = "query($id: ID!) { messagingProfile(id: $id) { name } }"
RENAME = "mutation($id: ID!, $name: String!) { updateMessagingProfile(id: $id, input: {name: $name}) { name } }"


@pytest.fixture
def simulator_url() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator()
    simulator.account(KEY)  # seeded before another thread serves it
    with serve(simulator.app) as url:
        yield simulator, url


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.cut()


def tenants_file(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "tenants.json"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    tenant = {"id": "acme", "token_sha256": digest, "telnyx_api_key": KEY, **extra}
    path.write_text(json.dumps({"tenants": [tenant]}))
    return path


async def graphql(gateway: Gateway, query: str, **variables: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def name_via(gateway: Gateway, profile_id: str) -> object:
    body = await graphql(gateway, QUERY, id=profile_id)
    return body["data"]


async def redis_gauge(gateway: Gateway) -> str:
    async with httpx.AsyncClient(base_url=gateway.metrics_url) as client:
        metrics = (await client.get("/metrics")).text
    values = [
        line.rsplit(" ", 1)[1]
        for line in metrics.splitlines()
        if line.startswith("gateway_redis_up{")
    ]
    assert len(values) == 1, metrics
    return values[0]


async def readyz(gateway: Gateway) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        body: dict[str, object] = (await client.get("/readyz")).json()
        return body


async def test_a_write_on_one_replica_is_read_on_the_other_across_a_redis_outage(
    start_gateway: Start,
    tmp_path: Path,
    simulator_url: tuple[Simulator, str],
    redis_proxy: TcpProxy,
    redis_url: str,
) -> None:
    simulator, upstream = simulator_url
    profile_id = next(iter(simulator.account(KEY).profiles))
    common = {
        "GATEWAY_DEMO": "false",
        "GATEWAY_TENANTS_FILE": str(tenants_file(tmp_path)),
        "GATEWAY_TELNYX_BASE_URL": f"{upstream}/v2",
        "GATEWAY_CACHE_TTL_PROFILES": "300",
        "GATEWAY_REDIS_DOWN_TTL": "0.5",
    }
    replica_a = await asyncio.to_thread(start_gateway, GATEWAY_REDIS_URL=redis_url, **common)
    replica_b = await asyncio.to_thread(
        start_gateway,
        GATEWAY_REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}/0",
        OTEL_SDK_DISABLED="false",
        OTEL_TRACES_EXPORTER="none",
        **common,
    )
    assert (await readyz(replica_b))["redis"] == "up"

    # Both replicas cache the profile.
    for replica in (replica_a, replica_b, replica_b):
        assert await name_via(replica, profile_id) == {"messagingProfile": {"name": "Alerts"}}
    reads = len(simulator.requests)

    await graphql(replica_a, RENAME, id=profile_id, name="Renamed on A")
    assert await name_via(replica_b, profile_id) == {"messagingProfile": {"name": "Renamed on A"}}
    # B read Telnyx again because A's write evicted B's entry, not because it expired.
    assert len(simulator.requests) == reads + 2

    # Redis goes away from B: B keeps serving, says so, and caches only briefly.
    await redis_proxy.cut()
    for _ in range(100):
        if (await readyz(replica_b))["redis"] == "down":
            break
        await asyncio.sleep(0.05)
    assert await readyz(replica_b) == {
        "status": "ready",
        "checks": {"tenants": True, "upstream_client": True},
        "redis": "down",
    }
    assert await redis_gauge(replica_b) == "0.0"
    assert await name_via(replica_b, profile_id) == {"messagingProfile": {"name": "Renamed on A"}}
    await graphql(replica_a, RENAME, id=profile_id, name="Renamed during the outage")
    await asyncio.sleep(0.6)
    assert await name_via(replica_b, profile_id) == {
        "messagingProfile": {"name": "Renamed during the outage"}
    }

    # Redis comes back: B resubscribes and A's next write reaches it again.
    await redis_proxy.restore()
    for _ in range(100):
        if (await readyz(replica_b))["redis"] == "up":
            break
        await asyncio.sleep(0.05)
    assert (await readyz(replica_b))["redis"] == "up"
    await graphql(replica_a, RENAME, id=profile_id, name="Renamed after the outage")
    assert await name_via(replica_b, profile_id) == {
        "messagingProfile": {"name": "Renamed after the outage"}
    }
    assert await redis_gauge(replica_b) == "1.0"


async def test_reads_spread_over_three_replicas_make_one_upstream_call_each(
    start_gateway: Start,
    tmp_path: Path,
    simulator_url: tuple[Simulator, str],
    redis_url: str,
) -> None:
    simulator, upstream = simulator_url
    account = simulator.account(KEY)
    simulator.faults.latency = 0.05  # so that cold reads on the replicas overlap
    profiles = list(account.profiles)
    reads = [
        *(f"/v2/messaging_profiles/{profile_id}" for profile_id in profiles),
        f"/v2/messaging_profiles/{profiles[0]}/phone_numbers",
        f"/v2/short_codes/{next(iter(account.short_codes))}",
        "/v2/short_codes",
        "/v2/messaging_profiles?page[size]=2",
        "/v2/messaging_profiles?page[number]=2&page[size]=2",
    ]
    env = {
        "GATEWAY_DEMO": "false",
        "GATEWAY_TENANTS_FILE": str(
            tenants_file(tmp_path, rate_limit={"per_second": 1000, "burst": 1000})
        ),
        "GATEWAY_TELNYX_BASE_URL": f"{upstream}/v2",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_CACHE_TTL_PROFILES": "300",
        "GATEWAY_CACHE_TTL_SHORT_CODES": "300",
        "GATEWAY_CACHE_TTL_PHONE_NUMBERS": "300",
        # A busy test machine must not turn a slow Redis answer into a second call.
        "GATEWAY_CACHE_SHARED_TIMEOUT": "2",
    }
    replicas = [await asyncio.to_thread(start_gateway, **env) for _ in range(3)]
    clients = [
        httpx.AsyncClient(
            base_url=replica.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        for replica in replicas
    ]
    simulator.requests.clear()
    answers: list[tuple[int, str, str]] = []
    try:
        for _ in range(4):
            # Each read asked of every replica at once, then again: cold, then warm.
            asked = [
                clients[n % 3].get(path)
                for n, path in enumerate(path for path in reads for _ in range(3))
            ]
            answers += [
                (response.status_code, response.request.url.path, response.headers["x-cache"])
                for response in await asyncio.gather(*asked)
            ]
    finally:
        for client in clients:
            await client.aclose()

    assert {status for status, _, _ in answers} == {200}
    calls = collections.Counter((record.path, record.query) for record in simulator.requests)
    assert len(calls) == len(reads)
    assert set(calls.values()) == {1}
    # After the first round every read is a hit, whichever replica is asked.
    assert {cache for _, _, cache in answers[3 * len(reads) :]} == {"HIT"}
