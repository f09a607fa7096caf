"""Every query and filter over the simulator's seed data."""

from __future__ import annotations

import httpx

from gateway.simulator import Account, Simulator
from tests.schema.conftest import codes, gql, upstream

PROFILE_FIELDS = """
  id recordType name enabled webhookUrl webhookFailoverUrl webhookApiVersion
  whitelistedDestinations createdAt updatedAt
  numberPoolSettings { tollFreeWeight longCodeWeight skipUnhealthy stickySender geomatch }
  urlShortenerSettings { domain prefix replaceBlacklistOnly sendWebhooks }
  alphaSender dailySpendLimit dailySpendLimitEnabled mmsFallBackToSms mmsTranscoding
  mobileOnly smartEncoding redactionEnabled redactionLevel healthWebhookUrl organizationId
  aiAssistantId resourceGroupId
"""


def _names(connection: dict[str, object]) -> list[str]:
    edges = connection["edges"]
    assert isinstance(edges, list)
    return [edge["node"]["name"] for edge in edges]


async def test_messaging_profiles_have_every_field(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    body = await gql(
        client, f"{{ messagingProfiles {{ totalCount edges {{ node {{ {PROFILE_FIELDS} }} }} }} }}"
    )
    alerts, marketing, support = (e["node"] for e in body["data"]["messagingProfiles"]["edges"])
    assert body["data"]["messagingProfiles"]["totalCount"] == 3
    ids = list(alpha.profiles)
    assert alerts == {
        "id": ids[0],
        "recordType": "messaging_profile",
        "name": "Alerts",
        "enabled": True,
        "webhookUrl": "https://hooks.example.com/alerts",
        "webhookFailoverUrl": "",
        "webhookApiVersion": "V2",
        "whitelistedDestinations": ["US"],
        "createdAt": "2024-03-01T09:00:00+00:00",
        "updatedAt": "2024-03-01T09:00:00+00:00",
        "numberPoolSettings": {
            "tollFreeWeight": 10.0,
            "longCodeWeight": 1.0,
            "skipUnhealthy": True,
            "stickySender": False,
            "geomatch": False,
        },
        "urlShortenerSettings": None,
        "alphaSender": None,
        "dailySpendLimit": "0.00",
        "dailySpendLimitEnabled": False,
        "mmsFallBackToSms": False,
        "mmsTranscoding": False,
        "mobileOnly": False,
        "smartEncoding": False,
        "redactionEnabled": False,
        "redactionLevel": 2,
        "healthWebhookUrl": None,
        "organizationId": alpha.organization_id,
        "aiAssistantId": None,
        "resourceGroupId": None,
    }
    assert marketing["whitelistedDestinations"] == ["US", "CA"]
    assert marketing["urlShortenerSettings"] == {
        "domain": "acct.fyi",
        "prefix": "mkt",
        "replaceBlacklistOnly": True,
        "sendWebhooks": False,
    }
    assert (marketing["dailySpendLimit"], marketing["dailySpendLimitEnabled"]) == ("100.00", True)
    assert (support["alphaSender"], support["mmsFallBackToSms"]) == ("Support", True)
    assert support["webhookFailoverUrl"] == "https://backup.example.com/support"


async def test_v1_secret_is_not_exposed(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ messagingProfiles { edges { node { v1Secret } } } }")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "v1Secret" in body["errors"][0]["message"]


async def test_profile_filters(client: httpx.AsyncClient, simulator: Simulator) -> None:
    exact = await gql(
        client,
        '{ messagingProfiles(filter: {name: "Support"}) { totalCount edges { node { name } } } }',
    )
    assert _names(exact["data"]["messagingProfiles"]) == ["Support"]
    assert exact["data"]["messagingProfiles"]["totalCount"] == 1
    contains = await gql(
        client, '{ messagingProfiles(filter: {nameContains: "ar"}) { edges { node { name } } } }'
    )
    assert _names(contains["data"]["messagingProfiles"]) == ["Marketing"]
    assert upstream(simulator) == [
        "GET /messaging_profiles?page[number]=1&page[size]=20&filter[name]=Support",
        "GET /messaging_profiles?page[number]=1&page[size]=20&filter[name][contains]=ar",
    ]


async def test_messaging_profile_by_id(client: httpx.AsyncClient, alpha: Account) -> None:
    profile_id = list(alpha.profiles)[2]
    body = await gql(
        client, "query($id: ID!) { messagingProfile(id: $id) { id name } }", {"id": profile_id}
    )
    assert body["data"] == {"messagingProfile": {"id": profile_id, "name": "Support"}}


async def test_unknown_ids_are_null_with_not_found(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "query($id: ID!, $number: ID!) { messagingProfile(id: $id) { id } "
        "shortCode(id: $id) { id } phoneNumber(id: $number) { id } }",
        {"id": "00000000-0000-4000-8000-000000000000", "number": "+19999999999"},
    )
    assert body["data"] == {"messagingProfile": None, "shortCode": None, "phoneNumber": None}
    assert codes(body) == ["NOT_FOUND"] * 3
    assert body["errors"][0]["extensions"]["telnyx"] == {
        "code": "10005",
        "title": "Resource not found",
        "detail": "The requested resource or URL could not be found.",
    }


async def test_empty_id_is_refused_before_any_call(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    body = await gql(client, '{ messagingProfile(id: " ") { id } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert upstream(simulator) == []


async def test_profile_nested_numbers_and_short_codes(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    profile_id = next(iter(alpha.profiles))
    body = await gql(
        client,
        """query($id: ID!) { messagingProfile(id: $id) {
          phoneNumbers { totalCount edges { node {
            phoneNumber type messagingProduct eligibleMessagingProducts trafficType
            features { sms { domesticTwoWay internationalInbound internationalOutbound }
                       mms { domesticTwoWay internationalInbound internationalOutbound } }
            health { messageCount inboundOutboundRatio successRatio spamRatio }
            messagingProfile { id }
          } } }
          shortCodes { totalCount edges { node { shortCode countryCode tags messagingProfileId } } }
        } }""",
        {"id": profile_id},
    )
    profile = body["data"]["messagingProfile"]
    numbers = [edge["node"] for edge in profile["phoneNumbers"]["edges"]]
    assert profile["phoneNumbers"]["totalCount"] == 3
    assert [n["phoneNumber"] for n in numbers] == ["+13125550001", "+13125550002", "+18005550003"]
    assert [n["type"] for n in numbers] == ["LONG_CODE", "LONG_CODE", "TOLL_FREE"]
    assert numbers[0]["features"] == {
        "sms": {
            "domesticTwoWay": True,
            "internationalInbound": True,
            "internationalOutbound": True,
        },
        "mms": {
            "domesticTwoWay": True,
            "internationalInbound": False,
            "internationalOutbound": False,
        },
    }
    assert numbers[2]["features"]["mms"] is None
    assert [n["health"] for n in numbers] == [
        {"messageCount": c, "inboundOutboundRatio": 0.43, "successRatio": 0.94, "spamRatio": 0.06}
        for c in (100, 200, 300)
    ]
    assert numbers[2]["messagingProduct"] == "A2P"
    assert numbers[0]["eligibleMessagingProducts"] == ["A2P", "P2P"]
    assert {n["messagingProfile"]["id"] for n in numbers} == {profile_id}
    assert profile["shortCodes"] == {
        "totalCount": 1,
        "edges": [
            {
                "node": {
                    "shortCode": "20001",
                    "countryCode": "US",
                    "tags": [],
                    "messagingProfileId": profile_id,
                }
            }
        ],
    }


async def test_short_codes_and_filters(client: httpx.AsyncClient, alpha: Account) -> None:
    marketing = list(alpha.profiles)[1]
    query = """query($filter: ShortCodeFilter) { shortCodes(filter: $filter) {
        totalCount edges { node { shortCode messagingProfile { name } } } } }"""

    async def short_codes(filter: dict[str, object] | None) -> list[tuple[str, str | None]]:
        body = await gql(client, query, {"filter": filter})
        return [
            (e["node"]["shortCode"], (e["node"]["messagingProfile"] or {}).get("name"))
            for e in body["data"]["shortCodes"]["edges"]
        ]

    assert await short_codes(None) == [
        ("20001", "Alerts"),
        ("20002", "Marketing"),
        ("20003", "Support"),
        ("20004", None),
        ("20005", None),
    ]
    assert await short_codes({"messagingProfileId": marketing}) == [("20002", "Marketing")]
    assert await short_codes({"unassigned": True}) == [("20004", None), ("20005", None)]
    assert len(await short_codes({"unassigned": False})) == 5


async def test_unassigned_and_profile_filters_do_not_combine(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    body = await gql(
        client,
        "query($id: ID!) { shortCodes(filter: {messagingProfileId: $id, unassigned: true}) "
        "{ totalCount } }",
        {"id": next(iter(alpha.profiles))},
    )
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "filter.unassigned",
    }
    assert upstream(simulator) == []


async def test_short_code_by_id(client: httpx.AsyncClient, alpha: Account) -> None:
    short_code_id, short_code = list(alpha.short_codes.items())[3]
    body = await gql(
        client,
        "query($id: ID!) { shortCode(id: $id) { id shortCode recordType createdAt "
        "messagingProfileId messagingProfile { id } } }",
        {"id": short_code_id},
    )
    assert body["data"]["shortCode"] == {
        "id": short_code_id,
        "shortCode": "20004",
        "recordType": "short_code",
        "createdAt": "2024-03-01T09:17:00+00:00",
        "messagingProfileId": None,
        "messagingProfile": None,
    }
    assert short_code["short_code"] == "20004"


async def test_phone_numbers_and_filters(client: httpx.AsyncClient, alpha: Account) -> None:
    support = list(alpha.profiles)[2]
    query = """query($filter: PhoneNumberFilter) { phoneNumbers(filter: $filter) {
        totalCount edges { node { phoneNumber } } } }"""

    async def numbers(filter: dict[str, object] | None) -> list[str]:
        body = await gql(client, query, {"filter": filter})
        connection = body["data"]["phoneNumbers"]
        found = [e["node"]["phoneNumber"] for e in connection["edges"]]
        assert connection["totalCount"] == len(found)
        return found

    everything = await numbers(None)
    assert everything == [
        f"+1{'800' if (i % 3 == 0 and i < 10) or i == 11 else '312'}555{i:04d}"
        for i in range(1, 12)
    ]
    assert await numbers({"messagingProfileId": support}) == [
        "+13125550007",
        "+13125550008",
        "+18005550009",
    ]
    assert await numbers({"type": "TOLL_FREE"}) == [
        "+18005550003",
        "+18005550006",
        "+18005550009",
        "+18005550011",
    ]
    assert await numbers({"phoneNumber": "+13125550010"}) == ["+13125550010"]
    assert await numbers({"phoneNumberContains": "555000"}) == [
        f"+1{'800' if i % 3 == 0 else '312'}555{i:04d}" for i in range(1, 10)
    ]
    assert await numbers({"messagingProfileId": support, "type": "LONG_CODE"}) == [
        "+13125550007",
        "+13125550008",
    ]


async def test_phone_number_by_id_and_by_e164(client: httpx.AsyncClient, alpha: Account) -> None:
    number_id, number = list(alpha.phone_numbers.items())[9]
    query = "query($id: ID!) { phoneNumber(id: $id) { id phoneNumber messagingProfile { id } health { messageCount successRatio } } }"
    expected = {
        "id": number_id,
        "phoneNumber": "+13125550010",
        "messagingProfile": None,
        "health": {"messageCount": 0, "successRatio": 1.0},
    }
    assert (await gql(client, query, {"id": number_id}))["data"]["phoneNumber"] == expected
    by_e164 = await gql(client, query, {"id": number["phone_number"]})
    assert by_e164["data"]["phoneNumber"] == expected
