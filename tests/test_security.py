"""Security and abuse resistance, end to end through the HTTP faces.

Tenant isolation on every read path, secrets kept out of every output, and each limit
(CSRF, body size, depth, aliases, tokens, `first`, cost, batch, rate) at its boundary:
the limit passes, one over it fails, and a refusal never reaches Telnyx.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import hypothesis
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
)
from graphql.utilities import type_from_ast
from hypothesis import HealthCheck
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.ratelimit import MemoryBuckets, RateLimiter
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import RateLimit, TenantRegistry
from schema import build_schema, create_graphql_app
from schema.http.csrf import MESSAGE as CSRF_MESSAGE
from tests.conftest import (
    ALPHA_KEY,
    ALPHA_TOKEN,
    BETA_KEY,
    BETA_TOKEN,
    MakeApp,
    client_for,
    scrape,
)
from tests.schema.conftest import codes, upstream

PREFLIGHT = {"Apollo-Require-Preflight": "true"}
COUNT = "{ messagingProfiles { totalCount } }"
NAMES = "{ messagingProfiles { edges { node { id name } } } }"
NESTED_PAGE = (
    "{ messagingProfiles(first: 20) { edges { node { id"
    " phoneNumbers { edges { node { id } } } shortCodes { edges { node { id } } } } } } }"
)
NESTED_PAGE_COST = 41
NESTED_PAGE_ITEMS = 20 + 20 * 20 + 20 * 20  # profiles, then each one's numbers and codes
SECRETS = (ALPHA_KEY, BETA_KEY, ALPHA_TOKEN, BETA_TOKEN)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def error(message: str, code: str = "BAD_USER_INPUT", **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


async def post(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/graphql", json=body)


@pytest.fixture
async def beta(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, BETA_TOKEN) as client:
        yield client


# --- production defaults ----------------------------------------------------------------


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.json"
    entry = {"id": "alpha", "token_sha256": sha256(ALPHA_TOKEN), "telnyx_api_key": ALPHA_KEY}
    path.write_text(json.dumps({"tenants": [entry]}))
    return path


@pytest.fixture
async def production(
    tenants_file: Path, simulator: Simulator, tenants: TenantRegistry
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    settings = Settings(tenants_file=tenants_file, otel_sdk_disabled=True)
    telemetry = build_telemetry(settings)
    app = create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=telemetry,
    )
    async with client_for(app) as client:
        yield app, client
    telemetry.shutdown()


def test_without_demo_graphiql_and_introspection_are_off(tenants_file: Path) -> None:
    settings = Settings(tenants_file=tenants_file)
    assert (settings.demo, settings.graphiql, settings.introspection) == (False, False, False)
    assert (settings.trusted_documents_only, settings.max_query_cost) == (False, 500)


async def test_production_refuses_introspection(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    body = (await post(client, {"query": "{ __schema { queryType { name } } }"})).json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "GraphQL introspection has been disabled, but the requested query contained "
        "the field '__schema'."
    )
    assert set(codes(body)) == {"BAD_USER_INPUT"}


async def test_production_suggests_no_field_names(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = production
    body = (await post(client, {"query": "{ messagingProfilez }"})).json()
    # With introspection on, this would add: Did you mean 'messagingProfile'?
    assert body["errors"][0]["message"] == "Cannot query field 'messagingProfilez' on type 'Query'."


async def test_production_serves_no_graphiql(
    production: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = production
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == error("Not Found", "NOT_FOUND")
    assert app.debug is False


async def test_production_masks_unexpected_errors(
    production: tuple[Starlette, httpx.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, client = production

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"bug holding {ALPHA_KEY}")

    monkeypatch.setattr(app.state.service, "read", broken)
    with caplog.at_level(logging.DEBUG):
        response = await post(client, {"query": COUNT})
    assert response.status_code == 200
    assert response.json()["errors"] == [
        {
            "message": "Internal server error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["messagingProfiles"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert ALPHA_KEY not in response.text
    assert ALPHA_KEY not in caplog.text


# --- cross-tenant reads -----------------------------------------------------------------


def beta_ids(simulator: Simulator) -> dict[str, str]:
    account = simulator.account(BETA_KEY)
    return {
        "messagingProfile": next(iter(account.profiles)),
        "shortCode": next(iter(account.short_codes)),
        "phoneNumber": next(iter(account.phone_numbers)),
    }


@pytest.mark.parametrize("field", ["messagingProfile", "shortCode", "phoneNumber"])
async def test_another_tenants_ids_are_not_found_over_graphql(
    client: httpx.AsyncClient, simulator: Simulator, field: str
) -> None:
    other = beta_ids(simulator)[field]
    body = (await post(client, {"query": f'{{ {field}(id: "{other}") {{ id }} }}'})).json()
    assert body["data"] == {field: None}
    assert codes(body) == ["NOT_FOUND"]
    assert {r.api_key for r in simulator.requests} == {ALPHA_KEY}


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("messagingProfile", "/v2/messaging_profiles/{}"),
        ("shortCode", "/v2/short_codes/{}"),
        ("phoneNumber", "/v2/phone_numbers/{}/messaging"),
    ],
)
async def test_another_tenants_ids_are_not_found_over_rest(
    client: httpx.AsyncClient, simulator: Simulator, field: str, path: str
) -> None:
    response = await client.get(path.format(beta_ids(simulator)[field]))
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "10005"
    assert {r.api_key for r in simulator.requests} == {ALPHA_KEY}


async def test_another_tenants_profile_cannot_be_changed(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    other = beta_ids(simulator)["messagingProfile"]
    before = dict(simulator.account(BETA_KEY).profiles[other])
    mutation = 'mutation($id: ID!) { updateMessagingProfile(id: $id, input: {name: "x"}) { id } }'
    body = (await post(client, {"query": mutation, "variables": {"id": other}})).json()
    assert codes(body) == ["NOT_FOUND"]
    assert simulator.account(BETA_KEY).profiles[other] == before


async def test_the_cache_never_serves_another_tenants_entry(
    client: httpx.AsyncClient, beta: httpx.AsyncClient, simulator: Simulator
) -> None:
    other = beta_ids(simulator)["messagingProfile"]
    lookup = {"query": f'{{ messagingProfile(id: "{other}") {{ name }} }}'}
    seen_by_beta = (await post(beta, lookup)).json()
    assert seen_by_beta["data"]["messagingProfile"]["name"] in {"Alerts", "Marketing", "Support"}
    assert (await post(beta, {"query": NAMES})).status_code == 200

    by_alpha = await post(client, lookup)
    assert by_alpha.json()["data"] == {"messagingProfile": None}
    assert codes(by_alpha.json()) == ["NOT_FOUND"]
    alphas = (await post(client, {"query": NAMES})).json()["data"]["messagingProfiles"]["edges"]
    assert {edge["node"]["id"] for edge in alphas} == set(simulator.account(ALPHA_KEY).profiles)
    # alpha's reads went to Telnyx with alpha's key: nothing came from beta's entries
    assert [r.api_key for r in simulator.requests] == [BETA_KEY, BETA_KEY, ALPHA_KEY, ALPHA_KEY]


async def test_concurrent_reads_of_one_id_are_not_shared_across_tenants(
    client: httpx.AsyncClient, beta: httpx.AsyncClient, simulator: Simulator
) -> None:
    other = beta_ids(simulator)["messagingProfile"]
    simulator.faults.slow(0.05, times=2)
    lookup = {"query": f'{{ messagingProfile(id: "{other}") {{ id }} }}'}
    by_beta, by_alpha = await asyncio.gather(post(beta, lookup), post(client, lookup))
    assert by_beta.json()["data"] == {"messagingProfile": {"id": other}}
    assert by_alpha.json()["data"] == {"messagingProfile": None}
    assert sorted(r.api_key or "" for r in simulator.requests) == [ALPHA_KEY, BETA_KEY]


async def test_a_document_beta_registered_is_not_found_for_alpha(
    client: httpx.AsyncClient, beta: httpx.AsyncClient, simulator: Simulator
) -> None:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(NAMES)}}
    registered = (await post(beta, {"query": NAMES, "extensions": persisted})).json()
    assert "errors" not in registered
    assert (await post(beta, {"extensions": persisted})).json()["data"] == registered["data"]

    # APQ registrations are per tenant: alpha cannot even learn that beta sent it.
    assert (await post(client, {"extensions": persisted})).json() == {
        "data": None,
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ],
    }
    ran = (await post(client, {"query": NAMES, "extensions": persisted})).json()
    edges = ran["data"]["messagingProfiles"]["edges"]
    assert {edge["node"]["id"] for edge in edges} == set(simulator.account(ALPHA_KEY).profiles)


async def test_a_trusted_document_runs_for_each_tenant_on_its_own_data(
    make_app: MakeApp, tmp_path: Path, simulator: Simulator
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({sha256(NAMES): NAMES}))
    app = make_app(trusted_documents_file=path, trusted_documents_only=True)
    persisted = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(NAMES)}}}
    for token, key in ((ALPHA_TOKEN, ALPHA_KEY), (BETA_TOKEN, BETA_KEY)):
        async with client_for(app, token) as client:
            body = (await post(client, persisted)).json()
        ids = {edge["node"]["id"] for edge in body["data"]["messagingProfiles"]["edges"]}
        assert ids == set(simulator.account(key).profiles)


# --- trusted documents and APQ over HTTP ------------------------------------------------


async def test_apq_round_trip_as_apollo_clients_do_it(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(COUNT)}}
    missing = await post(client, {"extensions": persisted})
    assert missing.status_code == 200
    assert codes(missing.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert upstream(simulator) == []
    full = await post(client, {"query": COUNT, "extensions": persisted})
    assert full.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
    by_hash = await client.get(
        "/graphql", params={"extensions": json.dumps(persisted)}, headers=PREFLIGHT
    )
    assert by_hash.json()["data"] == {"messagingProfiles": {"totalCount": 3}}


async def test_apq_refuses_a_hash_that_is_not_the_querys(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(NAMES)}}
    body = (await post(client, {"query": COUNT, "extensions": persisted})).json()
    assert body == {"data": None, **error("provided sha does not match query")}
    assert upstream(simulator) == []
    assert codes((await post(client, {"extensions": persisted})).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


async def test_an_invalid_document_is_not_registered(client: httpx.AsyncClient) -> None:
    invalid = "{ messagingProfiles { nope } }"
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(invalid)}}
    assert codes((await post(client, {"query": invalid, "extensions": persisted})).json()) == [
        "BAD_USER_INPUT"
    ]
    assert codes((await post(client, {"extensions": persisted})).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


async def test_trusted_only_refuses_unregistered_documents(
    make_app: MakeApp, tmp_path: Path, simulator: Simulator
) -> None:
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": sha256(COUNT), "body": COUNT, "name": None, "type": "query"}],
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    refused = {
        "data": None,
        **error("Only registered documents run on this gateway, and this one is not registered."),
    }
    async with client_for(
        make_app(trusted_documents_file=path, trusted_documents_only=True)
    ) as client:
        assert (await post(client, {"query": COUNT})).json()["data"] == {
            "messagingProfiles": {"totalCount": 3}
        }
        requests = len(simulator.requests)
        assert (await post(client, {"query": NAMES})).json() == refused
        apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(NAMES)}}
        assert (await post(client, {"query": NAMES, "extensions": apq})).json() == refused
        assert (await post(client, {"extensions": apq})).json() == refused
    assert len(simulator.requests) == requests


def test_an_invalid_trusted_documents_file_stops_start_up(
    make_app: MakeApp, tmp_path: Path
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({sha256(NAMES): COUNT}))
    with pytest.raises(ValueError, match="the id is not the sha256 of the document"):
        make_app(trusted_documents_file=path)


def test_trusted_only_needs_the_file() -> None:
    with pytest.raises(ValueError, match="GATEWAY_TRUSTED_DOCUMENTS_FILE is required"):
        Settings(demo=True, trusted_documents_only=True)


# --- secrets ------------------------------------------------------------------------------


NO_ID = "00000000-0000-4000-8000-000000000001"


async def test_keys_and_tokens_never_appear_in_any_output(
    app: Starlette,
    client: httpx.AsyncClient,
    simulator: Simulator,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        responses.append(await post(client, {"query": NESTED_PAGE}))
        responses.append(await client.get("/v2/messaging_profiles"))
        for status in (401, 403, 422, 429, 500, 503):
            simulator.faults.fail(status, times=5)
            responses.append(
                await post(client, {"query": f'{{ shortCode(id: "{NO_ID}") {{ id }} }}'})
            )
            simulator.faults.fail(status, times=5)
            responses.append(await client.get(f"/v2/short_codes/{NO_ID}"))
        simulator.faults.clear()
        simulator.faults.drop(times=5)
        responses.append(
            await post(client, {"query": '{ phoneNumber(id: "+15550000000") { id } }'})
        )
        responses.append(await post(client, {"query": "{ nope }"}))
        async with client_for(app, token=ALPHA_KEY) as wrong:
            responses.append(await post(wrong, {"query": COUNT}))
            responses.append(await wrong.get("/v2/messaging_profiles"))
        responses.append(await scrape(app))
    outputs = [caplog.text]
    for response in responses:
        outputs.append(response.text)
        outputs.extend(f"{name}: {value}" for name, value in response.headers.items())
    for span in spans.get_finished_spans():
        outputs.append(span.to_json())
    leaked = [secret for secret in SECRETS for output in outputs if secret in output]
    assert leaked == []
    assert len(simulator.requests) > 16  # the faults were reached, not short-circuited


# --- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "text/plain; charset=utf-8"},
        {"Content-Type": "text/plain; charset=utf-8; format=flowed"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "Multipart/Form-Data; boundary=x"},
        {"X-Apollo-Operation-Name": ""},
        {"Apollo-Require-Preflight": ""},
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_simple_requests_are_refused_as_possible_csrf(
    client: httpx.AsyncClient, simulator: Simulator, method: str, headers: dict[str, str]
) -> None:
    if method == "GET":
        response = await client.get("/graphql", params={"query": COUNT}, headers=headers)
    else:
        body = json.dumps({"query": COUNT}).encode()
        response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == error(CSRF_MESSAGE)
    assert upstream(simulator) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Apollo-Require-Preflight": "true"},
        {"X-Apollo-Operation-Name": "Count"},
        {"Content-Type": "application/json"},
    ],
)
async def test_a_preflighted_get_runs(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.get("/graphql", params={"query": COUNT}, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == {"messagingProfiles": {"totalCount": 3}}


async def test_a_preflighted_post_of_another_type_passes_csrf_but_is_unsupported(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    response = await client.post(
        "/graphql", content=b"{ x }", headers={"Content-Type": "text/plain", **PREFLIGHT}
    )
    assert response.status_code == 400
    assert response.json() == error("Unsupported content type")
    assert upstream(simulator) == []


async def test_csrf_is_checked_before_the_token(app: Starlette, simulator: Simulator) -> None:
    async with client_for(app, token=None) as anonymous:
        response = await anonymous.get("/graphql", params={"query": COUNT})
    assert response.status_code == 400
    assert response.json() == error(CSRF_MESSAGE)
    assert "www-authenticate" not in response.headers
    assert upstream(simulator) == []


async def test_mutations_are_never_run_over_get(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    other = next(iter(simulator.account(ALPHA_KEY).profiles))
    response = await client.get(
        "/graphql",
        params={"query": f'mutation {{ deleteMessagingProfile(id: "{other}") {{ id }} }}'},
        headers=PREFLIGHT,
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == error("mutations are not allowed when using GET")
    assert upstream(simulator) == []
    assert other in simulator.account(ALPHA_KEY).profiles


async def test_graphiql_still_works(make_app: MakeApp) -> None:
    async with client_for(make_app(graphiql=True)) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        # GraphiQL's own requests are POSTs of application/json.
        data = await client.post("/graphql", json={"query": COUNT})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert data.json()["data"] == {"messagingProfiles": {"totalCount": 3}}


# --- body size ---------------------------------------------------------------------------

LIMIT = 2048


def padded(document: dict[str, Any], size: int) -> bytes:
    """`document` as JSON of exactly `size` bytes (whitespace is insignificant)."""
    raw = json.dumps(document).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


async def stream(body: bytes) -> AsyncIterator[bytes]:
    # Without a Content-Length: the limit must hold on a chunked body too.
    for start in range(0, len(body), 500):
        yield body[start : start + 500]


@pytest.mark.parametrize("chunked", [False, True])
async def test_graphql_body_size_limit(
    make_app: MakeApp, simulator: Simulator, *, chunked: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    async with client_for(make_app(max_body_bytes=LIMIT)) as client:
        for size, status in ((LIMIT, 200), (LIMIT + 1, 413)):
            body = padded({"query": COUNT}, size)
            assert len(body) == size
            content = stream(body) if chunked else body
            response = await client.post("/graphql", content=content, headers=headers)
            assert response.status_code == status
            if status == 413:
                assert response.json() == error("Request body too large.")
    assert len(simulator.requests) == 1


@pytest.mark.parametrize("chunked", [False, True])
async def test_rest_body_size_limit(
    make_app: MakeApp, simulator: Simulator, *, chunked: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    async with client_for(make_app(max_body_bytes=LIMIT)) as client:
        fits = padded({"name": "Sized", "whitelisted_destinations": ["US"]}, LIMIT)
        response = await client.post(
            "/v2/messaging_profiles", content=stream(fits) if chunked else fits, headers=headers
        )
        assert response.status_code == 200
        over = padded({"name": "Too big", "whitelisted_destinations": ["US"]}, LIMIT + 1)
        response = await client.post(
            "/v2/messaging_profiles", content=stream(over) if chunked else over, headers=headers
        )
    assert response.status_code == 413
    (only,) = response.json()["errors"]
    assert (only["code"], only["title"]) == ("10015", "Request Entity Too Large")
    assert len(simulator.requests) == 1


# --- document limits ------------------------------------------------------------------------


async def assert_refused(
    client: httpx.AsyncClient, simulator: Simulator, document: str, message: str
) -> None:
    body = (await post(client, {"query": document})).json()
    assert body["data"] is None
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        (message, {"code": "BAD_USER_INPUT"})
    ]
    assert upstream(simulator) == []


async def assert_runs(client: httpx.AsyncClient, document: str) -> dict[str, Any]:
    body: dict[str, Any] = (await post(client, {"query": document})).json()
    assert "BAD_USER_INPUT" not in codes(body)
    assert body["data"] is not None
    return body


async def test_depth_limit(make_app: MakeApp, simulator: Simulator) -> None:
    deepest = "{ messagingProfiles { edges { node { id } } } }"
    deeper = "{ messagingProfiles { edges { node { phoneNumbers { totalCount } } } } }"
    async with client_for(make_app(max_query_depth=3)) as client:
        await assert_refused(
            client, simulator, deeper, "'anonymous' exceeds maximum operation depth of 3"
        )
        await assert_runs(client, deepest)


async def test_alias_limit(make_app: MakeApp, simulator: Simulator) -> None:
    def aliased(count: int) -> str:
        return (
            "{ "
            + " ".join(f"a{i}: messagingProfiles {{ totalCount }}" for i in range(count))
            + " }"
        )

    async with client_for(make_app(max_aliases=3)) as client:
        await assert_refused(client, simulator, aliased(4), "4 aliases found. Allowed: 3")
        await assert_runs(client, aliased(3))


async def test_token_limit(make_app: MakeApp, simulator: Simulator) -> None:
    # { messagingProfiles { totalCount } } is six tokens.
    async with client_for(make_app(max_tokens=5)) as client:
        await assert_refused(
            client,
            simulator,
            COUNT,
            "Syntax Error: Document contains more than 5 tokens. Parsing aborted.",
        )
    async with client_for(make_app(max_tokens=6)) as client:
        await assert_runs(client, COUNT)


async def test_first_limit(make_app: MakeApp, simulator: Simulator) -> None:
    async with client_for(make_app(max_page_size=5)) as client:
        body = (
            await post(client, {"query": "{ messagingProfiles(first: 6) { totalCount } }"})
        ).json()
        assert body["errors"][0]["message"] == "first: must be at most 5"
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
        assert upstream(simulator) == []
        await assert_runs(client, "{ messagingProfiles(first: 5) { totalCount } }")


async def test_cost_limit(make_app: MakeApp, simulator: Simulator) -> None:
    async with client_for(make_app(max_query_cost=NESTED_PAGE_COST - 1)) as client:
        await assert_refused(
            client,
            simulator,
            NESTED_PAGE,
            "This request could make up to 41 upstream calls; the limit is 40.",
        )
    async with client_for(make_app(max_query_cost=NESTED_PAGE_COST)) as client:
        body = await assert_runs(client, NESTED_PAGE)
    assert len(body["data"]["messagingProfiles"]["edges"]) == 3
    # The worst case bounds the real calls: the account-wide lists make them 1 + 2, not 1 + 3 * 2.
    assert len(upstream(simulator)) == 1 + 2


async def test_cost_limit_counts_variables(make_app: MakeApp, simulator: Simulator) -> None:
    document = (
        "query($n: Int) { messagingProfiles(first: $n) { edges { node"
        " { shortCodes { totalCount } } } } }"
    )
    async with client_for(make_app(max_query_cost=11)) as client:
        ok = await post(client, {"query": document, "variables": {"n": 10}})
        assert ok.json()["data"] is not None
        refused = await post(client, {"query": document, "variables": {"n": 11}})
    assert refused.json()["data"] is None
    assert (
        refused.json()["errors"]
        == error("This request could make up to 12 upstream calls; the limit is 11.")["errors"]
    )


async def test_the_cost_limit_counts_what_fragments_select(
    make_app: MakeApp, simulator: Simulator
) -> None:
    document = (
        "{ messagingProfiles(first: 20) { ...Nested } }"
        " fragment Nested on MessagingProfileConnection"
        " { edges { node { phoneNumbers { totalCount } shortCodes { totalCount } } } }"
    )
    async with client_for(make_app(max_query_cost=NESTED_PAGE_COST - 1)) as client:
        await assert_refused(
            client,
            simulator,
            document,
            "This request could make up to 41 upstream calls; the limit is 40.",
        )


async def test_the_cost_limit_counts_the_operation_asked_for_by_name(
    make_app: MakeApp, simulator: Simulator
) -> None:
    document = f"query Count {COUNT} query Nested {NESTED_PAGE}"
    async with client_for(make_app(max_query_cost=NESTED_PAGE_COST - 1)) as client:
        count = await post(client, {"query": document, "operationName": "Count"})
        nested = await post(client, {"query": document, "operationName": "Nested"})
    assert count.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert (nested.json()["data"], nested.json()["errors"]) == (
        None,
        error("This request could make up to 41 upstream calls; the limit is 40.")["errors"],
    )
    assert len(upstream(simulator)) == 1


async def test_a_document_that_fails_validation_is_told_only_that(
    make_app: MakeApp, simulator: Simulator
) -> None:
    """Over the cost limit too, but invalid first: the caller is told what is invalid."""
    document = NESTED_PAGE.replace("node { id", "node { nope", 1)
    async with client_for(make_app(max_query_cost=1)) as client:
        body = (await post(client, {"query": document})).json()
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (
            "Cannot query field 'nope' on type 'MessagingProfile'. Did you mean 'name'?",
            "BAD_USER_INPUT",
        )
    ]
    assert upstream(simulator) == []


async def test_the_operations_of_a_batch_share_one_cost_budget(
    make_app: MakeApp, simulator: Simulator
) -> None:
    async with client_for(make_app(max_query_cost=NESTED_PAGE_COST)) as client:
        response = await post(client, [{"query": COUNT}, {"query": NESTED_PAGE}])
    first, second = response.json()
    assert first["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert second["data"] is None
    assert (
        second["errors"]
        == error("This request could make up to 42 upstream calls; the limit is 41.")["errors"]
    )


async def test_item_limit(make_app: MakeApp, simulator: Simulator) -> None:
    async with client_for(make_app(max_query_items=NESTED_PAGE_ITEMS - 1)) as client:
        await assert_refused(
            client,
            simulator,
            NESTED_PAGE,
            "This request could return up to 820 items; the limit is 819.",
        )
    async with client_for(make_app(max_query_items=NESTED_PAGE_ITEMS)) as client:
        await assert_runs(client, NESTED_PAGE)


async def test_the_item_limit_counts_variables_and_nested_pages_once_per_parent(
    make_app: MakeApp, simulator: Simulator
) -> None:
    document = (
        "query($n: Int, $m: Int) { messagingProfiles(first: $n) { edges { node"
        " { phoneNumbers(first: $m) { totalCount } } } } }"
    )
    async with client_for(make_app(max_query_items=5 + 5 * 39)) as client:
        ok = await post(client, {"query": document, "variables": {"n": 5, "m": 39}})
        refused = await post(client, {"query": document, "variables": {"n": 5, "m": 40}})
    assert ok.json()["data"] is not None
    assert refused.json()["data"] is None
    assert (
        refused.json()["errors"]
        == error("This request could return up to 205 items; the limit is 200.")["errors"]
    )


async def test_the_operations_of_a_batch_share_one_item_budget(
    make_app: MakeApp, simulator: Simulator
) -> None:
    async with client_for(make_app(max_query_items=NESTED_PAGE_ITEMS)) as client:
        response = await post(client, [{"query": NAMES}, {"query": NESTED_PAGE}])
    first, second = response.json()
    assert len(first["data"]["messagingProfiles"]["edges"]) == 3
    assert second["data"] is None
    assert (
        second["errors"]
        == error("This request could return up to 840 items; the limit is 820.")["errors"]
    )


# --- batches --------------------------------------------------------------------------------


async def test_batch_limit(make_app: MakeApp, simulator: Simulator) -> None:
    async with client_for(make_app(max_batch_size=3)) as client:
        ran = await post(client, [{"query": COUNT}] * 3)
        assert [item["data"] for item in ran.json()] == [
            {"messagingProfiles": {"totalCount": 3}}
        ] * 3
        requests = len(simulator.requests)
        refused = await post(client, [{"query": COUNT}] * 4)
    assert refused.status_code == 400
    assert refused.json() == error("A batch may hold at most 3 operations; this one holds 4.")
    assert len(simulator.requests) == requests


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "A batch must hold at least one operation."),
        ([{"query": COUNT}, 5], "Operation 1 of the batch must be a JSON object."),
        ([{"query": 5}], "Operation 0 of the batch: `query` must be a string or null."),
        (
            [{"query": COUNT, "variables": []}],
            "Operation 0 of the batch: `variables` must be an object or null.",
        ),
        (
            [{"query": COUNT, "operationName": 1}],
            "Operation 0 of the batch: `operationName` must be a string or null.",
        ),
    ],
)
async def test_malformed_batches_are_bad_input(
    client: httpx.AsyncClient, simulator: Simulator, body: list[Any], message: str
) -> None:
    response = await post(client, body)
    assert response.status_code == 400
    assert response.json() == error(message)
    assert upstream(simulator) == []


async def test_batching_can_be_turned_off(make_app: MakeApp) -> None:
    async with client_for(make_app(max_batch_size=0)) as client:
        response = await post(client, [{"query": COUNT}])
    assert response.status_code == 400
    assert response.json() == error("Batching is off: send one operation per request.")


# --- malformed requests ------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"true", b"5", b'"query"', b"null"])
async def test_a_body_that_is_not_an_object_is_bad_input(
    client: httpx.AsyncClient, simulator: Simulator, body: bytes
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == error("The request body must be a JSON object, or an array of them.")
    assert upstream(simulator) == []


async def test_deeply_nested_json_is_bad_input(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    by_post = await client.post(
        "/graphql", content=nested, headers={"Content-Type": "application/json"}
    )
    by_get = await client.get(
        "/graphql", params={"query": COUNT, "variables": nested.decode()}, headers=PREFLIGHT
    )
    for response in (by_post, by_get):
        assert response.status_code == 400
        assert response.json() == error("Unable to parse request body as JSON")
    assert upstream(simulator) == []


async def test_a_variable_that_does_not_coerce_is_bad_input(
    client: httpx.AsyncClient, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    document = "query($n: Int) { messagingProfiles(first: $n) { totalCount } }"
    body = (await post(client, {"query": document, "variables": {"n": "ten"}})).json()
    assert body["errors"] == [
        {
            "message": "Variable '$n' has invalid value: Int cannot represent non-integer "
            "value: 'ten'",
            "locations": [{"line": 1, "column": 7}],
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    ]
    assert upstream(simulator) == []
    assert caplog.text == ""  # the caller's mistake, not logged as unexpected


# --- rate limits ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(app: Starlette, tenants: TenantRegistry, settings: Settings, clock: Clock) -> Any:
    """The /graphql app alone, two requests of burst and one per second per tenant."""
    limiter = RateLimiter(RateLimit(per_second=1.0, burst=2), buckets=MemoryBuckets(clock=clock))
    return create_graphql_app(app.state.service, tenants, settings, rate_limiter=limiter)


async def test_graphql_rate_limit(limited: Any, simulator: Simulator, clock: Clock) -> None:
    async with client_for(limited) as alpha, client_for(limited, BETA_TOKEN) as beta:
        for _ in range(2):
            assert (await post(alpha, {"query": COUNT})).status_code == 200
        requests = len(simulator.requests)
        refused = await post(alpha, {"query": COUNT})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json() == error(
            "Too many requests for this tenant; retry later.", "RATE_LIMITED", retryAfter=1
        )
        assert len(simulator.requests) == requests
        # another tenant has its own bucket
        assert (await post(beta, {"query": COUNT})).status_code == 200
        clock.now += 1.0
        assert (await post(alpha, {"query": COUNT})).status_code == 200


async def test_refusals_before_the_limit_take_no_token(limited: Any) -> None:
    async with client_for(limited, token="wrong") as stranger, client_for(limited) as alpha:
        for _ in range(3):
            assert (await post(stranger, {"query": COUNT})).status_code == 401
            assert (await alpha.get("/graphql", params={"query": COUNT})).status_code == 400
        for _ in range(2):
            assert (await post(alpha, {"query": COUNT})).status_code == 200


async def test_the_app_limits_each_tenant_with_the_configured_bucket(make_app: MakeApp) -> None:
    app = make_app(rate_limit_per_second=0.01, rate_limit_burst=3)
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as other:
        for _ in range(3):
            assert (await post(alpha, {"query": COUNT})).status_code == 200
        refused = await post(alpha, {"query": COUNT})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "100"
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # Beta's bucket is its own.
        assert (await post(other, {"query": COUNT})).status_code == 200


# --- the per-tenant cap on concurrent upstream calls ----------------------------------------


class Gate(httpx.AsyncBaseTransport):
    """Holds alpha's upstream calls until opened; everyone else's pass."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, full: int) -> None:
        self._inner = inner
        self._full = full
        self.opened = asyncio.Event()
        self.filled = asyncio.Event()
        self.held = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == f"Bearer {ALPHA_KEY}":
            self.held += 1
            if self.held == self._full:
                self.filled.set()
            await self.opened.wait()
        return await self._inner.handle_async_request(request)


