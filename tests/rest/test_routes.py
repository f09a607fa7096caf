"""The REST face's own behaviour: auth, routing, input checks, errors, cache and tracing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import RATE_LIMITED_BODY, SEED_PROFILES, Account, Simulator
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, GATEWAY_URL
from tests.rest.conftest import RecordingTransport, errors

DOCS = "https://developers.telnyx.com/docs/overview/errors/"
NOT_FOUND = {
    "code": "10005",
    "title": "Resource not found",
    "detail": "The requested resource or URL could not be found.",
    "meta": {"url": DOCS + "10005"},
}
UNAUTHENTICATED = {
    "code": "10009",
    "title": "Authentication failed",
    "detail": "The required authentication headers were either invalid or not included in the request.",
    "meta": {"url": DOCS + "10009"},
}
UNAVAILABLE = {
    "code": "10007",
    "title": "Unexpected error",
    "detail": "Telnyx could not be reached; try again later.",
    "meta": {"url": DOCS + "10007"},
}
# Keeps the gateway's own retries quick: it honours retry-after-ms like the SDKs.
QUICK = {"retry-after-ms": "10"}


def profile_id(alpha: Account, name: str = "Alerts") -> str:
    found: str = next(p["id"] for p in alpha.profiles.values() if p["name"] == name)
    return found


async def gql(client: httpx.AsyncClient, query: str) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {ALPHA_TOKEN}", f"Token {ALPHA_TOKEN}"],
)
async def test_without_a_tenant_token_the_answer_is_telnyxs_401(
    app: Starlette, simulator: Simulator, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL, headers=headers
    ) as stranger:
        response = await stranger.get("/v2/messaging_profiles")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert errors(response) == [UNAUTHENTICATED]
    assert list(simulator.requests) == []


async def test_each_token_reaches_its_own_tenants_telnyx_account(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.account(BETA_KEY).add_profiles(2)

    alpha = await client.get("/v2/messaging_profiles")
    beta = await client.get(
        "/v2/messaging_profiles", headers={"Authorization": f"Bearer {BETA_TOKEN}"}
    )

    assert alpha.json()["meta"]["total_results"] == SEED_PROFILES
    assert beta.json()["meta"]["total_results"] == SEED_PROFILES + 2
    assert beta.headers["x-cache"] == "MISS"  # alpha's cached page is not beta's
    assert [r.api_key for r in simulator.requests] == [
        "KEYalpha00000000000000000000000",
        BETA_KEY,
    ]


# --- not an open proxy --------------------------------------------------------------------

PROFILE = "c666c9f2-a4e3-4575-84ed-c96e4479dbeb"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        # Telnyx operations outside the face
        ("POST", "/v2/messages"),
        ("GET", f"/v2/messaging_profiles/{PROFILE}/autoresp_configs"),
        ("GET", "/v2/phone_numbers"),
        ("GET", "/v2/balance"),
        # known paths, other methods: 404, not 405
        ("PUT", "/v2/messaging_profiles"),
        ("DELETE", "/v2/messaging_profiles"),
        ("POST", f"/v2/messaging_profiles/{PROFILE}"),
        ("PUT", f"/v2/messaging_profiles/{PROFILE}"),
        ("POST", "/v2/short_codes"),
        ("DELETE", f"/v2/short_codes/{PROFILE}"),
        ("PATCH", "/v2/phone_numbers/messaging"),
        ("DELETE", "/v2/phone_numbers/+13125550001/messaging"),
        ("OPTIONS", "/v2/messaging_profiles"),
        ("TRACE", "/v2/messaging_profiles"),
        ("POST", "/v2/openapi.json"),
        # trailing slashes and empty or nested segments are other paths, not redirects
        ("GET", "/v2/messaging_profiles/"),
        ("GET", f"/v2/messaging_profiles/{PROFILE}/"),
        ("GET", "/v2/messaging_profiles//short_codes"),
        ("GET", "/v2/short_codes/a%2Fb"),
        ("GET", "/v2/phone_numbers/a%2Fb/messaging"),
        ("GET", "/v2/"),
    ],
)
async def test_anything_else_is_telnyxs_404_without_calling_telnyx(
    client: httpx.AsyncClient, simulator: Simulator, method: str, path: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert errors(response) == [NOT_FOUND]
    assert list(simulator.requests) == []


@pytest.mark.parametrize("path", ["/v2/messaging_profiles/a%0Ab", "/v2"])
async def test_paths_the_mount_cannot_match_are_telnyxs_404_too(
    client: httpx.AsyncClient, simulator: Simulator, path: str
) -> None:
    response = await client.get(path)

    assert (response.status_code, response.headers["content-type"]) == (404, "application/json")
    assert errors(response) == [NOT_FOUND]
    assert list(simulator.requests) == []


async def test_head_is_a_get_without_a_body(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    first = await client.head("/v2/short_codes")
    second = await client.head("/v2/short_codes")
    body = await client.get("/v2/short_codes")

    assert (first.status_code, first.content, first.headers["x-cache"]) == (200, b"", "MISS")
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    assert first.headers["content-length"] == str(len(body.content))
    assert [(r.method, r.path) for r in simulator.requests] == [("GET", "/v2/short_codes")]


# --- input the gateway refuses as Telnyx would ------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page[size]=abc",
        "page[size]=0",
        "page[size]=251",
        "page[size]=-5",
        "page[size]=%205",  # " 5": no stripping
        "page[size]=5.0",
        "page[size]=%EF%BC%95",  # a fullwidth digit five
        "page[size]=",
        "page[number]=0",
        "page[number]=x&page[size]=1000",
    ],
)
@pytest.mark.parametrize(
    "path", ["/messaging_profiles", "/short_codes", "/phone_numbers/messaging"]
)
async def test_invalid_pagination_is_the_simulators_422_without_calling_it(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    simulator: Simulator,
    path: str,
    query: str,
) -> None:
    response = await client.get(f"/v2{path}?{query}")
    assert list(simulator.requests) == []

    upstream = await direct.get(f"/v2{path}?{query}")

    assert (response.status_code, response.json()) == (upstream.status_code, upstream.json())
    assert response.status_code == 422
    assert {e["title"] for e in errors(response)} == {"Invalid pagination"}


async def test_both_bad_page_parameters_are_reported(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/short_codes?page[number]=0&page[size]=abc")

    assert response.status_code == 422
    assert [(e["code"], e["source"]) for e in errors(response)] == [
        ("10015", {"pointer": "page/number", "parameter": "page[number]"}),
        ("10015", {"pointer": "page/size", "parameter": "page[size]"}),
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b'{"name": "x"', 400),
    ],
)
async def test_a_body_that_is_not_json_is_the_simulators_400(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    simulator: Simulator,
    body: bytes,
    status: int,
) -> None:
    response = await client.post("/v2/messaging_profiles", content=body)
    assert list(simulator.requests) == []
    upstream = await direct.post("/v2/messaging_profiles", content=body)

    assert (response.status_code, response.json()) == (status, upstream.json())
    assert errors(response)[0]["code"] == "10023"


@pytest.mark.parametrize("body", [b"[]", b'[{"name": "x"}]', b'"text"', b"42", b"null"])
async def test_a_body_that_is_not_an_object_is_refused_like_telnyx(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    simulator: Simulator,
    alpha: Account,
    body: bytes,
) -> None:
    path = f"/v2/messaging_profiles/{profile_id(alpha)}"
    response = await client.patch(path, content=body)
    assert list(simulator.requests) == []
    upstream = await direct.patch(path, content=body)

    assert response.status_code == upstream.status_code == 422
    # The simulator goes on to list the fields it missed; the first entry is the same.
    assert (
        errors(response)
        == errors(upstream)[:1]
        == [
            {
                "code": "10026",
                "title": "Invalid parameter type",
                "detail": "The body must be a JSON object.",
                "source": {"pointer": "/"},
                "meta": {"url": DOCS + "10026"},
            }
        ]
    )


async def test_an_oversized_body_is_refused_without_calling_telnyx(
    client: httpx.AsyncClient, settings: Settings, simulator: Simulator, alpha: Account
) -> None:
    padding = "x" * settings.max_body_bytes
    response = await client.patch(
        f"/v2/messaging_profiles/{profile_id(alpha)}", json={"name": "Big", "padding": padding}
    )

    assert response.status_code == 413
    assert errors(response) == [
        {
            "code": "10015",
            "title": "Request Entity Too Large",
            "detail": "The request body is too large.",
            "meta": {"url": DOCS + "10015"},
        }
    ]
    assert list(simulator.requests) == []


# --- ids in the path --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["+13125550001", "%2B13125550001", "13125550001"])
async def test_a_phone_number_may_be_named_by_its_e164_number(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    recorder: RecordingTransport,
    spelling: str,
) -> None:
    response = await client.get(f"/v2/phone_numbers/{spelling}/messaging")
    by_id = await direct.get(f"/v2/phone_numbers/{response.json()['data']['id']}/messaging")

    assert response.status_code == 200
    assert response.json()["data"]["phone_number"] == "+13125550001"
    assert response.content == by_id.content
    # The SDKs leave "+" literal in a path, and so does the gateway.
    assert (
        recorder.last.url.raw_path.decode()
        == f"/v2/phone_numbers/{spelling.replace('%2B', '+')}/messaging"
    )


@pytest.mark.parametrize("sent", ["%20", "%2E%2E", "a%3Fb", "%E2%9C%93", "x" * 37])
async def test_a_path_value_that_is_no_such_id_is_telnyxs_404_without_calling_it(
    client: httpx.AsyncClient, recorder: RecordingTransport, sent: str
) -> None:
    response = await client.get(f"/v2/messaging_profiles/{sent}")

    assert response.status_code == 404
    assert errors(response) == [NOT_FOUND]
    assert recorder.exchanges == []


# --- the gateway's own failures in Telnyx's shape ------------------------------------------------


async def test_telnyx_unavailable_after_retries_is_a_503_the_sdks_do_not_retry(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(503, times=3, headers=QUICK)

    response = await client.get("/v2/short_codes")

    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"
    assert errors(response) == [UNAVAILABLE]
    assert [r.status for r in simulator.requests] == [503, 503, 503]


async def test_a_failed_create_is_not_retried_by_anyone(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(503, times=3, headers=QUICK)

    response = await client.post(
        "/v2/messaging_profiles", json={"name": "Once", "whitelisted_destinations": ["US"]}
    )

    assert (response.status_code, response.headers["x-should-retry"]) == (503, "false")
    assert [(r.method, r.status) for r in simulator.requests] == [("POST", 503)]


async def test_a_passing_outage_is_absorbed_by_the_gateways_retry(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(502, times=2, headers=QUICK)

    response = await client.get("/v2/short_codes")

    assert response.status_code == 200
    assert [r.status for r in simulator.requests] == [502, 502, 200]


async def test_telnyxs_429_passes_through_with_its_retry_after(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    # Longer than the gateway's deadline: it hands the wait to the caller at once.
    simulator.faults.rate_limit(retry_after=30)

    response = await client.get("/v2/short_codes")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    assert response.headers["x-should-retry"] == "false"
    assert response.json() == RATE_LIMITED_BODY
    assert [r.status for r in simulator.requests] == [429]


async def test_a_429_that_outlasts_the_retries_says_when_to_come_back(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.rate_limit(times=3, retry_after=0.01)

    response = await client.get("/v2/short_codes")

    assert response.status_code == 429
    # Whole seconds, rounded up to at least one, as HTTP's delay-seconds requires.
    assert response.headers["retry-after"] == "1"
    assert response.json() == RATE_LIMITED_BODY
    assert [r.status for r in simulator.requests] == [429, 429, 429]


async def test_telnyx_refusing_the_tenants_key_is_the_gateways_fault_not_the_callers(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.fail(401)

    response = await client.get("/v2/short_codes")

    assert response.status_code == 502
    assert response.headers["x-should-retry"] == "false"
    assert errors(response) == [
        {
            "code": "10007",
            "title": "Unexpected error",
            "detail": "Telnyx refused the gateway's credentials for this tenant.",
            "meta": {"url": DOCS + "10007"},
        }
    ]


async def test_the_tenants_own_rate_limit_is_telnyxs_429(
    settings: Settings, simulator: Simulator, tenants: TenantRegistry
) -> None:
    face = create_app(
        settings.model_copy(update={"rate_limit_per_second": 0.5, "rate_limit_burst": 2}),
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=face),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
    ) as client:
        allowed = [await client.get("/v2/short_codes") for _ in range(2)]
        limited = await client.get("/v2/short_codes")
        other = await client.get(
            "/v2/short_codes", headers={"Authorization": f"Bearer {BETA_TOKEN}"}
        )

    assert [r.status_code for r in allowed] == [200, 200]
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"  # one token at 0.5 per second
    # The gateway did not retry this one: the SDKs may wait and try again.
    assert "x-should-retry" not in limited.headers
    assert errors(limited) == [
        {
            "code": "10011",
            "title": "Too many requests",
            "detail": "You have exceeded the maximum number of allowed requests.",
            "meta": {"url": DOCS + "10011"},
        }
    ]
    assert other.status_code == 200  # each tenant has its own bucket
    assert [r.api_key for r in simulator.requests] == [
        "KEYalpha00000000000000000000000",
        BETA_KEY,
    ]


# --- cache -------------------------------------------------------------------------------------


async def test_reads_are_cached_until_a_write_or_no_cache(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    path = f"/v2/messaging_profiles/{profile_id(alpha)}"

    first = await client.get(path)
    second = await client.get(path)
    bypass = await client.get(path, headers={"Cache-Control": "max-age=0,no-cache"})
    update = await client.patch(path, json={"name": "Renamed"})
    after = await client.get(path)

    assert [r.headers.get("x-cache") for r in (first, second, bypass, update, after)] == [
        "MISS",
        "HIT",
        "MISS",
        None,  # a write reads nothing through the cache
        "MISS",
    ]
    assert second.content == first.content
    assert after.json()["data"]["name"] == "Renamed"
    assert [r.method for r in simulator.requests] == ["GET", "GET", "PATCH", "GET"]


async def test_stale_data_is_served_when_telnyx_is_down(
    simulator: Simulator, tenants: TenantRegistry
) -> None:
    settings = Settings(
        demo=True, otel_sdk_disabled=True, cache_ttl_short_codes=0, upstream_max_retries=0
    )
    app = create_app(
        settings, upstream_transport=httpx.ASGITransport(app=simulator.app), tenants=tenants
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
    ) as client:
        fresh = await client.get("/v2/short_codes")
        simulator.faults.fail(503)
        stale = await client.get("/v2/short_codes")
        simulator.faults.fail(503)
        refused = await client.get("/v2/short_codes?page[size]=2")

    assert (stale.status_code, stale.headers["x-cache"]) == (200, "STALE")
    assert stale.content == fresh.content
    assert refused.status_code == 503  # nothing cached for that page
    assert [r.status for r in simulator.requests] == [200, 503, 503]


async def test_a_rest_write_is_seen_by_graphql(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    profile = profile_id(alpha)
    query = f'{{ messagingProfile(id: "{profile}") {{ name }} }}'
    before = await gql(client, query)

    updated = await client.patch(f"/v2/messaging_profiles/{profile}", json={"name": "Via REST"})
    after = await gql(client, query)

    assert updated.status_code == 200
    assert before["data"] == {"messagingProfile": {"name": "Alerts"}}
    assert after["data"] == {"messagingProfile": {"name": "Via REST"}}
    assert [r.method for r in simulator.requests] == ["GET", "PATCH", "GET"]


async def test_a_graphql_write_is_seen_by_rest(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    profile = profile_id(alpha)
    before = await client.get(f"/v2/messaging_profiles/{profile}")
    listed = await client.get("/v2/messaging_profiles")

    mutation = (
        f'mutation {{ updateMessagingProfile(id: "{profile}", input: {{name: "Via GraphQL"}})'
        " { name } }"
    )
    changed = await gql(client, mutation)
    after = await client.get(f"/v2/messaging_profiles/{profile}")
    relisted = await client.get("/v2/messaging_profiles")

    assert changed["data"] == {"updateMessagingProfile": {"name": "Via GraphQL"}}
    assert before.json()["data"]["name"] == "Alerts"
    assert (after.headers["x-cache"], after.json()["data"]["name"]) == ("MISS", "Via GraphQL")
    assert [p["name"] for p in listed.json()["data"]] == ["Alerts", "Marketing", "Support"]
    assert relisted.headers["x-cache"] == "MISS"
    assert [p["name"] for p in relisted.json()["data"]] == ["Via GraphQL", "Marketing", "Support"]


# --- tracing -----------------------------------------------------------------------------------


async def test_rest_reads_are_traced_like_graphql_ones(
    client: httpx.AsyncClient, spans: InMemorySpanExporter, alpha: Account
) -> None:
    path = f"/v2/messaging_profiles/{profile_id(alpha)}"
    await client.get(path)
    await client.get(path)

    finished = spans.get_finished_spans()
    operations = [s for s in finished if s.name == "telnyx.retrieve_messaging_profile"]
    attempts = [s for s in finished if s.kind is SpanKind.CLIENT]
    servers = [s for s in finished if s.kind is SpanKind.SERVER]

    # The miss has its operation span; the hit, answered whole from the cache, only its
    # server span, which carries the outcome.
    assert [s.kind for s in operations] == [SpanKind.INTERNAL]
    assert [(s.attributes or {}).get("gateway.cache.outcome") for s in operations] == ["miss"]
    assert [(s.attributes or {}).get("gateway.tenant.id") for s in operations] == ["alpha"]
    assert [(s.attributes or {}).get("gateway.cache.outcome") for s in servers] == [
        "miss",
        "hit",
    ]
    assert [s.name for s in attempts] == ["GET /messaging_profiles/{id}"]
    assert attempts[0].parent is not None
    assert attempts[0].parent.span_id == operations[0].context.span_id


# --- the document --------------------------------------------------------------------------------


OPERATIONS = [
    ("GET", "/messaging_profiles"),
    ("POST", "/messaging_profiles"),
    ("GET", "/messaging_profiles/{id}"),
    ("PATCH", "/messaging_profiles/{id}"),
    ("DELETE", "/messaging_profiles/{id}"),
    ("GET", "/messaging_profiles/{id}/phone_numbers"),
    ("GET", "/messaging_profiles/{id}/short_codes"),
    ("GET", "/short_codes"),
    ("GET", "/short_codes/{id}"),
    ("PATCH", "/short_codes/{id}"),
    ("GET", "/phone_numbers/messaging"),
    ("GET", "/phone_numbers/{id}/messaging"),
    ("PATCH", "/phone_numbers/{id}/messaging"),
    ("GET", "/messaging_profiles/{id}/metrics"),
    ("POST", "/messaging_profiles/{id}/actions/regenerate_secret"),
    ("GET", "/messaging_profiles/{id}/alphanumeric_sender_ids"),
    ("GET", "/messaging_profile_metrics"),
]


async def test_the_document_describes_the_face_with_the_gateway_as_server(
    app: Starlette, simulator: Simulator
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
    ) as anonymous:
        response = await anonymous.get("/v2/openapi.json")

    document = response.json()
    assert response.status_code == 200
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": f"{GATEWAY_URL}/v2"}]
    documented = [
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    ]
    assert sorted(documented) == sorted(OPERATIONS)
    assert {str(op["security"]) for item in document["paths"].values() for op in item.values()} == {
        "[{'bearerAuth': []}]"
    }
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"}
    }
    assert list(simulator.requests) == []


@pytest.mark.parametrize(("method", "route"), OPERATIONS)
async def test_every_documented_operation_reaches_telnyx_as_itself(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account, method: str, route: str
) -> None:
    ids = {
        "/messaging_profiles": profile_id(alpha),
        "/short_codes": next(iter(alpha.short_codes)),
        "/phone_numbers": next(iter(alpha.phone_numbers)),
    }
    path = route.replace("{id}", ids.get("/" + route.split("/")[1], ""))
    bodies = {
        "POST": {"name": "New", "whitelisted_destinations": ["US"]},
        "PATCH": {"messaging_profile_id": None, "tags": ["x"]},
    }

    response = await client.request(method, f"/v2{path}", json=bodies.get(method))

    assert response.status_code == 200, response.text
    assert [(r.method, r.path) for r in simulator.requests] == [(method, f"/v2{path}")]


# --- hostile input: bounded, refused in Telnyx's shape, never a 5xx -------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/messaging_profiles?page[number]=" + "9" * 4300, 422),
        ("/v2/messaging_profiles?page[number]=2147483648", 422),
        ("/v2/messaging_profiles?page[size]=" + "1" * 50_000, 422),
        ("/v2/messaging_profiles?filter[name]=" + "x" * 50_000, 422),
        ("/v2/phone_numbers/messaging?filter[phone_number]=" + "1" * 300, 422),
        ("/v2/phone_numbers/messaging?filter[messaging_profile_id]=" + "a" * 50_000, 422),
        ("/v2/short_codes?filter[messaging_profile_id]=%00", 422),
        ("/v2/messaging_profiles/" + "a" * 50_000, 404),
        ("/v2/phone_numbers/" + "9" * 50_000 + "/messaging", 404),
        ("/v2/messaging_profiles/%00", 404),
        ("/v2/messaging_profiles?filter[name]=%00%0A%0D", 200),
    ],
)
async def test_hostile_query_and_path_values_are_refused_without_calling_telnyx(
    client: httpx.AsyncClient, simulator: Simulator, path: str, status: int
) -> None:
    response = await client.get(path)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    if status != 200:
        assert list(simulator.requests) == []
        assert {error["code"] for error in errors(response)} <= {"10005", "10015"}


async def test_the_sort_order_is_part_of_what_a_cached_number_list_is_kept_under(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    numbers = sorted(str(n["phone_number"]) for n in alpha.phone_numbers.values())
    path = "/v2/phone_numbers/messaging"

    ascending = await client.get(path, params={"sort[phone_number]": "asc"})
    descending = await client.get(path, params={"sort[phone_number]": "desc"})
    again = await client.get(path, params={"sort[phone_number]": "asc"})

    assert [r.headers["x-cache"] for r in (ascending, descending, again)] == [
        "MISS",
        "MISS",
        "HIT",
    ]
    assert [n["phone_number"] for n in ascending.json()["data"]] == numbers
    assert [n["phone_number"] for n in descending.json()["data"]] == numbers[::-1]
    assert again.content == ascending.content
    assert [parse_qs(r.query)["sort[phone_number]"] for r in simulator.requests] == [
        ["asc"],
        ["desc"],
    ]


async def test_no_store_reads_telnyx_and_keeps_nothing_of_what_it_read(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    path = f"/v2/messaging_profiles/{profile_id(alpha)}"

    fresh = await client.get(path, headers={"Cache-Control": "no-store"})
    plain = await client.get(path)
    alpha.profiles[profile_id(alpha)]["name"] = "Changed at Telnyx"
    bypass = await client.get(path, headers={"Cache-Control": "max-age=0,No-Store"})
    cached = await client.get(path)

    assert [r.headers["x-cache"] for r in (fresh, plain, bypass, cached)] == [
        "MISS",
        "MISS",  # nothing was kept from the no-store read
        "MISS",  # the kept entry is not read...
        "HIT",  # ...nor replaced
    ]
    assert [r.json()["data"]["name"] for r in (fresh, plain, bypass, cached)] == [
        "Alerts",
        "Alerts",
        "Changed at Telnyx",
        "Alerts",
    ]
    assert [r.method for r in simulator.requests] == ["GET", "GET", "GET"]
