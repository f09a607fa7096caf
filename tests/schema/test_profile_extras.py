"""A profile's alphanumeric sender ids and metrics, every profile's metrics, and a new v1
secret: what GraphQL answers, and what reached Telnyx."""

from __future__ import annotations

import httpx

from gateway.simulator import Account, Simulator
from tests.schema.conftest import codes, gql, upstream

SENDERS = """query($id: ID!) { messagingProfile(id: $id) { name alphanumericSenderIds {
  totalCount edges { node { id recordType alphanumericSenderId messagingProfileId
  organizationId usLongCodeFallback } } } } }"""


def named(alpha: Account, name: str) -> str:
    found: str = next(p["id"] for p in alpha.profiles.values() if p["name"] == name)
    return found


def us_long_codes(alpha: Account, profile_id: str) -> list[str]:
    return [
        n["phone_number"]
        for n in alpha.phone_numbers.values()
        if n["messaging_profile_id"] == profile_id and n["type"] == "longcode"
    ]


async def test_a_profiles_alphanumeric_sender_ids(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    support, alerts = named(alpha, "Support"), named(alpha, "Alerts")

    with_sender = await gql(client, SENDERS, {"id": support})
    without = await gql(client, SENDERS, {"id": alerts})

    (edge,) = with_sender["data"]["messagingProfile"]["alphanumericSenderIds"]["edges"]
    assert with_sender["data"]["messagingProfile"]["alphanumericSenderIds"]["totalCount"] == 1
    assert edge["node"] == {
        "id": alpha.alphanumeric_sender_ids(alpha.profiles[support])[0]["id"],
        "recordType": "alphanumeric_sender_id",
        "alphanumericSenderId": "Support",
        "messagingProfileId": support,
        "organizationId": alpha.organization_id,
        "usLongCodeFallback": us_long_codes(alpha, support)[0],
    }
    assert without["data"]["messagingProfile"]["alphanumericSenderIds"] == {
        "totalCount": 0,
        "edges": [],
    }
    assert upstream(simulator) == [
        f"GET /messaging_profiles/{support}",
        f"GET /messaging_profiles/{support}/alphanumeric_sender_ids?page[number]=1&page[size]=20",
        f"GET /messaging_profiles/{alerts}",
        f"GET /messaging_profiles/{alerts}/alphanumeric_sender_ids?page[number]=1&page[size]=20",
    ]


async def test_a_profiles_metrics_for_a_period(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    support = named(alpha, "Support")
    numbers = [n for n in alpha.phone_numbers.values() if n["messaging_profile_id"] == support]

    body = await gql(
        client,
        "query($id: ID!) { messagingProfile(id: $id) { week: metrics(timeFrame: SEVEN_DAYS) "
        "day: metrics } }",
        {"id": support},
    )

    expected = {
        "messaging_profile_id": support,
        "name": "Support",
        "phone_numbers": len(numbers),
        "message_count": sum(n["health"]["message_count"] for n in numbers),
    }
    assert body["data"]["messagingProfile"] == {
        "week": {**expected, "time_frame": "7d"},
        "day": {**expected, "time_frame": "24h"},
    }
    assert sorted(upstream(simulator)) == [
        f"GET /messaging_profiles/{support}",
        f"GET /messaging_profiles/{support}/metrics",
        f"GET /messaging_profiles/{support}/metrics?time_frame=7d",
    ]


async def test_every_profiles_metrics(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    body = await gql(client, "{ messagingProfileMetrics(timeFrame: ONE_HOUR) }")

    listed = body["data"]["messagingProfileMetrics"]
    assert [(item["name"], item["time_frame"]) for item in listed] == [
        ("Alerts", "1h"),
        ("Marketing", "1h"),
        ("Support", "1h"),
    ]
    assert [item["messaging_profile_id"] for item in listed] == list(alpha.profiles)
    assert upstream(simulator) == ["GET /messaging_profile_metrics?time_frame=1h"]


async def test_a_new_v1_secret_and_the_cached_profile_follows(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    support = named(alpha, "Support")
    read = "query($id: ID!) { messagingProfile(id: $id) { name updatedAt } }"
    before = await gql(client, read, {"id": support})
    secret = alpha.profiles[support]["v1_secret"]

    body = await gql(
        client,
        "mutation($id: ID!) { regenerateMessagingProfileSecret(id: $id) { id name updatedAt } }",
        {"id": support},
    )
    after = await gql(client, read, {"id": support})

    rotated = body["data"]["regenerateMessagingProfileSecret"]
    assert alpha.profiles[support]["v1_secret"] != secret
    assert (rotated["id"], rotated["name"]) == (support, "Support")
    assert rotated["updatedAt"] != before["data"]["messagingProfile"]["updatedAt"]
    # The write evicted the cached profile: the next read shows the change.
    assert after["data"]["messagingProfile"] == {
        "name": "Support",
        "updatedAt": rotated["updatedAt"],
    }
    assert upstream(simulator) == [
        f"GET /messaging_profiles/{support}",
        f"POST /messaging_profiles/{support}/actions/regenerate_secret",
        f"GET /messaging_profiles/{support}",
    ]


async def test_a_time_frame_outside_the_enumeration_is_refused_before_any_call(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    body = await gql(client, "{ messagingProfileMetrics(timeFrame: TWO_WEEKS) }")

    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]
    assert upstream(simulator) == []
