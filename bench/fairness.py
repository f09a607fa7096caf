"""CPU shared fairly: tenant B's cached query while tenant A floods the heaviest query.

    .venv/bin/python -m bench.fairness [--duration S] [--flooders N] [--set NAME=VALUE]

Tenant A sends the heaviest query the default limits allow (a page of profiles with the
largest nested `phoneNumbers` page under the item limit), `--flooders` at a time, each with
an undeclared variable that changes on every request, so that the whole-response cache
misses and every answer is built again from the upstream cache: pure CPU. Tenant B sends a
trivial query the response cache answers, one at a time. B's latency is measured alone,
then under A's flood; the target is B's p50 within 3x its idle value and p95 under 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

from bench import stack
from gateway.config import Settings

KEYS = {"a": "KEYfairA0000000000000000000000", "b": "KEYfairB0000000000000000000000"}
PROFILES = 25
NUMBERS_PER_PROFILE = 100
B_QUERY = "{ shortCodes(first: 5) { totalCount edges { node { id shortCode } } } }"


def heavy_query(profiles: int, numbers: int) -> str:
    return (
        f"query Heavy {{ messagingProfiles(first: {profiles}) {{ totalCount edges {{ node {{ "
        f"id name enabled webhookUrl createdAt phoneNumbers(first: {numbers}) {{ totalCount "
        "edges { cursor node { id phoneNumber type messagingProfileId messagingProduct "
        "trafficType tags createdAt features { sms { domesticTwoWay } } "
        "health { messageCount successRatio } } } } } } } }"
    )


async def latencies(
    session: aiohttp.ClientSession, url: str, token: str, seconds: float
) -> list[float]:
    taken = []
    end = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < end:
        started = time.perf_counter()
        async with session.post(url, json={"query": B_QUERY}, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"B got {response.status}")
        taken.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return taken


async def flood(
    session: aiohttp.ClientSession, url: str, token: str, query: str, stop: asyncio.Event
) -> tuple[int, int]:
    done = refused = 0
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        # An undeclared variable changes the response cache's key, not the answer.
        body = {"query": query, "variables": {"nonce": done}}
        async with session.post(url, json=body, headers=headers) as response:
            payload = await response.json(content_type=None)
            if response.status == 200 and "errors" not in payload:
                done += 1
            else:
                refused += 1
                await asyncio.sleep(0.05)
    return done, refused


def summary(taken: list[float]) -> tuple[float, float]:
    ordered = sorted(taken)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def measure(gateway_url: str, tokens: dict[str, str], args: argparse.Namespace) -> None:
    url = f"{gateway_url}/graphql"
    query = heavy_query(PROFILES, args.numbers)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm both tenants' upstream caches and B's response cache.
        async with session.post(
            url, json={"query": query}, headers={"Authorization": f"Bearer {tokens['a']}"}
        ) as response:
            body = await response.json(content_type=None)
            if "errors" in body:
                print(f"A's query is refused by the limits: {body['errors'][0]['message']}")
                return
        await latencies(session, url, tokens["b"], 1.0)
        idle = await latencies(session, url, tokens["b"], args.duration)
        stop = asyncio.Event()
        flooders = [
            asyncio.create_task(flood(session, url, tokens["a"], query, stop))
            for _ in range(args.flooders)
        ]
        await asyncio.sleep(1.0)
        loaded = await latencies(session, url, tokens["b"], args.duration)
        stop.set()
        results = await asyncio.gather(*flooders)
    idle_p50, idle_p95 = summary(idle)
    p50, p95 = summary(loaded)
    answered = sum(done for done, _ in results)
    refused = sum(refused for _, refused in results)
    print(
        f"A: {PROFILES} profiles x {args.numbers} numbers, {args.flooders} at a time: "
        f"{answered} answered ({answered / args.duration:.1f}/s), {refused} refused"
    )
    print(f"B idle:  p50 {idle_p50:6.1f} ms  p95 {idle_p95:6.1f} ms  ({len(idle)} requests)")
    print(f"B flood: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({len(loaded)} requests)")
    ok_p50 = p50 <= 3 * idle_p50
    ok_p95 = p95 < 150
    print(
        f"{'PASS' if ok_p50 else 'MISS'}  B's p50 under A's flood {p50:.1f} ms <= 3 x idle {idle_p50:.1f} ms"
    )
    print(f"{'PASS' if ok_p95 else 'MISS'}  B's p95 under A's flood {p95:.1f} ms < 150 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--flooders", type=int, default=3)
    # The largest nested page the default item limit allows with PROFILES profiles.
    items = Settings.model_fields["max_query_items"].default
    heaviest = min(NUMBERS_PER_PROFILE, (items - PROFILES) // PROFILES)
    parser.add_argument("--numbers", type=int, default=heaviest, help="nested first")
    parser.add_argument("--set", action="append", default=[], help="NAME=VALUE for the gateway")
    args = parser.parse_args()
    tokens = {name: stack.new_token() for name in KEYS}
    with tempfile.TemporaryDirectory() as workdir, stack.running(Path(workdir)) as running:
        simulator = stack.start_simulator(running, latency=0.0)
        with httpx.Client(base_url=simulator.url, timeout=60) as http:
            seed = f"/_simulator/accounts/{KEYS['a']}/seed"
            http.post(seed, json={"profiles": PROFILES}).raise_for_status()
            listed = http.get(
                "/v2/messaging_profiles",
                params={"page[size]": PROFILES},
                headers={"Authorization": f"Bearer {KEYS['a']}"},
            ).json()["data"]
            for profile in listed:
                http.post(
                    seed,
                    json={
                        "messaging_profile_id": profile["id"],
                        "phone_numbers": NUMBERS_PER_PROFILE,
                    },
                ).raise_for_status()
        tenants = Path(workdir) / "fair-tenants.json"
        entries = [
            {
                "id": f"tenant-{name}",
                "token_sha256": hashlib.sha256(tokens[name].encode()).hexdigest(),
                "telnyx_api_key": key,
                # Rate limits are not what this measures: A may send as fast as it likes.
                "rate_limit": {"per_second": 100000, "burst": 100000},
            }
            for name, key in KEYS.items()
        ]
        tenants.write_text(json.dumps({"tenants": entries}))
        gateway = running.start(
            "gateway",
            ["-m", "gateway", "serve"],
            env={
                "GATEWAY_PORT": "{port}",
                "GATEWAY_METRICS_PORT": str(stack.free_port()),
                "GATEWAY_DEMO": "false",
                "GATEWAY_TENANTS_FILE": str(tenants),
                "GATEWAY_TELNYX_BASE_URL": f"{simulator.url}/v2",
                "GATEWAY_LOG_LEVEL": "warning",
                # Long enough that every answer of the run comes from the upstream cache.
                "GATEWAY_CACHE_TTL_PROFILES": "600",
                "GATEWAY_CACHE_TTL_PHONE_NUMBERS": "600",
                **dict(item.split("=", 1) for item in args.set),
            },
        )
        gateway.wait_ready("/readyz")
        asyncio.run(measure(gateway.url, tokens, args))


if __name__ == "__main__":
    main()
