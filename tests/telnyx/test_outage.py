"""A Telnyx outage as an SRE sees it: `python -m gateway serve` in front of a simulator that
hangs (accepts and answers only after the deadline) or refuses, on real sockets.

The issue's table, as assertions: once the breaker is open, a stale value and a cold
read's failure come back without waiting for Telnyx; at most the configured probes reach
the hung upstream per reset period; the gateway recovers within one reset time of Telnyx
coming back; 4xx answers and one tenant's 401s never open it. Durations are checked against
a bound far from both the target (50 ms) and the deadline (2 s); what proves that nothing
waited for Telnyx is the simulator's request log.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.simulator import Simulator
from tests.process import Gateway, Start
from tests.server import serve

pytestmark = pytest.mark.slow

KEYS = {
    "acme": "KEYacmeoutage00000000000000000000",
    "globex": "KEYglobexoutage000000000000000000",
    "initech": "KEYinitechoutage00000000000000000",
    "badkey": "not-a-telnyx-key-0000000000",  # the simulator answers 401
}
TOKENS = {tenant: f"{tenant}-outage-token-0123456789" for tenant in KEYS}
DEADLINE = 2.0
HANG = 2.5  # the simulator answers after this: past the deadline, so it never counts
RESET = 2.0
PROBES = 2
MIN_CALLS = 5
TTL = 0.5
FAST = 0.5  # seconds: ten times the target, a quarter of the deadline
SETTINGS = {
    "GATEWAY_DEMO": "false",
    "GATEWAY_UPSTREAM_DEADLINE": str(DEADLINE),
    "GATEWAY_UPSTREAM_TIMEOUT": str(DEADLINE),
    "GATEWAY_UPSTREAM_CIRCUIT_WINDOW": "10",
    "GATEWAY_UPSTREAM_CIRCUIT_MIN_CALLS": str(MIN_CALLS),
    "GATEWAY_UPSTREAM_CIRCUIT_RESET_TIMEOUT": str(RESET),
    "GATEWAY_UPSTREAM_CIRCUIT_PROBES": str(PROBES),
    "GATEWAY_CACHE_TTL_PROFILES": str(TTL),
    # Metrics on, spans exported nowhere.
    "OTEL_SDK_DISABLED": "false",
    "OTEL_TRACES_EXPORTER": "none",
}
UNAVAILABLE = {
    "code": "10007",
    "title": "Unexpected error",
    "detail": "Telnyx could not be reached; try again later.",
    "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10007"},
}


@pytest.fixture
def simulator() -> Iterator[tuple[Simulator, str]]:
    simulator = Simulator()
    for key in KEYS.values():
        if key.startswith("KEY"):
            simulator.account(key)  # seeded before another thread serves it
    with serve(simulator.app) as url:
        yield simulator, url


@pytest.fixture
def settings(tmp_path: Path, simulator: tuple[Simulator, str]) -> dict[str, str]:
    path = tmp_path / "tenants.json"
    tenants = [
        {
            "id": tenant,
            "token_sha256": hashlib.sha256(TOKENS[tenant].encode()).hexdigest(),
            "telnyx_api_key": key,
        }
        for tenant, key in KEYS.items()
    ]
    path.write_text(json.dumps({"tenants": tenants}))
    _, url = simulator
    return {**SETTINGS, "GATEWAY_TENANTS_FILE": str(path), "GATEWAY_TELNYX_BASE_URL": f"{url}/v2"}


def caller(gateway: Gateway, tenant: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gateway.url,
        headers={"Authorization": f"Bearer {TOKENS[tenant]}"},
        timeout=30,
    )


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


def cold(http: httpx.AsyncClient, n: int) -> Coroutine[Any, Any, httpx.Response]:
    """A read never made before: nothing cached, nothing in flight to join."""
    return http.get("/v2/messaging_profiles", params={"page[number]": n})


async def circuits(gateway: Gateway) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The breaker's samples on /metrics, by name, keyed by their own labels."""
    async with httpx.AsyncClient(base_url=gateway.metrics_url) as http:
        text = (await http.get("/metrics")).text
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("gateway_upstream_circuit_"):
                labels = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if not k.startswith("otel_"))
                )
                samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


async def state(gateway: Gateway, tenant: str | None = None) -> float:
    labels = (("circuit", "host"), ("tenant_id", ""))
    if tenant is not None:
        labels = (("circuit", "account"), ("tenant_id", tenant))
    return (await circuits(gateway))["gateway_upstream_circuit_state"].get(labels, 0.0)


