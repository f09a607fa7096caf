"""Upstream calls per request: N+1 avoided, duplicates fetched once, tenants kept apart."""

from __future__ import annotations

import httpx
import pytest

from gateway.config import Settings
from gateway.simulator import Account, Simulator
from tests.conftest import ALPHA_KEY, BETA_KEY, BETA_TOKEN
from tests.schema.conftest import gql, upstream


@pytest.fixture
def settings() -> Settings:
    # One call per profile, as without the fan-in (tests/schema/test_fan_in.py covers it).
    return Settings(
        demo=True, graphiql=False, introspection=True, otel_sdk_disabled=True, nested_fan_in=False
    )


NESTED = """query($first: Int) { messagingProfiles(first: $first) { edges { node {
  id name
  phoneNumbers { totalCount edges { node { phoneNumber messagingProfile { name } } } }
  shortCodes { totalCount edges { node { shortCode messagingProfile { id } } } }
} } } }"""


@pytest.mark.parametrize("profiles", [1, 3, 10])
async def test_nested_query_costs_one_plus_two_per_profile(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account, profiles: int
) -> None:
    alpha.add_profiles(10)
    body = await gql(client, NESTED, {"first": profiles})
    assert "errors" not in body
    edges = body["data"]["messagingProfiles"]["edges"]
    assert len(edges) == profiles
    # The nested messagingProfile fields come from the list's entries: no retrieve at all.
    reads = upstream(simulator)
    assert reads[0] == f"GET /messaging_profiles?page[number]=1&page[size]={max(profiles, 20)}"
    assert sorted(reads[1:]) == sorted(
        f"GET {path}?page[number]=1&page[size]=20&filter[messaging_profile_id]={edge['node']['id']}{sort}"
        for edge in edges
        for path, sort in (
            ("/phone_numbers/messaging", "&sort[phone_number]=asc"),
            ("/short_codes", ""),
        )
    )
    assert len(simulator.requests) == 1 + 2 * profiles
    alerts = edges[0]["node"]
    assert [e["node"]["messagingProfile"]["name"] for e in alerts["phoneNumbers"]["edges"]] == [
        "Alerts"
    ] * 3


async def test_nested_reads_run_concurrently(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.latency = 0.05
    await gql(client, NESTED, {"first": 3})
    requests = list(simulator.requests)
    list_done = requests[0].time + requests[0].duration
    nested = requests[1:]
    assert len(nested) == 6
    # All six nested reads started before any of them finished: one round trip, not six.
    first_finish = min(r.time + r.duration for r in nested)
    assert all(r.time < first_finish for r in nested)
    assert all(r.time >= list_done - 0.01 for r in nested)


async def test_the_same_entity_is_fetched_once(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    alerts = next(iter(alpha.profiles))
    short_code = next(iter(alpha.short_codes))
    body = await gql(
        client,
        """query($p: ID!, $s: ID!) {
          a: messagingProfile(id: $p) { name }
          b: messagingProfile(id: $p) { id }
          shortCode(id: $s) { messagingProfile { name } }
          again: shortCode(id: $s) { shortCode }
        }""",
        {"p": alerts, "s": short_code},
    )
    assert body["data"] == {
        "a": {"name": "Alerts"},
        "b": {"id": alerts},
        "shortCode": {"messagingProfile": {"name": "Alerts"}},
        "again": {"shortCode": "20001"},
    }
    assert sorted(upstream(simulator)) == [
        f"GET /messaging_profiles/{alerts}",
        f"GET /short_codes/{short_code}",
    ]


async def test_tenants_see_only_their_own_account(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    beta = simulator.account(BETA_KEY)
    query = (
        "{ messagingProfiles { edges { node { id organizationId } } } shortCodes { totalCount } }"
    )
    mine = await gql(client, query)
    theirs = await gql(client, query, headers={"Authorization": f"Bearer {BETA_TOKEN}"})
    assert [e["node"]["id"] for e in mine["data"]["messagingProfiles"]["edges"]] == list(
        alpha.profiles
    )
    assert [e["node"]["id"] for e in theirs["data"]["messagingProfiles"]["edges"]] == list(
        beta.profiles
    )
    assert {e["node"]["organizationId"] for e in theirs["data"]["messagingProfiles"]["edges"]} == {
        beta.organization_id
    }
    assert not set(alpha.profiles) & set(beta.profiles)
    # The second tenant's identical query was not served from the first one's cache.
    keys = [r.api_key for r in simulator.requests]
    assert keys == [ALPHA_KEY, ALPHA_KEY, BETA_KEY, BETA_KEY]


async def test_a_tenant_cannot_read_another_tenants_profile_by_id(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    beta_profile = next(iter(simulator.account(BETA_KEY).profiles))
    body = await gql(
        client, "query($id: ID!) { messagingProfile(id: $id) { id } }", {"id": beta_profile}
    )
    assert body["data"] == {"messagingProfile": None}
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [r.api_key for r in simulator.requests] == [ALPHA_KEY]