async def test_a_tenant_at_its_upstream_cap_does_not_block_another(
    simulator: Simulator, tenants: TenantRegistry
) -> None:
    settings = Settings(demo=True, tenant_upstream_concurrency=2, otel_sdk_disabled=True)
    gate = Gate(httpx.ASGITransport(app=simulator.app), full=2)
    telemetry = build_telemetry(settings)
    app = create_app(settings, upstream_transport=gate, tenants=tenants, telemetry=telemetry)
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:
        lookups = [
            asyncio.create_task(post(alpha, {"query": f'{{ phoneNumber(id: "{n}") {{ id }} }}'}))
            for n in range(4)
        ]
        async with asyncio.timeout(5):
            await gate.filled.wait()
        await asyncio.sleep(0.05)  # time for a third call to get through, were it not capped
        assert gate.held == 2  # the cap: the other two wait for a slot
        async with asyncio.timeout(5):
            served = await post(beta, {"query": COUNT})
        assert served.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
        assert not any(task.done() for task in lookups)
        gate.opened.set()
        answers = await asyncio.gather(*lookups)
    telemetry.shutdown()
    assert [codes(answer.json()) for answer in answers] == [["NOT_FOUND"]] * 4
    assert gate.held == 4


# --- property-based: random variables and bodies never cause a 5xx or an unmasked error --

