"""No Telnyx key, tenant token or phone number in any span, metric or log line."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_KEY, ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, client_for
from tests.observability.conftest import Logs
from tests.observability.support import as_text, gateway

UNKNOWN_NUMBER = "+19995550000"
# Data a caller may put in a document or its variables: none of it may reach telemetry.
DOCUMENT_SECRET = "https://hooks.example.com/in?token=d0cument-s3cret"
BROKEN_DOCUMENTS = [
    # A syntax error: the parser's message quotes the line it is on.
    f'{{ phoneNumber(id: "{UNKNOWN_NUMBER}" {{ id }} hook: "{DOCUMENT_SECRET}" }}',
    # A validation error next to a literal.
    f'{{ messagingProfiles(filter: {{name: "{DOCUMENT_SECRET}"}}) {{ nope }} }}',
    # A literal of the wrong type.
    f'{{ messagingProfiles(first: "{DOCUMENT_SECRET}") {{ totalCount }} }}',
]
WRONG_VARIABLES = "query($first: Int) { messagingProfiles(first: $first) { totalCount } }"
NESTED = """
    query Numbers($id: ID!) {
      messagingProfile(id: $id) { name phoneNumbers(first: 5) { edges { node { phoneNumber } } } }
    }
"""
BY_NUMBER = "query One($id: ID!) { phoneNumber(id: $id) { phoneNumber type } }"
TAG_NUMBER = """
    mutation Tag($id: ID!) { updatePhoneNumberMessaging(id: $id, input: {tags: ["vip"]}) { id } }
"""


@pytest.fixture
def settings() -> Settings:
    return Settings(demo=True, upstream_max_retry_delay=0, otel_sdk_disabled=True)


async def traffic(client: httpx.AsyncClient, simulator: Simulator, token: str) -> None:
    """A bit of everything one tenant does, failures included."""
    auth = {"Authorization": f"Bearer {token}"}
    key = ALPHA_KEY if token == ALPHA_TOKEN else BETA_KEY
    profile_id = next(iter(simulator.account(key).profiles))
    numbers = [n["phone_number"] for n in simulator.account(key).phone_numbers.values()]

    async def get(path: str, **params: str) -> int:
        return (await client.get(path, params=params, headers=auth)).status_code

    async def graphql(query: str, **variables: str) -> None:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=auth
        )
        assert response.status_code == 200

    assert await get("/v2/messaging_profiles") == 200
    assert await get("/v2/messaging_profiles") == 200
    assert await get(f"/v2/phone_numbers/{numbers[0]}/messaging") == 200
    assert await get("/v2/phone_numbers/messaging", **{"filter[phone_number]": numbers[1]}) == 200
    assert (
        await get(
            "/v2/phone_numbers/messaging", **{"filter[phone_number][contains]": numbers[2][2:]}
        )
        == 200
    )
    patched = await client.patch(
        f"/v2/phone_numbers/{numbers[3]}/messaging", json={"tags": ["vip"]}, headers=auth
    )
    assert patched.status_code == 200
    await graphql(NESTED, id=profile_id)
    await graphql(BY_NUMBER, id=numbers[4])
    await graphql(TAG_NUMBER, id=numbers[5])
    await graphql(BY_NUMBER, id=UNKNOWN_NUMBER)
    for document in BROKEN_DOCUMENTS:
        await graphql(document)
    await graphql(WRONG_VARIABLES, first=DOCUMENT_SECRET)
    assert await get(f"/v2/phone_numbers/{UNKNOWN_NUMBER}/messaging") == 404
    simulator.faults.fail(503, times=3)
    assert await get(f"/v2/phone_numbers/{numbers[6]}/messaging") == 503
    simulator.faults.drop(times=3)
    await graphql(BY_NUMBER, id=numbers[7])
    simulator.faults.fail(401)
    assert await get("/v2/short_codes") == 502  # the tenant's key was refused: misconfigured
    # A caller who sends a near miss of its token, or its Telnyx key, as the token.
    bad = await client.get("/v2/short_codes", headers={"Authorization": f"Bearer {token}x"})
    assert bad.status_code == 401
    bad = await client.get("/v2/short_codes", headers={"Authorization": f"Bearer {key}"})
    assert bad.status_code == 401


async def test_two_tenants_traffic_leaves_no_key_token_or_number_in_telemetry(
    simulator: Simulator,
    settings: Settings,
    tenants: TenantRegistry,
    spans: InMemorySpanExporter,
    logs: Logs,
) -> None:
    reader = InMemoryMetricReader()
    probes: list[Starlette] = []
    async with gateway(
        settings, simulator, tenants, spans, metric_readers=[reader], probes=probes
    ) as client:
        await traffic(client, simulator, ALPHA_TOKEN)
        await traffic(client, simulator, BETA_TOKEN)
        async with client_for(probes[0], token=None) as scraper:
            exposition = (await scraper.get("/metrics")).text
        metrics = reader.get_metrics_data()

    assert metrics is not None
    exported = {
        "spans": "\n".join(as_text(span) for span in spans.get_finished_spans()),
        "metrics": metrics.to_json(),
        "/metrics": exposition,
        "logs": logs.text(),
    }
    # The scan looks at real output: every kind of telemetry was produced.
    assert {name: len(text) > 1000 for name, text in exported.items()} == dict.fromkeys(
        exported, True
    )
    assert "UPSTREAM_UNAVAILABLE" not in exported["logs"]  # errors are logged by type only
    numbers = {
        number["phone_number"]
        for key in (ALPHA_KEY, BETA_KEY)
        for number in simulator.account(key).phone_numbers.values()
    }
    secrets = [ALPHA_KEY, BETA_KEY, ALPHA_TOKEN, BETA_TOKEN, "d0cument-s3cret"]
    # Digits only: a number may be written with or without its +, or %2B-encoded.
    secrets += [number.lstrip("+") for number in (*numbers, UNKNOWN_NUMBER)]
    leaks = {
        (name, secret) for name, text in exported.items() for secret in secrets if secret in text
    }
    assert leaks == set()
