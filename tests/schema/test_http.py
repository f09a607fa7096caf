"""The HTTP edge: bearer authentication, GraphiQL, GET, and the cache report."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.tenancy import TenantRegistry
from tests import nodetools
from tests.conftest import ALPHA_KEY, GATEWAY_URL
from tests.schema.conftest import upstream

QUERY = {"query": "{ messagingProfiles { totalCount } }"}


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer nope", "Basic abc", f"Bearer {ALPHA_KEY}"]
)
async def test_missing_or_unknown_token_is_401_before_execution(
    app: Starlette, simulator: Simulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
    ) as anonymous:
        response = await anonymous.post("/graphql", json=QUERY, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "errors": [
            {
                "message": "A valid bearer token is required.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
    assert upstream(simulator) == []


async def test_queries_over_get(client: httpx.AsyncClient) -> None:
    # A GET must say it is not a cross-site form (see tests/test_security.py).
    response = await client.get(
        "/graphql", params=QUERY, headers={"Apollo-Require-Preflight": "true"}
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert response.headers["x-cache"] == "MISS"


async def test_graphiql_is_off_unless_enabled(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_graphiql_page_needs_no_token(simulator: Simulator, tenants: TenantRegistry) -> None:
    nodetools.web_assets()  # without its files the page says how to get them (test_graphiql.py)
    app = create_app(
        Settings(demo=True, graphiql=True, otel_sdk_disabled=True),
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
    ) as anonymous:
        page = await anonymous.get("/graphql", headers={"Accept": "text/html"})
        data = await anonymous.post("/graphql", json=QUERY)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()
    assert data.status_code == 401


async def test_malformed_json_body(client: httpx.AsyncClient, simulator: Simulator) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Unable to parse request body as JSON",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }
    assert upstream(simulator) == []


async def test_syntax_errors_are_bad_user_input(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    response = await client.post("/graphql", json={"query": "{ messagingProfiles { "})
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert body["errors"][0]["message"] == "Syntax Error: Expected Name, found <EOF>."
    assert upstream(simulator) == []


async def test_introspection_when_enabled(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert response.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