PROPERTY = hypothesis.settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
# Hostile values: past 32 and 64 bits, strings up to 30,000 characters, and cursors forged to point
# far past any list or to hold digits `int` reads but no list has.
HUGE = st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63, 2**70, 10**30])
LONG = st.builds(
    lambda char, n: char * n, st.sampled_from(["a", "9", "\u00e9", "/."]), st.integers(300, 100_000)
)
FORGED_CURSORS = st.builds(
    lambda kind, offset: base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode(),
    st.sampled_from(["profiles", "short_codes", "phone_numbers", "profile_phone_numbers"]),
    st.sampled_from(["2147483646", "2147483647", "9" * 30, "9" * 4300, "\uff11", "-1", "1e3"])
    | st.integers(0, 2**40).map(str),
)
GRAPHQL_CODES = {"BAD_USER_INPUT", "NOT_FOUND"}

OPERATIONS = {
    "messagingProfiles": "query($first: Int, $after: String, $filter: MessagingProfileFilter)"
    " { messagingProfiles(first: $first, after: $after, filter: $filter)"
    " { totalCount edges { cursor node { id name phoneNumbers(first: 2) { totalCount } } } } }",
    "shortCodes": "query($first: Int, $after: String, $filter: ShortCodeFilter)"
    " { shortCodes(first: $first, after: $after, filter: $filter)"
    " { totalCount edges { node { id messagingProfile { id } } } } }",
    "phoneNumbers": "query($first: Int, $after: String, $filter: PhoneNumberFilter)"
    " { phoneNumbers(first: $first, after: $after, filter: $filter)"
    " { totalCount edges { node { id type messagingProfile { id } } } } }",
    "messagingProfile": "query($id: ID!) { messagingProfile(id: $id) { id name } }",
    "shortCode": "query($id: ID!) { shortCode(id: $id) { id shortCode } }",
    "phoneNumber": "query($id: ID!) { phoneNumber(id: $id) { id phoneNumber } }",
    "createMessagingProfile": "mutation($input: CreateMessagingProfileInput!)"
    " { createMessagingProfile(input: $input) { id name whitelistedDestinations } }",
    "updateMessagingProfile": "mutation($id: ID!, $input: UpdateMessagingProfileInput!)"
    " { updateMessagingProfile(id: $id, input: $input) { id name } }",
    "deleteMessagingProfile": "mutation($id: ID!) { deleteMessagingProfile(id: $id) { id } }",
    "updateShortCode": "mutation($id: ID!, $input: UpdateShortCodeInput!)"
    " { updateShortCode(id: $id, input: $input) { id messagingProfileId } }",
    "updatePhoneNumberMessaging": "mutation($id: ID!, $input: UpdatePhoneNumberMessagingInput!)"
    " { updatePhoneNumberMessaging(id: $id, input: $input) { id messagingProduct } }",
}


