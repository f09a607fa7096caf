"""The federation subgraph (`GATEWAY_FEDERATION`): its SDL, and entities by key as the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import ObjectTypeDefinitionNode, build_ast_schema, parse, print_ast

from gateway.simulator import Account, Simulator
from schema import federation_sdl, sdl
from schema.federation import subgraph_sdl
from tests.conftest import BETA_KEY, BETA_TOKEN, MakeApp, client_for
from tests.process import ROOT
from tests.schema.conftest import codes, gql, upstream

ENTITIES = """query($representations: [_Any!]!) { _entities(representations: $representations) {
  __typename
  ... on MessagingProfile { id name }
  ... on ShortCode { id shortCode messagingProfile { id name } }
  ... on PhoneNumber { id phoneNumber }
} }"""
KEYED = ("MessagingProfile", "PhoneNumber", "ShortCode")


@pytest.fixture
async def client(make_app: MakeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(federation=True)) as client:
        yield client


def ref(typename: str, key: Any) -> dict[str, Any]:
    return {"__typename": typename, "id": key}


def keyed_types(text: str) -> list[str]:
    return sorted(
        definition.name.value
        for definition in parse(text).definitions
        if isinstance(definition, ObjectTypeDefinitionNode)
        and [print_ast(directive) for directive in definition.directives or ()]
        == ['@key(fields: "id")']
    )


# --- the SDL -----------------------------------------------------------------------------


def test_the_checked_in_subgraph_sdl_matches_the_code() -> None:
    assert (ROOT / "schema" / "subgraph.graphql").read_text() == federation_sdl(), (
        "schema/subgraph.graphql is out of date with the code: run `make schema` and commit it"
    )


def test_the_subgraph_sdl_is_the_plain_one_with_the_link_and_the_keys() -> None:
    text = federation_sdl()
    assert text.startswith(
        'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])\n\n'
    )
    assert keyed_types(text) == list(KEYED)
    stripped = text.split("\n\n", 1)[1].replace(' @key(fields: "id")', "")
    assert stripped == sdl()
    assert keyed_types(sdl()) == []


def test_the_subgraph_sdl_needs_every_entity_type() -> None:
    with pytest.raises(ValueError, match="the SDL lacks an entity type"):
        subgraph_sdl("type Query { a: Int }\ntype MessagingProfile { id: ID! }\n")


async def test_service_answers_the_subgraph_sdl(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    assert body["data"] == {"_service": {"sdl": federation_sdl()}}


async def test_without_the_setting_there_is_no_federation(make_app: MakeApp) -> None:
    async with client_for(make_app()) as client:
        body = await gql(client, "{ _service { sdl } }")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "Cannot query field '_service' on type 'Query'."


def test_the_plain_schema_keeps_its_types_without_federation_types() -> None:
    plain = build_ast_schema(parse(sdl()))
    assert [
        name for name in plain.type_map if name.startswith("_") and not name.startswith("__")
    ] == []


# --- entities ----------------------------------------------------------------------------


async def test_entities_of_each_type_by_id(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    profile = next(iter(alpha.profiles.values()))
    short_code = next(s for s in alpha.short_codes.values() if s["messaging_profile_id"])
    number = next(iter(alpha.phone_numbers.values()))
    owner = alpha.profiles[short_code["messaging_profile_id"]]
    representations = [
        ref("MessagingProfile", profile["id"]),
        ref("ShortCode", short_code["id"]),
        ref("PhoneNumber", number["id"]),
    ]
    body = await gql(client, ENTITIES, {"representations": representations})
    assert body["data"] == {
        "_entities": [
            {"__typename": "MessagingProfile", "id": profile["id"], "name": profile["name"]},
            {
                "__typename": "ShortCode",
                "id": short_code["id"],
                "shortCode": short_code["short_code"],
                "messagingProfile": {"id": owner["id"], "name": owner["name"]},
            },
            {
                "__typename": "PhoneNumber",
                "id": number["id"],
                "phoneNumber": number["phone_number"],
            },
        ]
    }
    assert "errors" not in body
    assert sorted(upstream(simulator)) == sorted(
        [
            f"GET /messaging_profiles/{profile['id']}",
            f"GET /short_codes/{short_code['id']}",
            f"GET /phone_numbers/{number['id']}/messaging",
        ]
        + ([] if owner["id"] == profile["id"] else [f"GET /messaging_profiles/{owner['id']}"])
    )


async def test_repeated_keys_are_read_once_and_then_from_the_cache(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    profile_id = next(iter(alpha.profiles))
    representations = [ref("MessagingProfile", profile_id)] * 3
    first = await gql(client, ENTITIES, {"representations": representations})
    again = await gql(
        client,
        ENTITIES,
        {"representations": representations},
        headers={"Cache-Control": "no-cache"},
    )
    assert [e["id"] for e in first["data"]["_entities"]] == [profile_id] * 3
    assert (
        upstream(simulator) == [f"GET /messaging_profiles/{profile_id}"] * 2
    )  # no-cache refetches
    simulator.requests.clear()
    cached = await gql(
        client,
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on MessagingProfile { name } } }",
        {"r": representations[:1]},
    )
    assert cached["data"]["_entities"] == [{"name": alpha.profiles[profile_id]["name"]}]
    assert cached["extensions"]["cache"] == {"cached": True, "stale": False}
    assert upstream(simulator) == []
    assert again["data"] == first["data"]


async def test_another_tenants_entities_are_not_found(
    make_app: MakeApp, simulator: Simulator, alpha: Account
) -> None:
    profile_id = next(iter(alpha.profiles))
    async with client_for(make_app(federation=True), BETA_TOKEN) as beta:
        body = await gql(beta, ENTITIES, {"representations": [ref("MessagingProfile", profile_id)]})
    assert body["data"] == {"_entities": [None]}
    assert codes(body) == ["NOT_FOUND"]
    assert body["errors"][0]["path"] == ["_entities", 0]
    # Asked of Telnyx with beta's own key, never alpha's.
    assert [r.api_key for r in simulator.requests] == [BETA_KEY]
    assert alpha.profiles[profile_id]["name"] not in str(body)


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        ("MessagingProfile", "representations.0: must be an object"),
        (
            {"__typename": "Query", "id": "x"},
            "representations.0: `__typename` must be one of MessagingProfile, ShortCode, PhoneNumber",
        ),
        (
            {"id": "x"},
            "representations.0: `__typename` must be one of MessagingProfile, ShortCode, PhoneNumber",
        ),
        ({"__typename": "ShortCode"}, "representations.0: `id` must be a non-empty string"),
        (
            {"__typename": "ShortCode", "id": 7},
            "representations.0: `id` must be a non-empty string",
        ),
        (
            {"__typename": "ShortCode", "id": ""},
            "representations.0: `id` must be a non-empty string",
        ),
    ],
)
async def test_a_bad_representation_fails_alone(
    client: httpx.AsyncClient,
    simulator: Simulator,
    alpha: Account,
    representation: Any,
    message: str,
) -> None:
    profile = next(iter(alpha.profiles.values()))
    body = await gql(
        client,
        ENTITIES,
        {"representations": [representation, ref("MessagingProfile", profile["id"])]},
    )
    assert body["data"] == {
        "_entities": [
            None,
            {"__typename": "MessagingProfile", "id": profile["id"], "name": profile["name"]},
        ]
    }
    assert [(e["message"], e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
        (message, "BAD_USER_INPUT", ["_entities", 0])
    ]
    assert upstream(simulator) == [f"GET /messaging_profiles/{profile['id']}"]


async def test_the_cost_limit_counts_each_representation(
    make_app: MakeApp, simulator: Simulator, alpha: Account
) -> None:
    # Per representation: the lookup, and the nested page of phone numbers below it.
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on MessagingProfile { phoneNumbers(first: 5) { totalCount } } } }"""
    profile_ids = list(alpha.profiles)
    within = [ref("MessagingProfile", key) for key in profile_ids]  # 3 x 2 = 6
    over = [*within, ref("MessagingProfile", profile_ids[0])]  # 4 x 2 = 8
    async with client_for(make_app(federation=True, max_query_cost=6)) as client:
        allowed = await gql(client, query, {"r": within})
        refused = await client.post("/graphql", json={"query": query, "variables": {"r": over}})
    assert "errors" not in allowed
    assert len(allowed["data"]["_entities"]) == 3
    calls = len(simulator.requests)
    assert refused.json()["errors"] == [
        {
            "message": "This request could make up to 8 upstream calls; the limit is 6.",
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
    assert len(simulator.requests) == calls


async def test_the_item_limit_counts_each_entity_and_what_it_holds(
    make_app: MakeApp, simulator: Simulator, alpha: Account
) -> None:
    # Per representation: the entity, and the five numbers of its nested page.
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
      ... on MessagingProfile { phoneNumbers(first: 5) { totalCount } } } }"""
    representations = [ref("MessagingProfile", key) for key in alpha.profiles]  # 3 x 6 = 18
    async with client_for(make_app(federation=True, max_query_items=17)) as client:
        refused = await client.post(
            "/graphql", json={"query": query, "variables": {"r": representations}}
        )
    assert refused.json()["errors"] == [
        {
            "message": "This request could return up to 18 items; the limit is 17.",
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
    assert upstream(simulator) == []
