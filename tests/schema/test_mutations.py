"""Mutations: the request Telnyx receives, checks before any call, and Telnyx's refusals."""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.simulator import Account, Simulator
from tests.schema.conftest import gql, upstream

CREATE = """mutation($input: CreateMessagingProfileInput!) {
  createMessagingProfile(input: $input) {
    id name enabled whitelistedDestinations webhookUrl webhookApiVersion alphaSender
    numberPoolSettings { tollFreeWeight longCodeWeight skipUnhealthy stickySender geomatch }
    dailySpendLimit dailySpendLimitEnabled
  } }"""
UPDATE = """mutation($id: ID!, $input: UpdateMessagingProfileInput!) {
  updateMessagingProfile(id: $id, input: $input) {
    id name whitelistedDestinations numberPoolSettings { tollFreeWeight } alphaSender
  } }"""
SHORT_CODE = """mutation($id: ID!, $input: UpdateShortCodeInput!) {
  updateShortCode(id: $id, input: $input) { id messagingProfileId tags messagingProfile { name } } }"""
PHONE_NUMBER = """mutation($id: ID!, $input: UpdatePhoneNumberMessagingInput!) {
  updatePhoneNumberMessaging(id: $id, input: $input) {
    id messagingProfileId messagingProduct tags messagingProfile { name } } }"""


def sent(simulator: Simulator) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix("/v2")) for r in simulator.requests]


async def test_create_messaging_profile(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "name": "Billing",
                "whitelistedDestinations": ["US", "CA"],
                "webhookUrl": "https://hooks.example.com/billing",
                "webhookApiVersion": "V2010_04_01",
                "alphaSender": "Billing",
                "numberPoolSettings": {
                    "tollFreeWeight": 2,
                    "longCodeWeight": 0,
                    "skipUnhealthy": False,
                },
                "dailySpendLimit": "25.50",
                "dailySpendLimitEnabled": True,
            }
        },
    )
    created = body["data"]["createMessagingProfile"]
    assert created == {
        "id": created["id"],
        "name": "Billing",
        "enabled": True,
        "whitelistedDestinations": ["US", "CA"],
        "webhookUrl": "https://hooks.example.com/billing",
        "webhookApiVersion": "V2010_04_01",
        "alphaSender": "Billing",
        "numberPoolSettings": {
            "tollFreeWeight": 2.0,
            "longCodeWeight": 0.0,
            "skipUnhealthy": False,
            "stickySender": False,
            "geomatch": False,
        },
        "dailySpendLimit": "25.50",
        "dailySpendLimitEnabled": True,
    }
    assert alpha.profiles[created["id"]]["webhook_api_version"] == "2010-04-01"
    assert sent(simulator) == [("POST", "/messaging_profiles")]


async def test_create_then_list_sees_the_new_profile(client: httpx.AsyncClient) -> None:
    await gql(client, "{ messagingProfiles { totalCount } }")
    await gql(client, CREATE, {"input": {"name": "New", "whitelistedDestinations": ["*"]}})
    after = await gql(client, "{ messagingProfiles { totalCount } }")
    assert after["data"]["messagingProfiles"]["totalCount"] == 4


