"""Faithfulness: the gateway returns exactly the bytes Telnyx sent, for every operation.

Each call is compared with the answer the gateway itself received (recorded under its
upstream transport) and, for reads, with the simulator's answer to the same request
made directly with the tenant's Telnyx key.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Account
from gateway.tenancy import Tenant, TenantRegistry
from tests.conftest import ALPHA_KEY, ALPHA_TOKEN, GATEWAY_URL
from tests.rest.conftest import RecordingTransport


def ids(alpha: Account) -> dict[str, str]:
    profile = next(p["id"] for p in alpha.profiles.values() if p["name"] == "Support")
    return {
        "profile": profile,
        "short_code": next(
            c["id"] for c in alpha.short_codes.values() if c["messaging_profile_id"]
        ),
        "free_code": next(
            c["id"] for c in alpha.short_codes.values() if c["messaging_profile_id"] is None
        ),
        "number": next(
            n["id"] for n in alpha.phone_numbers.values() if n["messaging_profile_id"] is None
        ),
    }


READS = [
    "/messaging_profiles",
    "/messaging_profiles?page[size]=2&page[number]=2",
    "/messaging_profiles?page[number]=9",
    "/messaging_profiles?filter[name]=Support",
    "/messaging_profiles?filter[name][eq]=Marketing",
    "/messaging_profiles?filter[name][contains]=er",
    "/messaging_profiles/{profile}",
    "/messaging_profiles/{profile}/phone_numbers",
    "/messaging_profiles/{profile}/phone_numbers?page[size]=1&page[number]=3",
    "/messaging_profiles/{profile}/short_codes",
    "/short_codes",
    "/short_codes?filter[messaging_profile_id]=null",
    "/short_codes?filter[messaging_profile_id]={profile}&page[size]=250",
    "/short_codes/{short_code}",
    "/phone_numbers/messaging",
    "/phone_numbers/messaging?filter[type]=tollfree&sort[phone_number]=desc",
    "/phone_numbers/messaging?filter[messaging_profile_id]={profile}",
    "/phone_numbers/messaging?filter[phone_number]=%2B13125550001,%2B13125550003",
    "/phone_numbers/messaging?filter[phone_number][contains]=5550",
    "/phone_numbers/{number}/messaging",
    "/phone_numbers/+13125550001/messaging",
]


@pytest.mark.parametrize("template", READS)
async def test_a_read_returns_the_bytes_telnyx_sent(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    recorder: RecordingTransport,
    alpha: Account,
    template: str,
) -> None:
    path = "/v2" + template.format(**ids(alpha))

    response = await client.get(path)
    upstream = await direct.get(path)

    assert response.status_code == 200
    assert len(recorder.exchanges) == 1
    assert response.content == recorder.last.body
    assert (response.status_code, response.content) == (upstream.status_code, upstream.content)
    assert response.headers["content-type"] == "application/json"


WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    (
        "POST",
        "/messaging_profiles",
        {
            "name": "Everything",
            "whitelisted_destinations": ["US", "GB"],
            "webhook_url": "https://hooks.example.com/x",
            "webhook_api_version": "2010-04-01",
            "number_pool_settings": {
                "toll_free_weight": 2.5,
                "long_code_weight": 0,
                "skip_unhealthy": False,
            },
            "url_shortener_settings": {"domain": "example.ex"},
            "alpha_sender": "Acme 1",
            "daily_spend_limit": "12.50",
            "mobile_only": True,
            "a_field_telnyx_adds_tomorrow": {"nested": [1, 2]},
        },
    ),
    ("PATCH", "/messaging_profiles/{profile}", {"name": "Renamed", "enabled": False}),
    ("PATCH", "/messaging_profiles/{profile}", {"number_pool_settings": None}),
    ("PATCH", "/short_codes/{free_code}", {"messaging_profile_id": "{profile}", "tags": ["a"]}),
    ("PATCH", "/short_codes/{short_code}", {"messaging_profile_id": ""}),
    ("PATCH", "/short_codes/{short_code}", {"messaging_profile_id": None}),
    ("PATCH", "/phone_numbers/{number}/messaging", {"messaging_profile_id": "{profile}"}),
    ("PATCH", "/phone_numbers/{number}/messaging", {"messaging_profile_id": ""}),
    ("PATCH", "/phone_numbers/+13125550001/messaging", {"messaging_product": "A2P"}),
    ("DELETE", "/messaging_profiles/{profile}", None),
]


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "template", "body"), WRITES)
async def test_a_write_returns_the_bytes_telnyx_sent(
    client: httpx.AsyncClient,
    recorder: RecordingTransport,
    alpha: Account,
    method: str,
    template: str,
    body: dict[str, Any] | None,
) -> None:
    names = ids(alpha)

    response = await client.request(method, "/v2" + fill(template, names), json=fill(body, names))

    assert response.status_code == 200, response.text
    assert [e.method for e in recorder.exchanges] == [method]
    assert response.content == recorder.last.body
    assert "x-cache" not in response.headers


async def test_the_caller_body_reaches_telnyx_as_sent(
    client: httpx.AsyncClient, recorder: RecordingTransport, alpha: Account
) -> None:
    sent = {"name": "X", "unknown": {"kept": True}, "mobile_only": None}
    seen: list[bytes] = []

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(await request.aread())
            return await recorder.handle_async_request(request)

    app = create_app(
        Settings(demo=True, otel_sdk_disabled=True),
        upstream_transport=Spy(),
        tenants=TenantRegistry.from_tokens([(Tenant("alpha", SecretStr(ALPHA_KEY)), ALPHA_TOKEN)]),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
    ) as caller:
        await caller.patch(f"/v2/messaging_profiles/{ids(alpha)['profile']}", json=sent)

    assert [orjson.loads(body) for body in seen] == [sent]


# Not what the simulator writes: spacing, key order, escapes, numbers and fields the gateway
# does not model. A gateway that parsed and re-serialised would change every one of these.
PROFILE_UUID = "4a1e0b2c-0000-4000-8000-000000000000"
ODD_BYTES = (
    b'{ "meta" : {"total_results": 1, "page_number": 1, "total_pages": 1, "page_size": 20},\n'
    b'  "data": [ {"id": "x\\u00e9", "name": "Caf\xc3\xa9", "future": {"a": [1.0e0, null]},'
    b' "record_type": "messaging_profile"} ], "extra": true }\n'
)


async def test_upstream_bytes_are_not_reserialised() -> None:
    upstream = httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=ODD_BYTES, headers={"content-type": "application/json"}
        )
    )
    app = create_app(
        Settings(demo=True, otel_sdk_disabled=True),
        upstream_transport=upstream,
        tenants=TenantRegistry.from_tokens([(Tenant("alpha", SecretStr(ALPHA_KEY)), ALPHA_TOKEN)]),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {ALPHA_TOKEN}"},
    ) as caller:
        response = await caller.get("/v2/messaging_profiles")

    assert response.status_code == 200
    assert response.content == ODD_BYTES


# --- Telnyx's errors: the envelope rebuilt from the parsed error equals Telnyx's JSON ---------

REFUSALS: list[tuple[str, str, dict[str, Any] | None, int]] = [
    ("GET", "/messaging_profiles/4a1e0b2c-0000-4000-8000-000000000000", None, 404),
    ("GET", "/messaging_profiles/4a1e0b2c-0000-4000-8000-000000000000/short_codes", None, 404),
    ("GET", "/phone_numbers/+19999999999/messaging", None, 404),
    ("POST", "/messaging_profiles", {"name": "Nowhere"}, 400),
    ("POST", "/messaging_profiles", {"name": "Nowhere", "whitelisted_destinations": []}, 400),
    ("PATCH", "/messaging_profiles/{profile}", {"whitelisted_destinations": []}, 400),
    (
        "POST",
        "/messaging_profiles",
        {
            "name": " ",
            "whitelisted_destinations": ["USA", 1],
            "alpha_sender": "Far too long a name",
            "webhook_api_version": "3",
            "webhook_url": "ftp://x",
            "number_pool_settings": {"toll_free_weight": -1},
            "enabled": "yes",
        },
        422,
    ),
    ("PATCH", "/short_codes/{free_code}", {}, 422),
    ("PATCH", "/short_codes/{free_code}", {"messaging_profile_id": "no-such-profile"}, 422),
    ("PATCH", "/short_codes/{free_code}", {"messaging_profile_id": 7, "tags": [1]}, 422),
    ("PATCH", "/phone_numbers/{number}/messaging", {"messaging_product": ""}, 422),
]


@pytest.mark.parametrize(("method", "template", "body", "status"), REFUSALS)
async def test_telnyxs_refusals_come_back_as_telnyx_wrote_them(
    client: httpx.AsyncClient,
    recorder: RecordingTransport,
    alpha: Account,
    method: str,
    template: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    names = ids(alpha)

    response = await client.request(method, "/v2" + fill(template, names), json=body)

    assert len(recorder.exchanges) == 1
    assert recorder.last.status == status
    assert response.status_code == status
    assert response.json() == orjson.loads(recorder.last.body)
    assert "x-should-retry" not in response.headers


# What the gateway refuses itself, from the operation's description, in Telnyx's own words.
OWN_REFUSALS: list[tuple[str, str, int]] = [
    ("GET", "/short_codes/nope", 404),
    ("DELETE", "/messaging_profiles/nope", 404),
    ("GET", "/phone_numbers/messaging?filter[type]=fax", 422),
    ("GET", "/phone_numbers/messaging?sort[phone_number]=up", 422),
    ("GET", f"/messaging_profiles/{PROFILE_UUID}/metrics?time_frame=1y", 400),
    ("GET", "/messaging_profile_metrics?time_frame=1y", 400),
]


@pytest.mark.parametrize(("method", "path", "status"), OWN_REFUSALS)
async def test_input_telnyx_would_refuse_is_refused_in_its_words_without_calling_it(
    client: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    recorder: RecordingTransport,
    method: str,
    path: str,
    status: int,
) -> None:
    response = await client.request(method, "/v2" + path)
    upstream = await direct.request(method, "/v2" + path)

    assert recorder.exchanges == []
    assert (response.status_code, upstream.status_code) == (status, status)
    assert response.json() == upstream.json()
