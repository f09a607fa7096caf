"""The upstream budget as callers see it: both faces over the simulator and a real Redis,
and the tenants file's `upstream_budget`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import RateLimit, Tenant, TenantRegistry, TenantsFileError
from tests.conftest import ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, client_for, scrape

QUERY = "query($id: ID!) { messagingProfile(id: $id) { name } }"
NO_CACHE = {"Cache-Control": "no-cache"}


def gateway(simulator: Simulator, redis_url: str, **changes: Any) -> Any:
    """Alpha has a budget of its own, 1 call then one per 1000 s; beta the default (none).

    Alpha's key is new to the shared Redis each time: a bucket an earlier run left there must
    not decide this one."""
    settings = Settings(demo=True, otel_sdk_disabled=True, redis_url=redis_url, **changes)
    alpha_key = SecretStr(f"KEY{uuid.uuid4().hex}")
    tenants = TenantRegistry.from_tokens(
        [
            (Tenant("alpha", alpha_key, upstream_budget=RateLimit(0.001, 1)), ALPHA_TOKEN),
            (Tenant("beta", SecretStr(BETA_KEY)), BETA_TOKEN),
        ]
    )
    return create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=build_telemetry(settings),
    )


async def test_rest_answers_429_with_retry_after_and_calls_telnyx_no_more(
    simulator: Simulator, redis_url: str
) -> None:
    app = gateway(simulator, redis_url)
    async with app.router.lifespan_context(app), client_for(app) as alpha:
        first = await alpha.get("/v2/messaging_profiles", headers=NO_CACHE)
        second = await alpha.get("/v2/messaging_profiles", headers=NO_CACHE)
        async with client_for(app, BETA_TOKEN) as beta:
            others = [await beta.get("/v2/messaging_profiles", headers=NO_CACHE) for _ in range(3)]
        metrics = (await scrape(app)).text

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1000"
    assert "x-should-retry" not in second.headers
    assert second.json() == {
        "errors": [
            {
                "code": "10011",
                "title": "Too many requests",
                "detail": "You have exceeded the maximum number of allowed requests.",
                "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10011"},
            }
        ]
    }
    assert [response.status_code for response in others] == [200, 200, 200]
    assert len(simulator.requests) == 4
    refusals = [
        line.rsplit(",", 1)[1]
        for line in metrics.splitlines()
        if line.startswith("gateway_upstream_budget_refusals_total{")
    ]
    assert refusals == ['tenant_id="alpha"} 1.0']


async def test_graphql_answers_rate_limited_and_calls_telnyx_no_more(
    simulator: Simulator, redis_url: str
) -> None:
    app = gateway(simulator, redis_url)
    async with app.router.lifespan_context(app), client_for(app) as alpha:
        listed = await alpha.get("/v2/messaging_profiles")
        profile_id = listed.json()["data"][0]["id"]
        answer = await alpha.post(
            "/graphql", json={"query": QUERY, "variables": {"id": profile_id}}
        )

    body = answer.json()
    assert body["data"] == {"messagingProfile": None}
    [problem] = body["errors"]
    assert problem["message"] == "Too many requests to Telnyx for this account; retry later."
    assert problem["extensions"]["code"] == "RATE_LIMITED"
    assert 999 < problem["extensions"]["retryAfter"] <= 1000
    assert len(simulator.requests) == 1


async def test_a_read_the_budget_refuses_is_served_stale_when_there_is_a_stale_value(
    simulator: Simulator, redis_url: str
) -> None:
    app = gateway(simulator, redis_url, cache_ttl_profiles=0.05, cache_shared=False)
    async with app.router.lifespan_context(app), client_for(app) as alpha:
        first = await alpha.get("/v2/messaging_profiles")
        await asyncio.sleep(0.1)  # past the TTL, within the stale-if-error window
        second = await alpha.get("/v2/messaging_profiles")

    assert (first.status_code, first.headers["X-Cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["X-Cache"]) == (200, "STALE")
    assert second.content == first.content
    assert len(simulator.requests) == 1


# --- the tenants file -----------------------------------------------------------------


def _file(tmp_path: Path, *entries: dict[str, object]) -> Path:
    path = tmp_path / "tenants.json"
    tenants = [
        {"id": f"t{index}", "token_sha256": hashlib.sha256(f"tok{index}".encode()).hexdigest()}
        | entry
        for index, entry in enumerate(entries)
    ]
    path.write_text(json.dumps({"tenants": tenants}))
    return path


def test_the_tenants_file_may_set_an_accounts_budget(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {"telnyx_api_key": "KEYa", "upstream_budget": {"per_second": 10, "burst": 2}},
        {"telnyx_api_key": "KEYa", "upstream_budget": {"per_second": 10, "burst": 2}},
        {"telnyx_api_key": "KEYb"},
    )
    registry = TenantRegistry.from_file(path)
    budgets = [registry.authenticate(f"Bearer tok{index}").upstream_budget for index in range(3)]
    assert budgets == [RateLimit(10.0, 2), RateLimit(10.0, 2), None]


def test_tenants_that_share_a_key_must_share_its_budget(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        {"telnyx_api_key": "KEYsecret", "upstream_budget": {"per_second": 10, "burst": 2}},
        {"telnyx_api_key": "KEYsecret"},
    )
    with pytest.raises(TenantsFileError) as refused:
        TenantRegistry.from_file(path)
    assert str(refused.value) == (
        f"invalid tenants file {path}: tenants.1.upstream_budget: tenant 't1' shares its "
        "Telnyx key with tenant 't0', so it must give the same upstream_budget"
    )


def test_an_invalid_budget_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, {"telnyx_api_key": "KEYa", "upstream_budget": {"per_second": 0}})
    with pytest.raises(TenantsFileError) as refused:
        TenantRegistry.from_file(path)
    assert str(refused.value) == (
        f"invalid tenants file {path}: tenants.0.upstream_budget.per_second: Input should be "
        "greater than 0; tenants.0.upstream_budget.burst: Field required"
    )