async def reopened(gateway: Gateway) -> float:
    values = (await circuits(gateway))["gateway_upstream_circuit_transitions_total"]
    key = (("circuit", "account"), ("from", "half_open"), ("tenant_id", "acme"), ("to", "open"))
    return values.get(key, 0.0)


def arrivals(simulator: Simulator, tenant: str, since: float, until: float) -> list[float]:
    return sorted(
        record.time
        for record in list(simulator.requests)
        if record.api_key == KEYS[tenant] and since <= record.time < until
    )


async def test_a_hung_telnyx_is_learnt_once_then_answered_at_once(
    start_gateway: Start, settings: dict[str, str], simulator: tuple[Simulator, str]
) -> None:
    sim, _ = simulator
    profile_id = next(iter(sim.account(KEYS["acme"]).profiles))
    gateway = await asyncio.to_thread(start_gateway, **settings)
    async with caller(gateway, "acme") as http:
        profile = await http.get(f"/v2/messaging_profiles/{profile_id}")
        assert (profile.status_code, profile.headers["x-cache"]) == (200, "MISS")
        await asyncio.sleep(TTL + 0.1)  # its TTL has passed: only stale-if-error serves it

        sim.faults.latency = HANG
        hung_at = time.time()
        burst = await asyncio.gather(*(cold(http, n) for n in range(1, 11)))
        assert [response.status_code for response in burst] == [503] * 10
        assert await state(gateway, "acme") == 2.0  # open

        # The next cold read fails at once, saying when the breaker will probe.
        response, seconds = await timed(cold(http, 11))
        assert response.status_code == 503
        assert response.json() == {"errors": [UNAVAILABLE]}
        assert 1 <= int(response.headers["retry-after"]) <= RESET
        assert response.headers["x-should-retry"] == "false"
        assert seconds < FAST

        # The stale value comes at once, marked stale.
        stale, seconds = await timed(http.get(f"/v2/messaging_profiles/{profile_id}"))
        assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
        assert stale.content == profile.content
        assert seconds < FAST

        # GraphQL: UPSTREAM_UNAVAILABLE with the same hint.
        query = {"query": "{ messagingProfiles(first: 3) { totalCount } }"}
        answer, seconds = await timed(http.post("/graphql", json=query))
        (error,) = answer.json()["errors"]
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert 0 < error["extensions"]["retryAfter"] <= RESET
        assert seconds < FAST

        # A write is refused without being sent.
        write, seconds = await timed(
            http.patch(f"/v2/messaging_profiles/{profile_id}", json={"name": "during"})
        )
        assert write.status_code == 503
        assert seconds < FAST

        # Reads keep coming for two probe cycles (a reset time, then probes that hang).
        reads: list[asyncio.Task[httpx.Response]] = []
        page = 100
        cycles = await reopened(gateway)
        while await reopened(gateway) < cycles + 2:
            page += 1
            reads.append(asyncio.create_task(cold(http, page)))
            await asyncio.sleep(0.1)
        # It has just opened again: Telnyx comes back now.
        sim.faults.latency = 0.0
        back_at = time.time()
        while True:
            read = await http.get(f"/v2/messaging_profiles/{profile_id}")
            if read.headers["x-cache"] == "MISS":
                break
            assert read.headers["x-cache"] == "STALE"
            await asyncio.sleep(0.05)
        recovered_in = time.time() - back_at
        assert read.status_code == 200
        assert recovered_in < RESET + FAST
        assert {(await task).status_code for task in reads} == {503}
        await http.get(
            f"/v2/messaging_profiles/{profile_id}", headers={"cache-control": "no-cache"}
        )
        assert await state(gateway, "acme") == 0.0  # both probes succeeded: closed

    await asyncio.sleep(HANG)  # the hung requests are logged once the simulator answers them
    calls = arrivals(sim, "acme", hung_at, back_at)
    assert calls[9] - calls[0] < FAST  # the burst
    probes = calls[10:]
    assert len(probes) >= 2 * PROBES  # two cycles of probes, and nothing else
    assert all(
        later - earlier >= RESET for earlier, later in zip(probes, probes[PROBES:], strict=False)
    )
    assert [record.method for record in sim.requests if record.method != "GET"] == []
    assert KEYS["acme"] not in gateway.logs()
    assert TOKENS["acme"] not in gateway.logs()