async def test_update_messaging_profile_sends_only_what_was_given(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    profile_id = next(iter(alpha.profiles))
    body = await gql(
        client,
        UPDATE,
        {"id": profile_id, "input": {"name": "Alerts v2", "numberPoolSettings": None}},
    )
    assert body["data"]["updateMessagingProfile"] == {
        "id": profile_id,
        "name": "Alerts v2",
        "whitelistedDestinations": ["US"],
        "numberPoolSettings": None,
        "alphaSender": None,
    }
    stored = alpha.profiles[profile_id]
    assert (stored["webhook_url"], stored["number_pool_settings"]) == (
        "https://hooks.example.com/alerts",
        None,
    )


async def test_delete_messaging_profile_returns_it_and_unassigns(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    profile_id = list(alpha.profiles)[1]
    body = await gql(
        client,
        "mutation($id: ID!) { deleteMessagingProfile(id: $id) { id name } }",
        {"id": profile_id},
    )
    assert body["data"]["deleteMessagingProfile"] == {"id": profile_id, "name": "Marketing"}
    assert profile_id not in alpha.profiles
    after = await gql(client, "{ shortCodes(filter: {unassigned: true}) { totalCount } }")
    assert after["data"]["shortCodes"]["totalCount"] == 3


async def test_update_short_code_assigns_unbinds_and_tags(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    short_code_id = list(alpha.short_codes)[3]
    support = list(alpha.profiles)[2]
    assigned = await gql(
        client,
        SHORT_CODE,
        {"id": short_code_id, "input": {"messagingProfileId": support, "tags": ["vip"]}},
    )
    assert assigned["data"]["updateShortCode"] == {
        "id": short_code_id,
        "messagingProfileId": support,
        "tags": ["vip"],
        "messagingProfile": {"name": "Support"},
    }
    unbound = await gql(
        client, SHORT_CODE, {"id": short_code_id, "input": {"messagingProfileId": None}}
    )
    assert unbound["data"]["updateShortCode"] == {
        "id": short_code_id,
        "messagingProfileId": None,
        "tags": ["vip"],
        "messagingProfile": None,
    }


async def test_update_short_code_needs_a_profile_id(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    body = await gql(
        client, SHORT_CODE, {"id": next(iter(alpha.short_codes)), "input": {"tags": []}}
    )
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.messagingProfileId",
    }
    assert upstream(simulator) == []


async def test_phone_number_assign_keep_and_unassign(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    number_id = list(alpha.phone_numbers)[9]  # unassigned
    marketing = list(alpha.profiles)[1]
    assigned = await gql(
        client, PHONE_NUMBER, {"id": number_id, "input": {"messagingProfileId": marketing}}
    )
    assert assigned["data"]["updatePhoneNumberMessaging"] == {
        "id": number_id,
        "messagingProfileId": marketing,
        "messagingProduct": "P2P",
        "tags": [],
        "messagingProfile": {"name": "Marketing"},
    }
    kept = await gql(
        client,
        PHONE_NUMBER,
        {"id": number_id, "input": {"tags": ["a"], "messagingProduct": None}},
    )
    assert kept["data"]["updatePhoneNumberMessaging"]["messagingProfileId"] == marketing
    assert kept["data"]["updatePhoneNumberMessaging"]["messagingProduct"] == "P2P"
    unassigned = await gql(
        client, PHONE_NUMBER, {"id": number_id, "input": {"messagingProfileId": None}}
    )
    assert unassigned["data"]["updatePhoneNumberMessaging"]["messagingProfileId"] is None
    assert alpha.phone_numbers[number_id]["messaging_profile_id"] is None
    assert alpha.phone_numbers[number_id]["tags"] == ["a"]


async def test_invalid_input_is_refused_with_every_field_and_no_call(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "name": "",
                "whitelistedDestinations": ["US", "usa", "*"],
                "webhookUrl": "ftp://example.com",
                "numberPoolSettings": {
                    "tollFreeWeight": -1,
                    "longCodeWeight": 1,
                    "skipUnhealthy": True,
                },
                "alphaSender": "Far too long!",
                "dailySpendLimit": "ten",
                "aiAssistantId": "x" * 65,
            }
        },
    )
    assert body["data"] is None
    assert [
        (error["extensions"]["code"], error["extensions"]["field"], error["path"])
        for error in body["errors"]
    ] == [
        ("BAD_USER_INPUT", field, ["createMessagingProfile"])
        for field in (
            "input.webhookUrl",
            "input.numberPoolSettings.tollFreeWeight",
            "input.alphaSender",
            "input.dailySpendLimit",
            "input.aiAssistantId",
            "input.name",
            "input.whitelistedDestinations.1",
        )
    ]
    messages = [error["message"] for error in body["errors"]]
    assert messages[0] == (
        "input.webhookUrl: must be an http(s) URL of at most 2000 characters, or empty"
    )
    assert messages[-1] == (
        "input.whitelistedDestinations.1: must be an ISO 3166-1 alpha-2 code or *"
    )
    assert upstream(simulator) == []


async def test_every_string_is_bounded_and_null_clears_what_may_be_cleared(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    profile = next(iter(alpha.profiles))
    too_long = {
        "name": "n" * 256,
        "webhookUrl": "https://hooks.example.com/" + "p" * 2000,
        "dailySpendLimit": "9" * 33,
        "urlShortenerSettings": {"domain": "d" * 256},
        "whitelistedDestinations": ["US"] * 301,
    }
    refused = await gql(client, UPDATE, {"id": profile, "input": too_long})
    cleared = await gql(
        client, UPDATE, {"id": profile, "input": {"webhookUrl": None, "alphaSender": None}}
    )

    assert sorted(error["extensions"]["field"] for error in refused["errors"]) == [
        "input.dailySpendLimit",
        "input.name",
        "input.urlShortenerSettings.domain",
        "input.webhookUrl",
        "input.whitelistedDestinations",
    ]
    assert {error["extensions"]["code"] for error in refused["errors"]} == {"BAD_USER_INPUT"}
    assert "errors" not in cleared
    assert upstream(simulator) == [
        f"PATCH /messaging_profiles/{profile}"
    ]  # the refusal sent nothing
    assert (alpha.profiles[profile]["webhook_url"], alpha.profiles[profile]["alpha_sender"]) == (
        None,
        None,
    )


async def test_telnyx_refusal_keeps_its_code_and_points_into_the_input(
    client: httpx.AsyncClient, alpha: Account
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    body = await gql(
        client,
        SHORT_CODE,
        {"id": next(iter(alpha.short_codes)), "input": {"messagingProfileId": unknown}},
    )
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.messagingProfileId",
        "telnyx": {
            "code": "10017",
            "title": "Associated resource does not exist",
            "detail": f"No messaging profile with id '{unknown}' exists.",
        },
    }


async def test_telnyx_pointer_with_an_index(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    problems: list[dict[str, Any]] = [
        {
            "code": "10015",
            "title": "Bad Request",
            "detail": "Unsupported destination.",
            "source": {"pointer": "/whitelisted_destinations/0"},
        },
        {"code": "40331", "title": "Missing whitelisted destinations"},
    ]
    simulator.faults.fail(422, body={"errors": problems}, method="POST")
    body = await gql(client, CREATE, {"input": {"name": "X", "whitelistedDestinations": ["ZZ"]}})
    assert [error["extensions"] for error in body["errors"]] == [
        {
            "code": "BAD_USER_INPUT",
            "field": "input.whitelistedDestinations.0",
            "telnyx": {
                "code": "10015",
                "title": "Bad Request",
                "detail": "Unsupported destination.",
            },
        },
        {
            "code": "BAD_USER_INPUT",
            "telnyx": {
                "code": "40331",
                "title": "Missing whitelisted destinations",
                "detail": None,
            },
        },
    ]
    assert body["errors"][0]["message"] == "Bad Request: Unsupported destination."


async def test_mutations_are_refused_over_get(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    response = await client.get(
        "/graphql",
        params={"query": 'mutation { deleteMessagingProfile(id: "x") { id } }'},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert upstream(simulator) == []


def test_request_bodies_are_what_telnyx_expects() -> None:
    # The unassign mapping, checked on the request model itself: null -> "".
    from schema.api.inputs import UpdatePhoneNumberMessagingInput, update_phone_number_request

    request = update_phone_number_request(
        UpdatePhoneNumberMessagingInput(messaging_profile_id=None, messaging_product=None)
    )
    assert json.dumps(request.to_json()) == '{"messaging_profile_id": ""}'
    assert update_phone_number_request(UpdatePhoneNumberMessagingInput()).to_json() == {}