@dataclass(frozen=True)
class RealId:
    """The index of one of the account's real ids, put in when the request is sent."""

    index: int


def shaped(type_: GraphQLInputType) -> st.SearchStrategy[Any]:
    """Values of `type_`'s shape (right keys, mostly right leaves), sometimes any JSON."""
    if isinstance(type_, GraphQLNonNull):
        return shaped(type_.of_type)
    inner: st.SearchStrategy[Any]
    if isinstance(type_, GraphQLList):
        inner = st.lists(shaped(type_.of_type), max_size=4)
    elif isinstance(type_, GraphQLInputObjectType):
        inner = st.fixed_dictionaries(
            {}, optional={name: shaped(field.type) for name, field in type_.fields.items()}
        )
    elif isinstance(type_, GraphQLEnumType):
        inner = st.sampled_from(list(type_.values))
    else:
        inner = {
            "Int": st.integers(-5, 300) | HUGE,
            "Float": st.floats(allow_nan=False, allow_infinity=False),
            "Boolean": st.booleans(),
            "ID": st.builds(RealId, st.integers(0, 30)) | TEXT | LONG,
        }.get(
            type_.name,
            TEXT
            | LONG
            | FORGED_CURSORS
            | st.sampled_from(["", "US", "https://example.com/h", "10.00"]),
        )
    return st.one_of(inner, inner, inner, st.none(), JSON_VALUES)