async def test_an_outage_seen_by_two_tenants_holds_every_tenant_back_on_every_replica(
    start_gateway: Start,
    settings: dict[str, str],
    simulator: tuple[Simulator, str],
    redis_url: str,
) -> None:
    sim, _ = simulator
    replicated = {**settings, "GATEWAY_REDIS_URL": redis_url}
    first = await asyncio.to_thread(start_gateway, **replicated)
    second = await asyncio.to_thread(start_gateway, **replicated)
    sim.faults.latency = HANG
    hung_at = time.time()
    async with caller(first, "acme") as acme, caller(first, "globex") as globex:
        # acme's failures open acme's circuit only: one tenant says nothing of Telnyx.
        burst = await asyncio.gather(*(cold(acme, n) for n in range(1, MIN_CALLS + 1)))
        assert [response.status_code for response in burst] == [503] * MIN_CALLS
        assert (await state(first, "acme"), await state(first)) == (2.0, 0.0)
        # A second tenant's failure does: Telnyx itself is failing.
        assert (await cold(globex, 1)).status_code == 503
        assert await state(first) == 2.0
    # The other replica heard of both without a call of its own.
    for _ in range(100):
        if (await state(second), await state(second, "acme")) == (2.0, 2.0):
            break
        await asyncio.sleep(0.05)
    assert (await state(second), await state(second, "acme")) == (2.0, 2.0)
    for replica in (first, second):
        for tenant in ("initech", "acme"):
            async with caller(replica, tenant) as http:
                response, seconds = await timed(cold(http, 99))
            assert response.status_code == 503
            assert 1 <= int(response.headers["retry-after"]) <= RESET
            assert seconds < FAST
    # Refused by the host's circuit, or acme's own while it is still open.
    rejections = (await circuits(second))["gateway_upstream_circuit_rejections_total"]
    assert sum(rejections.values()) == 2
    sim.faults.latency = 0.0
    await asyncio.sleep(HANG)
    assert arrivals(sim, "initech", hung_at, time.time()) == []
    assert len(arrivals(sim, "acme", hung_at, time.time())) == MIN_CALLS


async def test_4xx_answers_and_one_tenants_401s_never_open_it(
    start_gateway: Start, settings: dict[str, str], simulator: tuple[Simulator, str]
) -> None:
    sim, _ = simulator
    gateway = await asyncio.to_thread(start_gateway, **settings, GATEWAY_UPSTREAM_MAX_RETRIES="0")
    missing = "00000000-0000-4000-8000-000000000000"
    async with caller(gateway, "acme") as acme, caller(gateway, "badkey") as badkey:
        for _ in range(20):
            assert (await badkey.get("/v2/short_codes")).status_code == 502  # Telnyx said 401
            assert (await acme.get(f"/v2/messaging_profiles/{missing}")).status_code == 404
        sim.faults.fail(422, times=10)
        sim.faults.rate_limit(times=10)
        for n in range(20):
            assert (await cold(acme, n + 1)).status_code in (422, 429)
        before = len(sim.requests)
        assert (await cold(acme, 99)).status_code == 200
        async with caller(gateway, "globex") as globex:
            assert (await cold(globex, 99)).status_code == 200
    assert len(sim.requests) == before + 2
    samples = await circuits(gateway)
    assert set(samples["gateway_upstream_circuit_state"].values()) == {0.0}
    assert set(samples["gateway_upstream_circuit_transitions_total"].values()) == {0.0}
    assert set(samples["gateway_upstream_circuit_rejections_total"].values()) == {0.0}


async def test_a_tenant_whose_calls_telnyx_fails_holds_back_only_itself(
    start_gateway: Start, settings: dict[str, str], simulator: tuple[Simulator, str]
) -> None:
    # A hostile (or unlucky) tenant makes calls that Telnyx answers with 500.
    sim, _ = simulator
    gateway = await asyncio.to_thread(start_gateway, **settings, GATEWAY_UPSTREAM_MAX_RETRIES="0")
    sim.faults.fail(500, times=100, path="/v2/short_codes")
    async with caller(gateway, "acme") as acme, caller(gateway, "globex") as globex:
        statuses = [
            (await acme.get(f"/v2/short_codes?page[number]={n}")).status_code for n in range(1, 21)
        ]
        assert statuses == [503] * 20
        assert (await state(gateway, "acme"), await state(gateway)) == (2.0, 0.0)
        before = len(sim.requests)
        for n in range(1, 11):
            assert (await cold(globex, n)).status_code == 200
        assert (await cold(acme, 1)).status_code == 503  # acme is held back, not sent
    assert len(sim.requests) == before + 10
    # Its circuit stopped its flood: only the calls that opened it reached Telnyx.
    assert [record.path for record in sim.requests].count("/v2/short_codes") == MIN_CALLS
