"""Three `python -m gateway serve` replicas, one simulator and a real Redis: under a cold
flood spread over the replicas, Telnyx never receives more calls in a second than the
account's budget allows. `bench/budget.py` measures the same for longer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest

from bench.budget import arrivals as bench_arrivals
from bench.budget import busiest_window, flood
from tests.process import Start

pytestmark = pytest.mark.slow

TOKEN = "budget-replicas-token-0123456789"


async def test_three_replicas_send_telnyx_at_most_the_budget_in_any_second(
    start_gateway: Start,
    tmp_path: Path,
    simulator_url: str,
    redis_url: str,
) -> None:
    # The simulator is a process of its own: in this one, the flood's client would delay
    # its log of arrivals. The key is new to the shared Redis: no bucket of an earlier run.
    key = f"KEY{uuid.uuid4().hex}"
    tenants = tmp_path / "tenants.json"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    tenants.write_text(
        json.dumps({"tenants": [{"id": "acme", "token_sha256": digest, "telnyx_api_key": key}]})
    )
    env = {
        "GATEWAY_DEMO": "false",
        "GATEWAY_TENANTS_FILE": str(tenants),
        "GATEWAY_TELNYX_BASE_URL": f"{simulator_url}/v2",
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
        "GATEWAY_RATE_LIMIT_BURST": "100000",
        # Telnyx's limit is 10 a second: the budget keeps 5% of headroom for the few
        # milliseconds a call may take, more or less, between its turn and its arrival.
        "GATEWAY_UPSTREAM_BUDGET_PER_SECOND": "9.5",
        "GATEWAY_UPSTREAM_BUDGET_BURST": "1",
        "GATEWAY_REPLICAS": "3",
        "GATEWAY_UPSTREAM_DEADLINE": "1",
    }
    replicas = [await asyncio.to_thread(start_gateway, **env) for _ in range(3)]
    since = time.time()

    statuses = await flood(
        [replica.url for replica in replicas], TOKEN, seconds=3.0, concurrency=30
    )

    arrivals = await asyncio.to_thread(bench_arrivals, simulator_url, since)
    assert busiest_window(arrivals) <= 10
    # Not vacuous: the flood did reach Telnyx, and the rest was refused, not failed.
    assert len(arrivals) >= 15
    assert set(statuses) <= {200, 429}


@pytest.mark.parametrize(
    ("times", "most"),
    [([], 0), ([0.0, 0.5, 0.999, 1.0, 1.5], 3), ([0.0, 1.0, 2.0], 1), ([3.0, 3.0, 3.0], 3)],
)
def test_the_busiest_window_counts_a_half_open_second(times: list[float], most: int) -> None:
    assert busiest_window(times) == most