def assert_graphql_answer(response: httpx.Response) -> None:
    assert response.status_code in (200, 400, 413), response.text
    body = response.json()
    for item in body if isinstance(body, list) else [body]:
        for problem in item.get("errors") or ():
            assert problem["extensions"]["code"] in GRAPHQL_CODES, problem
            assert problem["message"] != "Internal server error."


# Real ids are drawn as their index among the account's ids and put in before sending:
# a strategy must not depend on state that the examples change.
@functools.cache
def _graphql_schema() -> GraphQLSchema:
    return build_schema(Settings(demo=True, otel_sdk_disabled=True))._schema


def variables_for(document: str) -> st.SearchStrategy[dict[str, Any]]:
    parsed = parse(document).definitions[0]
    assert isinstance(parsed, OperationDefinitionNode)
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for definition in parsed.variable_definitions or ():
        type_ = type_from_ast(_graphql_schema(), definition.type)
        assert type_ is not None
        name = definition.variable.name.value
        target = required if isinstance(type_, GraphQLNonNull) else optional
        target[name] = shaped(cast("GraphQLInputType", type_))
    return st.fixed_dictionaries(required, optional=optional)


def operations(*names: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.sampled_from(names).flatmap(
        lambda name: st.tuples(
            st.just(OPERATIONS[name]), st.deferred(lambda: variables_for(OPERATIONS[name]))
        )
    )


def with_ids(value: Any, ids: list[str]) -> Any:
    if isinstance(value, RealId):
        return ids[value.index % len(ids)]
    if isinstance(value, list):
        return [with_ids(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: with_ids(item, ids) for key, item in value.items()}
    return value


async def assert_random_operation(
    client: httpx.AsyncClient, simulator: Simulator, document: str, variables: dict[str, Any]
) -> None:
    account = simulator.account(ALPHA_KEY)
    ids = [*account.profiles, *account.short_codes, *account.phone_numbers]
    body = {"query": document, "variables": with_ids(variables, ids)}
    assert_graphql_answer(await post(client, body))


@pytest.mark.slow
@PROPERTY
@hypothesis.given(
    operation=operations(
        "messagingProfiles",
        "shortCodes",
        "phoneNumbers",
        "messagingProfile",
        "shortCode",
        "phoneNumber",
    )
)
async def test_random_query_variables_never_fail_the_gateway(
    client: httpx.AsyncClient, simulator: Simulator, operation: tuple[str, dict[str, Any]]
) -> None:
    await assert_random_operation(client, simulator, *operation)


@pytest.mark.slow
@PROPERTY
@hypothesis.given(
    operation=operations(
        "createMessagingProfile",
        "updateMessagingProfile",
        "deleteMessagingProfile",
        "updateShortCode",
        "updatePhoneNumberMessaging",
    )
)
async def test_random_mutation_variables_never_fail_the_gateway(
    client: httpx.AsyncClient, simulator: Simulator, operation: tuple[str, dict[str, Any]]
) -> None:
    await assert_random_operation(client, simulator, *operation)


@pytest.mark.slow
@PROPERTY
@hypothesis.given(
    body=JSON_VALUES
    | st.fixed_dictionaries(
        {},
        optional={
            "query": TEXT | st.sampled_from(sorted(OPERATIONS.values())),
            "variables": JSON_VALUES,
            "operationName": JSON_VALUES,
            "extensions": JSON_VALUES,
        },
    )
)
async def test_random_request_bodies_never_fail_the_gateway(
    client: httpx.AsyncClient, body: Any
) -> None:
    assert_graphql_answer(await post(client, body))


REST_BODIES = JSON_VALUES | st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        (
            "name",
            "whitelisted_destinations",
            "enabled",
            "webhook_url",
            "webhook_api_version",
            "number_pool_settings",
            "daily_spend_limit",
            "alpha_sender",
            "messaging_profile_id",
            "messaging_product",
            "tags",
        ),
        JSON_VALUES | TEXT,
    ),
)
REST_QUERIES = st.dictionaries(
    st.sampled_from(
        [
            "page[number]",
            "page[size]",
            "filter[name]",
            "filter[name][contains]",
            "filter[messaging_profile_id]",
            "filter[phone_number]",
            "filter[type]",
            "sort[phone_number]",
        ]
    )
    | TEXT,
    TEXT,
    max_size=4,
)


