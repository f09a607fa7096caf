"""The gateway benchmark's scenarios: the requests, what each is compared with, and how
each response is checked."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import aiohttp
import orjson

from bench import stack
from bench.load import Action, BadResponseError, fetch
from bench.report import CEILING_NESTED, CEILING_PROFILE, FLOOR, FLOOR_ONE, PROXY

PROFILE_FIELDS = (
    "id name enabled webhookUrl webhookFailoverUrl webhookApiVersion whitelistedDestinations "
    "dailySpendLimit dailySpendLimitEnabled mmsFallBackToSms createdAt updatedAt"
)
NESTED_QUERY = (
    "query Nested { messagingProfiles(first: 20) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { cursor node { "
    f"{PROFILE_FIELDS} "
    "phoneNumbers(first: 10) { totalCount edges { node { id phoneNumber type countryCode "
    "messagingProduct } } } "
    "shortCodes(first: 10) { totalCount edges { node { id shortCode countryCode } } } "
    "} } } }"
)
PROFILE_QUERY = f"query Profile($id: ID!) {{ messagingProfile(id: $id) {{ {PROFILE_FIELDS} }} }}"
LIST_QUERY = (
    "query List { messagingProfiles(first: 20) { totalCount pageInfo { hasNextPage endCursor } "
    f"edges {{ cursor node {{ {PROFILE_FIELDS} }} }} }} }}"
)
RENAME_MUTATION = (
    "mutation Rename($id: ID!, $name: String!) { "
    "updateMessagingProfile(id: $id, input: {name: $name}) { id name } }"
)
NESTED_BODY = orjson.dumps({"query": NESTED_QUERY})
PER_PROFILE_UPSTREAM = 1 + 2 * stack.PROFILES  # the page, then each profile's two lists
FAN_IN_UPSTREAM = 3  # the page, then all the account's phone numbers and short codes


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    server: stack.Server  # the process that answers; its CPU is measured
    action: Action
    cold: bool  # runs at the cold concurrency
    versus: str | None
    count_upstream: bool = True


@dataclass(frozen=True)
class Servers:
    simulator: stack.Server
    gateway: stack.Server
    baseline: stack.Server


def scenarios(
    session: aiohttp.ClientSession, servers: Servers, token: str, ids: list[str]
) -> list[Scenario]:
    gateway, baseline, simulator = servers.gateway, servers.baseline, servers.simulator
    graphql_url = gateway.url + "/graphql"
    warm = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    cold = {**warm, "Cache-Control": "no-cache"}
    profile_id = ids[0]
    profile_body = orjson.dumps({"query": PROFILE_QUERY, "variables": {"id": profile_id}})
    list_body = orjson.dumps({"query": LIST_QUERY})
    profile_path = f"/v2/messaging_profiles/{profile_id}"
    list_path = f"/v2/messaging_profiles?page[size]={stack.PROFILES}"
    upstream_auth = {"Authorization": f"Bearer {stack.TELNYX_KEY}"}

    async def graphql(body: bytes, headers: dict[str, str]) -> bytes:
        data = await fetch(session, "POST", graphql_url, body=body, headers=headers)
        if b'"errors"' in data:
            raise BadResponseError(data[:300].decode(errors="replace"))
        return data

    def get(url: str, headers: dict[str, str] | None = None) -> Action:
        async def action(_: int) -> None:
            await fetch(session, "GET", url, headers=headers)

        return action

    def post_graphql(body: bytes, headers: dict[str, str]) -> Action:
        async def action(_: int) -> None:
            await graphql(body, headers)

        return action

    async def baseline_nested(_: int) -> None:
        await fetch(session, "POST", baseline.url + "/graphql", body=NESTED_BODY, headers=warm)

    names = itertools.count()

    async def write_then_read(worker: int) -> None:
        # Each worker renames its own profile, then must read the new name back.
        target = ids[-1 - worker % len(ids)]
        name = f"Bench {next(names)}"
        variables = {"id": target, "name": name}
        await graphql(orjson.dumps({"query": RENAME_MUTATION, "variables": variables}), warm)
        read = orjson.dumps({"query": PROFILE_QUERY, "variables": {"id": target}})
        if f'"name":"{name}"'.encode() not in await graphql(read, warm):
            raise BadResponseError(f"the read after the write did not show {name!r}")

    return [
        Scenario(
            CEILING_NESTED,
            "baseline: Starlette, nested-query bytes",
            baseline,
            baseline_nested,
            cold=False,
            versus=None,
            count_upstream=False,
        ),
        Scenario(
            CEILING_PROFILE,
            "baseline: Starlette, REST profile bytes",
            baseline,
            get(baseline.url + profile_path, warm),
            cold=False,
            versus=None,
            count_upstream=False,
        ),
        Scenario(
            FLOOR,
            "baseline: simulator direct, page of 20",
            simulator,
            get(simulator.url + list_path, upstream_auth),
            cold=True,
            versus=None,
        ),
        Scenario(
            FLOOR_ONE,
            "baseline: simulator direct, one profile",
            simulator,
            get(simulator.url + profile_path, upstream_auth),
            cold=True,
            versus=None,
        ),
        Scenario(
            PROXY,
            "baseline: Starlette + aiohttp proxy, one profile",
            baseline,
            get(baseline.url + "/proxy" + profile_path, upstream_auth),
            cold=True,
            versus=FLOOR_ONE,
        ),
        Scenario(
            "gql-profile-cold",
            "GraphQL messagingProfile(id), cold",
            gateway,
            post_graphql(profile_body, cold),
            cold=True,
            versus=FLOOR_ONE,
        ),
        Scenario(
            "gql-list-cold",
            "GraphQL list of 20 profiles, cold",
            gateway,
            post_graphql(list_body, cold),
            cold=True,
            versus=FLOOR,
        ),
        Scenario(
            "gql-nested-cold",
            "GraphQL nested, cold",
            gateway,
            post_graphql(NESTED_BODY, cold),
            cold=True,
            versus=FLOOR,
        ),
        Scenario(
            "gql-nested-warm",
            "GraphQL nested, warm",
            gateway,
            post_graphql(NESTED_BODY, warm),
            cold=False,
            versus=CEILING_NESTED,
        ),
        Scenario(
            "gql-profile-warm",
            "GraphQL messagingProfile(id), warm",
            gateway,
            post_graphql(profile_body, warm),
            cold=False,
            versus=CEILING_PROFILE,
        ),
        Scenario(
            "rest-profile-warm",
            "REST profile by id, warm",
            gateway,
            get(gateway.url + profile_path, warm),
            cold=False,
            versus=CEILING_PROFILE,
        ),
        Scenario(
            "rest-profile-cold",
            "REST profile by id, cold",
            gateway,
            get(gateway.url + profile_path, cold),
            cold=True,
            versus=FLOOR_ONE,
        ),
        Scenario(
            "rest-list-warm",
            "REST list of 20, warm",
            gateway,
            get(gateway.url + list_path, warm),
            cold=False,
            versus=CEILING_PROFILE,
        ),
        Scenario(
            "gql-write-read",
            "GraphQL update + read (pair)",
            gateway,
            write_then_read,
            cold=True,
            versus=FLOOR,
        ),
    ]
