"""Relay connections over Telnyx pages: every window, and the upstream reads it costs."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from gateway.simulator import Account, Simulator
from tests.schema.conftest import codes, gql, upstream

PAGE = """query($first: Int, $after: String) { messagingProfiles(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { name } } } }"""
TOTAL = 63  # 3 seeded + 60 bulk


@pytest.fixture
def bulk(alpha: Account) -> list[str]:
    """The 63 profile names, in Telnyx's order."""
    alpha.add_profiles(60)
    return [profile["name"] for profile in alpha.profiles.values()]


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"profiles:{offset}".encode()).decode()


async def page(client: httpx.AsyncClient, first: int | None, after: str | None) -> dict[str, Any]:
    body = await gql(client, PAGE, {"first": first, "after": after})
    assert "errors" not in body, body["errors"]
    connection: dict[str, Any] = body["data"]["messagingProfiles"]
    return connection


@pytest.mark.parametrize(
    ("first", "offset", "reads"),
    [
        (1, 0, ["page[number]=1&page[size]=20"]),
        (20, 0, ["page[number]=1&page[size]=20"]),
        (20, 15, ["page[number]=1&page[size]=20", "page[number]=2&page[size]=20"]),
        (7, 39, ["page[number]=2&page[size]=20", "page[number]=3&page[size]=20"]),
        (25, 30, ["page[number]=2&page[size]=25", "page[number]=3&page[size]=25"]),
        (10, 60, ["page[number]=4&page[size]=20"]),  # the last three
    ],
)
async def test_any_window_is_exact(
    client: httpx.AsyncClient,
    simulator: Simulator,
    bulk: list[str],
    first: int,
    offset: int,
    reads: list[str],
) -> None:
    connection = await page(client, first, cursor(offset - 1) if offset else None)
    expected = bulk[offset : offset + first]
    assert [edge["node"]["name"] for edge in connection["edges"]] == expected
    assert [edge["cursor"] for edge in connection["edges"]] == [
        cursor(offset + i) for i in range(len(expected))
    ]
    assert connection["totalCount"] == TOTAL
    assert connection["pageInfo"] == {
        "hasNextPage": offset + first < TOTAL,
        "hasPreviousPage": offset > 0,
        "startCursor": cursor(offset),
        "endCursor": cursor(offset + len(expected) - 1),
    }
    assert upstream(simulator) == [f"GET /messaging_profiles?{query}" for query in reads]


async def test_walking_the_whole_list(client: httpx.AsyncClient, bulk: list[str]) -> None:
    seen: list[str] = []
    after = None
    while True:
        connection = await page(client, 20, after)
        seen += [edge["node"]["name"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == bulk


async def test_after_the_end_and_first_zero(client: httpx.AsyncClient, bulk: list[str]) -> None:
    past = await page(client, 5, cursor(TOTAL - 1))
    assert past == {
        "totalCount": TOTAL,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": True,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }
    none = await page(client, 0, None)
    assert (none["edges"], none["totalCount"], none["pageInfo"]["hasNextPage"]) == ([], TOTAL, True)


async def test_empty_list(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        '{ messagingProfiles(filter: {name: "nobody"}) { totalCount '
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor } } }",
    )
    assert body["data"]["messagingProfiles"] == {
        "totalCount": 0,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


async def test_default_first_is_twenty(client: httpx.AsyncClient, bulk: list[str]) -> None:
    connection = await page(client, None, None)
    assert len(connection["edges"]) == 20


@pytest.mark.parametrize(
    ("variables", "field", "message"),
    [
        ({"first": 101}, "first", "first: must be at most 100"),
        ({"first": -1}, "first", "first: must not be negative"),
        ({"after": "garbage"}, "after", "after: is not a cursor of this connection"),
        (
            {"after": base64.b64encode(b"short_codes:3").decode()},
            "after",
            "after: is not a cursor of this connection",
        ),
    ],
)
async def test_bad_windows_are_refused_before_any_call(
    client: httpx.AsyncClient,
    simulator: Simulator,
    variables: dict[str, Any],
    field: str,
    message: str,
) -> None:
    body = await gql(client, PAGE, variables)
    assert body["data"] is None
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert body["errors"][0]["path"] == ["messagingProfiles"]
    assert upstream(simulator) == []


async def test_nested_connections_check_their_arguments(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "{ messagingProfiles(first: 1) { edges { node { phoneNumbers(first: 500) { totalCount } } } } }",
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["messagingProfiles", "edges", 0, "node", "phoneNumbers"]


async def test_nested_pagination(client: httpx.AsyncClient, alpha: Account) -> None:
    profile_id = next(iter(alpha.profiles))
    alpha.add_phone_numbers(30, messaging_profile_id=profile_id)
    query = """query($id: ID!, $after: String) { messagingProfile(id: $id) {
        phoneNumbers(first: 20, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        edges { node { phoneNumber } } } } }"""
    first = (await gql(client, query, {"id": profile_id}))["data"]["messagingProfile"]
    numbers = first["phoneNumbers"]
    assert numbers["totalCount"] == 33
    assert numbers["pageInfo"]["hasNextPage"] is True
    second = await gql(client, query, {"id": profile_id, "after": numbers["pageInfo"]["endCursor"]})
    rest = second["data"]["messagingProfile"]["phoneNumbers"]
    # The nested numbers come in phone-number order, whichever way they were read.
    owned = sorted(
        number["phone_number"]
        for number in alpha.phone_numbers.values()
        if number["messaging_profile_id"] == profile_id
    )
    assert [e["node"]["phoneNumber"] for e in numbers["edges"]] == owned[:20]
    assert [e["node"]["phoneNumber"] for e in rest["edges"]] == owned[20:]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_repeated_window_is_served_from_cache(
    client: httpx.AsyncClient, simulator: Simulator, bulk: list[str]
) -> None:
    first = await client.post(
        "/graphql", json={"query": PAGE, "variables": {"first": 7, "after": cursor(16)}}
    )
    again = await client.post(
        "/graphql", json={"query": PAGE, "variables": {"first": 7, "after": cursor(16)}}
    )
    assert first.json()["data"] == again.json()["data"]
    assert (first.headers["x-cache"], first.json()["extensions"]) == (
        "MISS",
        {"cache": {"cached": False, "stale": False}},
    )
    assert (again.headers["x-cache"], again.json()["extensions"]) == (
        "HIT",
        {"cache": {"cached": True, "stale": False}},
    )
    assert len(upstream(simulator)) == 2  # pages 1 and 2, read once


async def test_no_cache_header_reads_upstream_again(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    await page(client, 5, None)
    response = await client.post(
        "/graphql",
        json={"query": PAGE, "variables": {"first": 5}},
        headers={"Cache-Control": "no-cache"},
    )
    assert response.headers["x-cache"] == "MISS"
    assert len(upstream(simulator)) == 2
