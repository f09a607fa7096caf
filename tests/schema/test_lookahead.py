"""The profiles resolver reads the page's nested lists ahead; every selection still gets
exactly what the nested resolvers alone would give it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.simulator import Account, Simulator
from tests.conftest import MakeApp, client_for
from tests.schema.conftest import gql, upstream

ALIASED = """query($first: Int!) { messagingProfiles(first: $first) { edges { node {
  name
  head: phoneNumbers(first: 1) { totalCount edges { cursor node { phoneNumber } } }
  rest: phoneNumbers(first: 2, after: "%s") { edges { node { phoneNumber } } }
  ...Codes
} } } }
fragment Codes on MessagingProfile { shortCodes(first: 5) { totalCount } }"""

OPTIONAL = """query($with: Boolean!) { messagingProfiles(first: 3) { edges { node {
  name
  phoneNumbers @include(if: $with) { totalCount }
  shortCodes @skip(if: $with) { totalCount }
} } } }"""


def numbers_of(account: Account, profile_id: str) -> list[str]:
    return [
        number["phone_number"]
        for number in account.phone_numbers.values()
        if number["messaging_profile_id"] == profile_id
    ]


def edges(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["phoneNumber"] for edge in connection["edges"]]


@pytest.mark.parametrize("fan_in", [True, False])
async def test_aliases_and_fragments_with_their_own_windows(
    make_app: MakeApp, simulator: Simulator, alpha: Account, *, fan_in: bool
) -> None:
    app = make_app(nested_fan_in=fan_in)
    async with client_for(app) as client:
        first = await gql(
            client,
            "{ messagingProfiles(first: 1) { edges { node { phoneNumbers(first: 1) { edges { cursor } } } } } }",
        )
        cursor = first["data"]["messagingProfiles"]["edges"][0]["node"]["phoneNumbers"]["edges"][0][
            "cursor"
        ]
        simulator.requests.clear()
        body = await gql(
            client, ALIASED % cursor, {"first": 3}, headers={"Cache-Control": "no-cache"}
        )
    assert "errors" not in body
    nodes = [edge["node"] for edge in body["data"]["messagingProfiles"]["edges"]]
    assert [node["name"] for node in nodes] == ["Alerts", "Marketing", "Support"]
    for node, profile_id in zip(nodes, alpha.profiles, strict=True):
        numbers = numbers_of(alpha, profile_id)
        assert node["head"]["totalCount"] == len(numbers) == 3
        assert edges(node["head"]) == numbers[:1]
        assert edges(node["rest"]) == numbers[1:3]
        assert node["shortCodes"] == {"totalCount": 1}
    # The page, then its nested lists: account-wide (2 calls) or per profile (3 + 3).
    assert len(upstream(simulator)) == (1 + 2 if fan_in else 1 + 6)


async def test_a_field_under_include_or_skip_is_read_only_when_it_runs(
    make_app: MakeApp, simulator: Simulator
) -> None:
    async with client_for(make_app(nested_fan_in=False)) as client:
        included = await gql(client, OPTIONAL, {"with": True})
        calls_with = upstream(simulator)
        simulator.requests.clear()
        skipped = await gql(client, OPTIONAL, {"with": False})
        calls_without = upstream(simulator)
    assert [edge["node"] for edge in included["data"]["messagingProfiles"]["edges"]] == [
        {"name": name, "phoneNumbers": {"totalCount": 3}}
        for name in ("Alerts", "Marketing", "Support")
    ]
    assert [edge["node"] for edge in skipped["data"]["messagingProfiles"]["edges"]] == [
        {"name": name, "shortCodes": {"totalCount": 1}}
        for name in ("Alerts", "Marketing", "Support")
    ]
    assert sum("/phone_numbers" in call for call in calls_with) == 3
    assert sum("/short_codes" in call for call in calls_with) == 0
    assert sum("/phone_numbers" in call for call in calls_without) == 0
    assert sum("/short_codes" in call for call in calls_without) == 3


async def test_a_nested_list_that_fails_reports_on_its_own_field(
    make_app: MakeApp, simulator: Simulator
) -> None:
    app = make_app(nested_fan_in=False, upstream_max_retries=0)
    simulator.faults.fail(503, times=3, path="/v2/phone_numbers/messaging", method="GET")
    async with client_for(app) as client:
        body = await gql(
            client,
            "{ messagingProfiles(first: 3) { totalCount edges { node { name "
            "phoneNumbers { totalCount } } } } }",
        )
    # The nested connection is non-null, so the first failure nulls the whole non-null
    # chain up to `data`; the error names the nested field that failed.
    assert body["data"] is None
    assert [(error["path"], error["extensions"]["code"]) for error in body["errors"]] == [
        (["messagingProfiles", "edges", 0, "node", "phoneNumbers"], "UPSTREAM_UNAVAILABLE")
    ]
    # Each profile's read was attempted once: the failure was not hidden by a retry.
    assert len(simulator.requests) == 1 + 3