def assert_rest_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        errors = response.json()["errors"]
        assert errors
        for problem in errors:
            assert problem["code"].isdigit(), problem
            assert isinstance(problem["title"], str)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/messaging_profiles"),
        ("PATCH", "/v2/messaging_profiles/{profile}"),
        ("PATCH", "/v2/short_codes/{short_code}"),
        ("PATCH", "/v2/phone_numbers/{number}/messaging"),
    ],
)
@PROPERTY
@hypothesis.given(body=REST_BODIES)
async def test_random_rest_bodies_never_fail_the_gateway(
    client: httpx.AsyncClient, simulator: Simulator, method: str, path: str, body: Any
) -> None:
    account = simulator.account(ALPHA_KEY)
    url = path.format(
        profile=next(iter(account.profiles)),
        short_code=next(iter(account.short_codes)),
        number=next(iter(account.phone_numbers)),
    )
    assert_rest_answer(await client.request(method, url, json=body))


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        "/v2/messaging_profiles",
        "/v2/short_codes",
        "/v2/phone_numbers",
        "/v2/messaging_profiles/{profile}/phone_numbers",
    ],
)
@PROPERTY
@hypothesis.given(query=REST_QUERIES)
async def test_random_rest_query_strings_never_fail_the_gateway(
    client: httpx.AsyncClient, simulator: Simulator, path: str, query: dict[str, str]
) -> None:
    url = path.format(profile=next(iter(simulator.account(ALPHA_KEY).profiles)))
    assert_rest_answer(await client.get(url, params=query))
