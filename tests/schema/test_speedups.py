"""The speed-ups change nothing a caller sees: the same documents, with the same odd data
upstream, answer the same JSON with `GATEWAY_SPEEDUPS` on and off (the whole GraphQL
suite also runs both ways: see the Makefile)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.simulator import Account, Simulator
from schema.build import build_schema
from schema.speedups import OFF, ON
from schema.speedups.execution import Execution
from tests.conftest import ALPHA_KEY, MakeApp, client_for

DOCUMENTS = [
    # aliases, __typename, fragments, inline fragments, lists of leaves
    """query { a: phoneNumbers(first: 3) { __typename totalCount edges { ...E } }
       b: phoneNumbers(first: 2) { edges { node { kind: type id } } } }
       fragment E on PhoneNumberEdge { cursor node { ... on PhoneNumber { id tags
       features { sms { domesticTwoWay } mms { domesticTwoWay } } health { messageCount } } } }""",
    # @skip and @include, with variables
    """query($yes: Boolean = true, $no: Boolean = false) { phoneNumbers(first: 4) { edges {
       node { id tags @include(if: $yes) type @skip(if: $yes) health @include(if: $no) {
       messageCount } } } pageInfo { hasNextPage endCursor } } }""",
    # the same field twice under one response name, merged
    """{ phoneNumbers(first: 2) { edges { node { id } node { phoneNumber } } } }""",
    # nested connections under a page of profiles
    """{ messagingProfiles(first: 3) { edges { node { id name whitelistedDestinations
       numberPoolSettings { tollFreeWeight } phoneNumbers(first: 2) { totalCount edges {
       node { id tags } } } shortCodes { edges { node { shortCode tags } } } } } } }""",
]


async def answers(make_app: MakeApp, speedups: bool, document: str) -> Any:
    app = make_app(speedups=speedups)
    async with client_for(app) as client:
        response = await client.post("/graphql", json={"query": document})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def odd(simulator: Simulator) -> Account:
    """Alpha's account with data a schema refuses in places: a null in a list of non-null
    strings, and a string where an Int belongs."""
    account = simulator.account(ALPHA_KEY)
    first, second, *_ = account.phone_numbers.values()
    first["tags"] = ["ok", None]
    second["health"]["message_count"] = "lots"
    return account


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_same_answers_with_the_speedups_on_and_off(
    make_app: MakeApp, document: str
) -> None:
    fast = await answers(make_app, True, document)
    plain = await answers(make_app, False, document)
    assert fast == plain
    assert "errors" not in fast


BROKEN = {
    DOCUMENTS[0]: [
        (["a", "edges", 0, "node", "tags", 1], "INTERNAL_SERVER_ERROR"),
        (["a", "edges", 1, "node", "health", "messageCount"], "INTERNAL_SERVER_ERROR"),
    ],
    DOCUMENTS[1]: [(["phoneNumbers", "edges", 0, "node", "tags", 1], "INTERNAL_SERVER_ERROR")],
}


@pytest.mark.parametrize("document", DOCUMENTS[:2])
async def test_the_same_errors_where_upstream_data_breaks_the_schema(
    make_app: MakeApp, odd: Account, document: str
) -> None:
    fast = await answers(make_app, True, document)
    plain = await answers(make_app, False, document)
    assert fast == plain
    # Our own values failing to serialise are masked, each at its place in the answer.
    assert [(e["path"], e["extensions"]["code"]) for e in fast["errors"]] == BROKEN[document]


def test_the_switch_reaches_the_executor() -> None:
    from gateway.config import Settings

    settings = Settings(demo=True, otel_sdk_disabled=True)
    assert build_schema(settings, speedups=ON).execution_context_class is Execution
    assert build_schema(settings, speedups=OFF).execution_context_class is not Execution
