"""GraphQL over HTTP's content negotiation: `application/graphql-response+json` and its status
codes, with `application/json` answered as before. Both request readers (the speed-up's
and strawberry's) run every case: `make test` runs this suite again with
GATEWAY_SPEEDUPS=false."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import GraphQLError
from strawberry.types import ExecutionResult

from gateway.simulator import Simulator
from schema.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON, Answer, negotiate
from tests.conftest import MakeApp, client_for
from tests.schema.conftest import upstream

GRJ = GRAPHQL_RESPONSE_JSON
COUNT = "{ messagingProfiles { totalCount } }"
UNKNOWN_FIELD = "{ nope }"
UNKNOWN_FIELD_ERROR = {
    "message": "Cannot query field 'nope' on type 'Query'.",
    "locations": [{"line": 1, "column": 3}],
    "extensions": {"code": "BAD_USER_INPUT"},
}


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRJ, GRJ),
        (f"{GRJ}, application/json;q=0.9", GRJ),  # Apollo Client 4's default
        (f"application/json, {GRJ}", GRJ),
        (f"application/json;q=1, {GRJ};q=0.5", JSON),
        (f"{GRJ};q=0.5, */*", JSON),
        ("application/json;q=0, */*", GRJ),
        (f"{GRJ};q=0", JSON),  # nothing acceptable: answered in JSON
        ("text/html", JSON),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8", GRJ),
        (f"{GRJ};q=nonsense, application/json", JSON),
        ("multipart/mixed, application/json", JSON),
    ],
)
def test_negotiate(accept: str | None, chosen: str) -> None:
    assert negotiate(accept) == chosen


def refused(code: str, **extensions: Any) -> ExecutionResult:
    error = GraphQLError("refused", extensions={"code": code, **extensions})
    return ExecutionResult(data=None, errors=[error])


@pytest.mark.parametrize(
    ("results", "status", "headers"),
    [
        ([refused("BAD_USER_INPUT")], 400, {}),
        ([refused("RATE_LIMITED", retryAfter=3)], 429, {"Retry-After": "3"}),
        ([refused("RATE_LIMITED")], 429, {"Retry-After": "1"}),
        ([refused("RATE_LIMITED"), refused("BAD_USER_INPUT")], 400, {}),
        ([refused("RATE_LIMITED"), ExecutionResult(data={"a": 1}, errors=None)], 200, {}),
    ],
)
def test_the_status_of_refusals_in_the_graphql_type(
    results: list[ExecutionResult], status: int, headers: dict[str, str]
) -> None:
    answer, plain = Answer(GRJ), Answer(JSON)
    shaped = []
    for result in results:
        for each in (answer, plain):
            response: Any = {"data": result.data, "errors": ["..."]}
            each.shape(result, response)
            if each is answer:
                shaped.append(response)
    assert (answer.status, answer.headers) == (status, headers)
    assert (plain.status, plain.headers) == (200, {})
    assert [("data" in response) for response in shaped] == [
        result.data is not None for result in results
    ]


@pytest.fixture
async def client(make_app: MakeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as client:
        yield client


async def post(
    client: httpx.AsyncClient, body: Any, accept: str | None = GRJ, **headers: str
) -> httpx.Response:
    if accept is not None:
        headers["Accept"] = accept
    return await client.post("/graphql", json=body, headers=headers)


def assert_answer(response: httpx.Response, status: int, media_type: str, body: Any) -> None:
    assert (response.status_code, response.headers["content-type"], response.json()) == (
        status,
        media_type,
        body,
    )
    assert response.headers["vary"] == "Accept"


# --- application/graphql-response+json --------------------------------------------------


async def test_data_is_a_200_in_the_graphql_type(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": COUNT})
    assert_answer(
        response,
        200,
        GRJ,
        {
            "data": {"messagingProfiles": {"totalCount": 3}},
            "extensions": {"cache": {"cached": False, "stale": False}},
        },
    )


async def test_a_syntax_error_is_a_400_without_data(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    response = await post(client, {"query": "{"})
    assert_answer(
        response,
        400,
        GRJ,
        {
            "errors": [
                {
                    "message": "Syntax Error: Expected Name, found <EOF>.",
                    "locations": [{"line": 1, "column": 2}],
                    "extensions": {"code": "BAD_USER_INPUT"},
                }
            ],
            "extensions": {"cache": {"cached": False, "stale": False}},
        },
    )
    assert upstream(simulator) == []


async def test_a_validation_error_is_a_400_without_data(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": UNKNOWN_FIELD})
    assert response.status_code == 400
    assert response.json()["errors"] == [UNKNOWN_FIELD_ERROR]
    assert "data" not in response.json()


async def test_variables_that_do_not_coerce_are_a_400_without_data(
    client: httpx.AsyncClient,
) -> None:
    query = "query One($id: ID!) { messagingProfile(id: $id) { id } }"
    response = await post(client, {"query": query, "variables": {"id": None}})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": "Variable '$id' has invalid value: Expected value of non-null type 'ID!' not to be None.",
            "locations": [{"line": 1, "column": 11}],
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
    assert "data" not in response.json()


async def test_an_unknown_operation_name_is_a_400(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "query A { __typename }", "operationName": "B"})
    assert_answer(
        response,
        400,
        GRJ,
        {
            "errors": [
                {
                    "message": 'Unknown operation named "B".',
                    "extensions": {"code": "BAD_USER_INPUT"},
                }
            ]
        },
    )


async def test_a_refusal_by_the_cost_limit_is_a_400_without_data(
    make_app: MakeApp, simulator: Simulator
) -> None:
    async with client_for(make_app(max_query_cost=1)) as client:
        response = await post(
            client,
            {
                "query": "{ messagingProfiles(first: 2) { edges { node { shortCodes { totalCount } } } } }"
            },
        )
    assert response.status_code == 400
    assert [error["extensions"]["code"] for error in response.json()["errors"]] == [
        "BAD_USER_INPUT"
    ]
    assert response.json()["errors"][0]["message"] == (
        "This request could make up to 3 upstream calls; the limit is 1."
    )
    assert "data" not in response.json()
    assert upstream(simulator) == []


async def test_an_apq_miss_is_a_400_and_the_retry_runs(client: httpx.AsyncClient) -> None:
    sha = hashlib.sha256(COUNT.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    miss = await post(client, {"extensions": extensions})
    retry = await post(client, {"query": COUNT, "extensions": extensions})
    hit = await post(client, {"extensions": extensions})
    assert miss.status_code == 400
    assert miss.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
    assert "data" not in miss.json()
    assert (retry.status_code, hit.status_code) == (200, 200)
    assert retry.json()["data"] == hit.json()["data"] == {"messagingProfiles": {"totalCount": 3}}


async def test_a_field_error_has_data_and_is_a_200(client: httpx.AsyncClient) -> None:
    unknown = "4001767e-ce0f-4cae-9d5f-0d5e636e7809"
    response = await post(client, {"query": f'{{ messagingProfile(id: "{unknown}") {{ id }} }}'})
    assert response.status_code == 200
    assert response.headers["content-type"] == GRJ
    body = response.json()
    assert body["data"] == {"messagingProfile": None}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]


async def test_a_batch_is_a_200_unless_every_operation_was_refused(
    client: httpx.AsyncClient,
) -> None:
    mixed = await post(client, [{"query": COUNT}, {"query": UNKNOWN_FIELD}])
    refused = await post(client, [{"query": UNKNOWN_FIELD}, {"query": "{"}])
    assert mixed.status_code == 200
    assert [("data" in item) for item in mixed.json()] == [True, False]
    assert mixed.json()[1]["errors"] == [UNKNOWN_FIELD_ERROR]
    assert refused.status_code == 400
    assert [("data" in item) for item in refused.json()] == [False, False]


async def test_refusals_before_any_operation_are_in_the_graphql_type(
    make_app: MakeApp,
) -> None:
    async with client_for(make_app(), token=None) as anonymous:
        unauthenticated = await post(anonymous, {"query": COUNT})
    assert_answer(
        unauthenticated,
        401,
        GRJ,
        {
            "errors": [
                {
                    "message": "A valid bearer token is required.",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ]
        },
    )


async def test_bad_json_is_a_400_in_the_graphql_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        content=b'{ "not a JSON',
        headers={"Content-Type": "application/json", "Accept": GRJ},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == GRJ
    assert "data" not in response.json()


async def test_a_cached_answer_comes_in_the_type_asked_for(client: httpx.AsyncClient) -> None:
    first = await post(client, {"query": COUNT}, accept="application/json")
    second = await post(client, {"query": COUNT})
    third = await post(client, {"query": COUNT}, accept=None)
    assert [r.headers["x-cache"] for r in (first, second, third)] == ["MISS", "HIT", "HIT"]
    assert [r.headers["content-type"] for r in (first, second, third)] == [JSON, GRJ, JSON]
    assert second.json()["data"] == third.json()["data"] == {"messagingProfiles": {"totalCount": 3}}


# --- application/json: as before ---------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html"])
async def test_json_answers_request_errors_with_200_and_null_data(
    client: httpx.AsyncClient, accept: str | None
) -> None:
    response = await post(client, {"query": UNKNOWN_FIELD}, accept=accept)
    assert_answer(
        response,
        200,
        JSON,
        {
            "data": None,
            "errors": [UNKNOWN_FIELD_ERROR],
            "extensions": {"cache": {"cached": False, "stale": False}},
        },
    )


async def test_json_errors_before_any_operation_keep_their_status(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", content=json.dumps({"query": 1}), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
