"""The span tree of a request: SERVER, then one INTERNAL span per Telnyx operation with its
cache outcome, then one CLIENT span per HTTP attempt."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette

from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_KEY, client_for
from tests.observability.support import (
    Recording,
    as_text,
    attributes,
    gateway,
    named,
    one,
    parent_of,
    server,
    tree,
)

TELNYX = "https://api.telnyx.com/v2"
AGENT = {"User-Agent": "billing-service/1.0"}
COUNT = "{ messagingProfiles { totalCount } }"


@pytest.fixture
def settings() -> Settings:
    # Retries without backoff, so retried and stale reads are quick.
    return Settings(
        demo=True,
        graphiql=False,
        introspection=True,
        upstream_max_retry_delay=0,
        otel_sdk_disabled=True,
    )


def stale_settings() -> Settings:
    # Nothing stays fresh, everything stays inside the stale window.
    return Settings(
        demo=True,
        cache_ttl_profiles=0,
        upstream_max_retry_delay=0,
        otel_sdk_disabled=True,
    )


def first_profile(simulator: Simulator) -> str:
    return next(iter(simulator.account(ALPHA_KEY).profiles))


async def test_a_miss_is_server_internal_client_and_a_hit_is_one_server_span(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    profile_id = first_profile(simulator)

    miss = await client.get(f"/v2/messaging_profiles/{profile_id}", headers=AGENT)

    assert (miss.status_code, miss.headers["x-cache"]) == (200, "MISS")
    finished = spans.get_finished_spans()
    assert tree(finished) == [
        (
            "GET /v2/messaging_profiles/{id}",
            (("telnyx.retrieve_messaging_profile", (("GET /messaging_profiles/{id}", ()),)),),
        )
    ]
    assert attributes(server(finished)) == {
        "http.request.method": "GET",
        "http.route": "/v2/messaging_profiles/{id}",
        "url.scheme": "http",
        "url.path": f"/v2/messaging_profiles/{profile_id}",
        "network.protocol.version": "1.1",
        "user_agent.original": "billing-service/1.0",
        "http.response.status_code": 200,
        "gateway.tenant.id": "alpha",
        "gateway.cache.outcome": "miss",
    }
    internal = one(finished, "telnyx.retrieve_messaging_profile")
    assert internal.kind is SpanKind.INTERNAL
    assert attributes(internal) == {
        "telnyx.operation": "retrieve_messaging_profile",
        "gateway.tenant.id": "alpha",
        "gateway.cache.outcome": "miss",
    }
    attempt = one(finished, "GET /messaging_profiles/{id}")
    assert attempt.kind is SpanKind.CLIENT
    assert attributes(attempt) == {
        "http.request.method": "GET",
        "url.full": f"{TELNYX}/messaging_profiles/{profile_id}",
        "server.address": "api.telnyx.com",
        "server.port": 443,
        "telnyx.operation": "retrieve_messaging_profile",
        "http.response.status_code": 200,
    }
    assert {span.context.trace_id for span in finished} == {internal.context.trace_id}

    spans.clear()
    hit = await client.get(f"/v2/messaging_profiles/{profile_id}")

    assert (hit.status_code, hit.headers["x-cache"], hit.content) == (200, "HIT", miss.content)
    finished = spans.get_finished_spans()
    # Answered whole from the cache: one span, which says so.
    assert tree(finished) == [("GET /v2/messaging_profiles/{id}", ())]
    assert attributes(server(finished)) == {
        "http.request.method": "GET",
        "http.route": "/v2/messaging_profiles/{id}",
        "url.scheme": "http",
        "url.path": f"/v2/messaging_profiles/{profile_id}",
        "network.protocol.version": "1.1",
        "user_agent.original": "python-httpx/0.28.1",
        "http.response.status_code": 200,
        "gateway.tenant.id": "alpha",
        "gateway.cache.outcome": "hit",
    }
    assert len(simulator.requests) == 1


async def test_a_list_read_records_its_page_and_the_route_not_the_query(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get(
        "/v2/messaging_profiles", params={"page[number]": "2", "page[size]": "1"}
    )

    assert response.status_code == 200
    finished = spans.get_finished_spans()
    assert attributes(one(finished, "telnyx.list_messaging_profiles")) == {
        "telnyx.operation": "list_messaging_profiles",
        "gateway.tenant.id": "alpha",
        "telnyx.page.number": 2,
        "telnyx.page.size": 1,
        "gateway.cache.outcome": "miss",
    }
    front = server(finished)
    assert (front.name, attributes(front)["url.path"]) == (
        "GET /v2/messaging_profiles",
        "/v2/messaging_profiles",
    )
    assert attributes(one(finished, "GET /messaging_profiles"))["url.full"] == (
        f"{TELNYX}/messaging_profiles?page%5Bnumber%5D=2&page%5Bsize%5D=1"
    )


async def test_concurrent_identical_reads_make_one_call_a_miss_and_a_coalesced(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    profile_id = first_profile(simulator)
    simulator.faults.latency = 0.05

    responses = await asyncio.gather(
        client.get(f"/v2/messaging_profiles/{profile_id}"),
        client.get(f"/v2/messaging_profiles/{profile_id}"),
    )

    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].content == responses[1].content
    assert [(r.method, r.path) for r in simulator.requests] == [
        ("GET", f"/v2/messaging_profiles/{profile_id}")
    ]
    finished = spans.get_finished_spans()
    assert sorted(tree(finished)) == [
        ("GET /v2/messaging_profiles/{id}", (("telnyx.retrieve_messaging_profile", ()),)),
        (
            "GET /v2/messaging_profiles/{id}",
            (("telnyx.retrieve_messaging_profile", (("GET /messaging_profiles/{id}", ()),)),),
        ),
    ]
    outcomes = {
        attributes(span)["gateway.cache.outcome"]: span
        for span in named(finished, "telnyx.retrieve_messaging_profile")
    }
    assert sorted(outcomes) == ["coalesced", "miss"]
    # The upstream call belongs to the read that made it.
    attempt = one(finished, "GET /messaging_profiles/{id}")
    assert parent_of(attempt, finished) is outcomes["miss"]


async def test_a_retried_call_has_one_client_span_per_attempt(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    simulator.faults.fail(503, times=1)

    response = await client.get("/v2/messaging_profiles")

    assert (response.status_code, response.headers["x-cache"]) == (200, "MISS")
    finished = spans.get_finished_spans()
    assert tree(finished) == [
        (
            "GET /v2/messaging_profiles",
            (
                (
                    "telnyx.list_messaging_profiles",
                    (("GET /messaging_profiles", ()), ("GET /messaging_profiles", ())),
                ),
            ),
        )
    ]
    failed, retried = named(finished, "GET /messaging_profiles")
    assert {
        key: attributes(failed).get(key)
        for key in ("http.response.status_code", "error.type", "http.request.resend_count")
    } == {"http.response.status_code": 503, "error.type": "503", "http.request.resend_count": None}
    assert failed.status.status_code is StatusCode.ERROR
    assert {
        key: attributes(retried).get(key)
        for key in ("http.response.status_code", "error.type", "http.request.resend_count")
    } == {"http.response.status_code": 200, "error.type": None, "http.request.resend_count": 1}
    assert retried.status.status_code is StatusCode.UNSET
    internal = one(finished, "telnyx.list_messaging_profiles")
    assert attributes(internal)["gateway.cache.outcome"] == "miss"
    assert internal.status.status_code is StatusCode.UNSET


async def test_a_stale_rest_read_shows_the_failed_attempts_under_a_stale_outcome(
    simulator: Simulator, tenants: TenantRegistry, spans: InMemorySpanExporter
) -> None:
    async with gateway(stale_settings(), simulator, tenants, spans) as client:
        fresh = await client.get("/v2/messaging_profiles")
        spans.clear()
        simulator.faults.fail(503, times=10)

        stale = await client.get("/v2/messaging_profiles")

    assert (fresh.headers["x-cache"], stale.headers["x-cache"]) == ("MISS", "STALE")
    assert (stale.status_code, stale.content) == (200, fresh.content)
    finished = spans.get_finished_spans()
    assert tree(finished) == [
        (
            "GET /v2/messaging_profiles",
            (("telnyx.list_messaging_profiles", (("GET /messaging_profiles", ()),) * 3),),
        )
    ]
    assert attributes(one(finished, "telnyx.list_messaging_profiles"))["gateway.cache.outcome"] == (
        "stale"
    )
    assert [
        (
            attributes(span)["http.response.status_code"],
            attributes(span)["error.type"],
            attributes(span).get("http.request.resend_count"),
        )
        for span in named(finished, "GET /messaging_profiles")
    ] == [(503, "503", None), (503, "503", 1), (503, "503", 2)]
    assert server(finished).status.status_code is StatusCode.UNSET
    assert len(simulator.requests) == 4


async def test_a_stale_graphql_read_is_reported_in_extensions_and_on_the_span(
    simulator: Simulator, tenants: TenantRegistry, spans: InMemorySpanExporter
) -> None:
    async with gateway(stale_settings(), simulator, tenants, spans) as client:
        fresh = await client.post("/graphql", json={"query": COUNT})
        spans.clear()
        simulator.faults.fail(503, times=10)

        stale = await client.post("/graphql", json={"query": COUNT})

    assert stale.json() == {
        "data": fresh.json()["data"],
        "extensions": {"cache": {"cached": True, "stale": True}},
    }
    assert stale.headers["x-cache"] == "STALE"
    finished = spans.get_finished_spans()
    assert tree(finished) == [
        (
            "POST /graphql",
            (
                (
                    "query",
                    (("telnyx.list_messaging_profiles", (("GET /messaging_profiles", ()),) * 3),),
                ),
            ),
        )
    ]
    assert attributes(one(finished, "telnyx.list_messaging_profiles"))["gateway.cache.outcome"] == (
        "stale"
    )


async def test_a_nested_graphql_query_is_one_operation_span_over_its_upstream_reads(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    query = """
        query ProfileWithNumbers($id: ID!) {
          messagingProfile(id: $id) {
            name
            phoneNumbers(first: 2) { edges { node { phoneNumber } } }
            shortCodes(first: 1) { edges { node { shortCode } } }
          }
        }
    """
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"id": first_profile(simulator)}}
    )

    assert response.json()["data"]["messagingProfile"]["name"] == "Alerts"
    finished = spans.get_finished_spans()
    assert tree(finished) == [
        (
            "POST /graphql",
            (
                (
                    "query ProfileWithNumbers",
                    (
                        # A profile's lists: the account's lists, filtered by the profile.
                        (
                            "telnyx.list_phone_numbers",
                            (("GET /phone_numbers/messaging", ()),),
                        ),
                        (
                            "telnyx.list_short_codes",
                            (("GET /short_codes", ()),),
                        ),
                        (
                            "telnyx.retrieve_messaging_profile",
                            (("GET /messaging_profiles/{id}", ()),),
                        ),
                    ),
                ),
            ),
        )
    ]
    assert attributes(server(finished))["http.route"] == "/graphql"
    for name in ("telnyx.list_phone_numbers", "telnyx.list_short_codes"):
        assert {"telnyx.page.number", "telnyx.page.size"} <= attributes(one(finished, name)).keys()


async def test_the_graphql_span_has_the_operation_name_and_type_never_its_text_or_variables(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    secret_name = "Confidential launch 7731"
    mutation = """
        mutation Rename($id: ID!, $name: String!) {
          updateMessagingProfile(id: $id, input: {name: $name, webhookUrl: "https://hooks.example.com/x9"}) { name }
        }
    """
    response = await client.post(
        "/graphql",
        json={
            "query": mutation,
            "variables": {"id": first_profile(simulator), "name": secret_name},
        },
    )

    assert response.json()["data"] == {"updateMessagingProfile": {"name": secret_name}}
    finished = spans.get_finished_spans()
    operation = one(finished, "mutation Rename")
    assert operation.kind is SpanKind.INTERNAL
    assert attributes(operation) == {
        "graphql.operation.type": "mutation",
        "graphql.operation.name": "Rename",
        "graphql.errors": 0,
    }
    assert parent_of(operation, finished) is server(finished)
    everything = "".join(as_text(span) for span in finished)
    for leaked in (secret_name, "hooks.example.com/x9", "updateMessagingProfile("):
        assert leaked not in everything


async def test_inbound_traceparent_is_continued_and_outbound_calls_carry_it(
    simulator: Simulator,
    settings: Settings,
    tenants: TenantRegistry,
    spans: InMemorySpanExporter,
) -> None:
    upstream = Recording(httpx.ASGITransport(app=simulator.app))
    inbound = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with gateway(settings, simulator, tenants, spans, upstream=upstream) as client:
        await client.get("/v2/short_codes", headers={"traceparent": inbound})

    finished = spans.get_finished_spans()
    front = server(finished)
    assert front.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert front.parent is not None
    assert (front.parent.span_id, front.parent.is_remote) == (0xB7AD6B7169203331, True)
    attempt = one(finished, "GET /short_codes")
    assert [headers["traceparent"] for headers in upstream.headers] == [
        f"00-0af7651916cd43dd8448eb211c80319c-{attempt.context.span_id:016x}-01"
    ]


async def test_without_traceparent_each_request_starts_its_own_trace(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await client.get("/v2/short_codes")
    await client.get("/v2/short_codes", headers={"Cache-Control": "no-cache"})

    fronts = [span for span in spans.get_finished_spans() if span.kind is SpanKind.SERVER]
    assert [front.parent for front in fronts] == [None, None]
    assert fronts[0].context.trace_id != fronts[1].context.trace_id


async def test_a_phone_number_in_the_path_or_query_reaches_no_span(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    by_number = await client.get("/v2/phone_numbers/+13125550001/messaging?debug=KEYalpha")
    filtered = await client.get(
        "/v2/phone_numbers/messaging", params={"filter[phone_number]": "+13125550002"}
    )

    assert (by_number.status_code, filtered.status_code) == (200, 200)
    finished = spans.get_finished_spans()
    fronts = [span for span in finished if span.kind is SpanKind.SERVER]
    assert [(front.name, attributes(front)["url.path"]) for front in fronts] == [
        ("GET /v2/phone_numbers/{id}/messaging", "/v2/phone_numbers/REDACTED/messaging"),
        ("GET /v2/phone_numbers/messaging", "/v2/phone_numbers/messaging"),
    ]
    assert [attributes(span)["url.full"] for span in finished if span.kind is SpanKind.CLIENT] == [
        f"{TELNYX}/phone_numbers/REDACTED/messaging",
        f"{TELNYX}/phone_numbers/messaging?page%5Bnumber%5D=1&page%5Bsize%5D=20"
        "&filter%5Bphone_number%5D=REDACTED",
    ]
    everything = "".join(as_text(span) for span in finished)
    for leaked in ("3125550001", "3125550002", "KEYalpha", "debug"):
        assert leaked not in everything


async def test_unknown_paths_are_named_by_their_template_or_the_method_alone(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    inside = await client.get("/v2/numbers_orders/12345")
    outside = await client.get("/wp-admin/12345")

    assert (inside.status_code, outside.status_code) == (404, 404)
    first, second = spans.get_finished_spans()
    assert (first.name, attributes(first)["http.route"]) == ("GET /v2/{path}", "/v2/{path}")
    assert (second.name, "http.route" in attributes(second)) == ("GET", False)
    assert attributes(second)["http.response.status_code"] == 404


async def test_a_bad_token_is_answered_without_a_tenant_on_the_span(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.get("/v2/short_codes", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401
    (front,) = spans.get_finished_spans()
    assert attributes(front) == {
        "http.request.method": "GET",
        "http.route": "/v2/short_codes",
        "url.scheme": "http",
        "url.path": "/v2/short_codes",
        "network.protocol.version": "1.1",
        "user_agent.original": "python-httpx/" + httpx.__version__,
        "http.response.status_code": 401,
    }
    assert front.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_checks_are_not_traced(
    client: httpx.AsyncClient, spans: InMemorySpanExporter, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_the_metrics_port_is_not_traced(
    app: Starlette, spans: InMemorySpanExporter, path: str
) -> None:
    async with client_for(app.state.probes, token=None) as probes:
        response = await probes.get(path)

    assert response.status_code == 200
    assert spans.get_finished_spans() == ()
