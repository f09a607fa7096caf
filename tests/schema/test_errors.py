"""The error edge: each upstream failure's code, masking, and the document limits."""

from __future__ import annotations

import logging
from typing import Any

import graphql
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.config import Settings
from gateway.simulator import Simulator
from schema.api.errors import FORBIDDEN_MESSAGE
from tests.conftest import ALPHA_KEY
from tests.schema.conftest import codes, gql, upstream

COUNT = "{ messagingProfiles { totalCount } }"


@pytest.fixture
def settings() -> Settings:
    # No retries and no freshness: each scripted fault is the answer the gateway sees.
    return Settings(
        demo=True,
        graphiql=False,
        introspection=False,
        upstream_max_retries=0,
        cache_ttl_profiles=0,
        max_query_depth=4,
        max_aliases=3,
        max_tokens=60,
        otel_sdk_disabled=True,
    )


async def test_unavailable_upstream(client: httpx.AsyncClient, simulator: Simulator) -> None:
    simulator.faults.fail(503)
    body = await gql(client, COUNT)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"


async def test_stale_data_is_served_and_reported(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    fresh = await client.post("/graphql", json={"query": COUNT})
    simulator.faults.fail(503)
    stale = await client.post("/graphql", json={"query": COUNT})
    assert stale.json()["data"] == fresh.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert stale.headers["x-cache"] == "STALE"
    assert stale.json()["extensions"] == {"cache": {"cached": True, "stale": True}}
    assert len(upstream(simulator)) == 2


async def test_rate_limited_with_retry_after(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.rate_limit(retry_after=7)
    body = await gql(client, COUNT)
    assert body["errors"][0]["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": 7.0,
        "telnyx": {
            "code": "10011",
            "title": "Too many requests",
            "detail": "You have exceeded the maximum number of allowed requests.",
        },
    }


async def test_refused_tenant_key_is_forbidden_and_never_echoed(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(401)
    response = await client.post("/graphql", json={"query": COUNT})
    body = response.json()
    assert response.status_code == 200
    assert body["errors"][0]["message"] == FORBIDDEN_MESSAGE
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["telnyx"]["code"] == "10009"
    assert ALPHA_KEY not in response.text


async def test_unparseable_upstream_answer_is_upstream_error(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(200, body={"data": 42})
    body = await gql(client, COUNT)
    assert codes(body) == ["UPSTREAM_ERROR"]


async def test_unexpected_errors_are_masked_and_logged_by_type(
    app: Starlette,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"leaky detail {ALPHA_KEY}")

    monkeypatch.setattr(app.state.service, "read", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.post("/graphql", json={"query": COUNT})
    assert response.json()["errors"] == [
        {
            "message": "Internal server error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["messagingProfiles"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "schema.api.errors"] == [
        "unexpected RuntimeError while resolving messagingProfiles"
    ]
    assert "leaky" not in caplog.text
    assert "leaky" not in response.text


async def test_introspection_can_be_disabled(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ __schema { queryType { name } } }")
    assert body["data"] is None
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert "introspection" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "phrase"),
    [
        (
            "{ messagingProfiles { edges { node { shortCodes { edges { node { id } } } } } } }",
            "exceeds maximum operation depth of 4",
        ),
        (
            "{ a: messagingProfiles { totalCount } b: shortCodes { totalCount } "
            "c: phoneNumbers { totalCount } d: messagingProfiles { totalCount } }",
            "4 aliases found. Allowed: 3",
        ),
        ("{ messagingProfiles(first: 1) { " + "totalCount " * 60 + "} }", "60 tokens"),
    ],
)
async def test_document_limits(
    client: httpx.AsyncClient, simulator: Simulator, query: str, phrase: str
) -> None:
    body = await gql(client, query)
    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]
    assert phrase in body["errors"][0]["message"]
    assert upstream(simulator) == []


async def test_validation_is_cached_across_requests(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = "query Cached { messagingProfiles(first: 2) { totalCount } }"
    validated: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        validated.append("validated")
        return graphql.validate(*args, **kwargs)

    # graphql-core's validate, as strawberry's validation calls it.
    monkeypatch.setattr("strawberry.schema.schema.validate", counted)
    first = await gql(client, query)
    second = await gql(client, query)
    assert first == second
    assert validated == ["validated"]


async def test_operation_span(client: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    await gql(client, "query Profiles { messagingProfiles { totalCount } }")
    finished = {span.name: span for span in spans.get_finished_spans()}
    operation = finished["query Profiles"]
    assert operation.attributes == {
        "graphql.operation.type": "query",
        "graphql.operation.name": "Profiles",
        "graphql.errors": 0,
    }
    upstream_span = finished["telnyx.list_messaging_profiles"]
    assert upstream_span.parent is not None
    assert upstream_span.parent.span_id == operation.context.span_id
