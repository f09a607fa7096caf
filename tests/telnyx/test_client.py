"""Each operation's request on the wire, response parsing, pagination and the tenant cap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from gateway import __version__
from gateway.errors import BadInputError, UpstreamAuthError, UpstreamError
from gateway.telnyx import Fetched, TelnyxClient, models
from gateway.telnyx.models import (
    CreateMessagingProfileRequest,
    UpdateMessagingProfileRequest,
    UpdatePhoneNumberMessagingRequest,
    UpdateShortCodeRequest,
)
from tests.telnyx.support import (
    BASE_URL,
    KEY,
    OTHER_KEY,
    PHONE_NUMBER,
    PROFILE,
    PROFILE_ID,
    SHORT_CODE,
    Upstream,
    make_client,
    one,
    page,
    tenant,
)

# Module-level, so anyio's plugin sees the marker at collection time and keeps parametrize ids.
pytestmark = pytest.mark.anyio

META = {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 1}
SC_ID = str(SHORT_CODE["id"])


def wire(request: httpx.Request) -> tuple[str, str, dict[str, Any] | None]:
    content = request.content
    return request.method, str(request.url), json.loads(content) if content else None


async def test_list_messaging_profiles_sends_bracket_filters() -> None:
    upstream = Upstream([page([PROFILE], META)])
    fetched = await make_client(upstream).list_messaging_profiles(
        tenant(), page=2, size=50, name="a", name_eq="b c", name_contains="d"
    )
    (request,) = upstream.requests
    assert request.method == "GET"
    assert request.url.raw_path == (
        b"/v2/messaging_profiles?page%5Bnumber%5D=2&page%5Bsize%5D=50&filter%5Bname%5D=a"
        b"&filter%5Bname%5D%5Beq%5D=b+c&filter%5Bname%5D%5Bcontains%5D=d"
    )
    assert list(request.url.params.multi_items()) == [
        ("page[number]", "2"),
        ("page[size]", "50"),
        ("filter[name]", "a"),
        ("filter[name][eq]", "b c"),
        ("filter[name][contains]", "d"),
    ]
    assert request.content == b""
    assert fetched.value.data[0].name == "Support"


async def test_list_defaults_omit_unset_filters() -> None:
    upstream = Upstream([page([], META)])
    await make_client(upstream).list_messaging_profiles(tenant())
    assert str(upstream.requests[0].url) == (
        f"{BASE_URL}/messaging_profiles?page%5Bnumber%5D=1&page%5Bsize%5D=20"
    )


async def test_request_headers_carry_the_tenant_key_per_request() -> None:
    upstream = Upstream([one(PROFILE)])
    client = make_client(upstream)
    await client.retrieve_messaging_profile(tenant(), PROFILE_ID)
    await client.retrieve_messaging_profile(tenant("globex", OTHER_KEY), PROFILE_ID)
    first, second = upstream.requests
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert second.headers["authorization"] == f"Bearer {OTHER_KEY}"
    assert first.headers["accept"] == "application/json"
    assert first.headers["user-agent"] == f"telnyx-messaging-gateway/{__version__}"
    assert "content-type" not in first.headers


async def test_returned_response_no_longer_holds_the_key() -> None:
    upstream = Upstream([one(PROFILE)])
    response = await make_client(upstream).request(
        tenant(), "retrieve_messaging_profile", "GET", f"/messaging_profiles/{PROFILE_ID}"
    )
    assert "authorization" not in response.request.headers
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda c, t: c.retrieve_messaging_profile(t, PROFILE_ID),
            ("GET", f"{BASE_URL}/messaging_profiles/{PROFILE_ID}", None),
        ),
        (
            lambda c, t: c.create_messaging_profile(
                t, CreateMessagingProfileRequest(name="Support", whitelisted_destinations=["US"])
            ),
            (
                "POST",
                f"{BASE_URL}/messaging_profiles",
                {"name": "Support", "whitelisted_destinations": ["US"]},
            ),
        ),
        (
            lambda c, t: c.update_messaging_profile(
                t,
                PROFILE_ID,
                UpdateMessagingProfileRequest(enabled=False, number_pool_settings=None),
            ),
            (
                "PATCH",
                f"{BASE_URL}/messaging_profiles/{PROFILE_ID}",
                {"enabled": False, "number_pool_settings": None},
            ),
        ),
        (
            lambda c, t: c.delete_messaging_profile(t, PROFILE_ID),
            ("DELETE", f"{BASE_URL}/messaging_profiles/{PROFILE_ID}", None),
        ),
    ],
)
async def test_profile_operations_on_the_wire(call: Any, expected: tuple[str, str, Any]) -> None:
    upstream = Upstream([one(PROFILE)])
    fetched = await call(make_client(upstream), tenant())
    assert wire(upstream.requests[0]) == expected
    assert fetched.value.data.id == PROFILE_ID
    assert fetched.status == 200


async def test_body_requests_declare_json() -> None:
    upstream = Upstream([one(SHORT_CODE)])
    await make_client(upstream).update_short_code(
        tenant(), SC_ID, UpdateShortCodeRequest(messaging_profile_id=None, tags=["x"])
    )
    (request,) = upstream.requests
    assert wire(request) == (
        "PATCH",
        f"{BASE_URL}/short_codes/{SC_ID}",
        {"messaging_profile_id": None, "tags": ["x"]},
    )
    assert request.headers["content-type"] == "application/json"


async def test_short_code_operations_on_the_wire() -> None:
    upstream = Upstream([page([SHORT_CODE], META), page([SHORT_CODE], META), one(SHORT_CODE)])
    client = make_client(upstream)
    await client.list_short_codes(tenant(), size=250, messaging_profile_id="null")
    await client.list_profile_short_codes(tenant(), PROFILE_ID, page=3, size=5)
    fetched = await client.retrieve_short_code(tenant(), SC_ID)
    assert [str(r.url) for r in upstream.requests] == [
        f"{BASE_URL}/short_codes?page%5Bnumber%5D=1&page%5Bsize%5D=250&filter%5Bmessaging_profile_id%5D=null",
        f"{BASE_URL}/messaging_profiles/{PROFILE_ID}/short_codes?page%5Bnumber%5D=3&page%5Bsize%5D=5",
        f"{BASE_URL}/short_codes/{SC_ID}",
    ]
    assert fetched.value.data.short_code == "12345"


async def test_phone_number_operations_on_the_wire() -> None:
    upstream = Upstream([page([PHONE_NUMBER], META), page([PHONE_NUMBER], META), one(PHONE_NUMBER)])
    client = make_client(upstream)
    await client.list_phone_numbers(
        tenant(),
        messaging_profile_id=PROFILE_ID,
        phone_number="+15551234567,+15557654321",
        phone_number_contains="555",
        type="tollfree",
        sort="desc",
    )
    await client.list_profile_phone_numbers(tenant(), PROFILE_ID)
    await client.update_phone_number_messaging(
        tenant(), "+15551234567", UpdatePhoneNumberMessagingRequest(messaging_profile_id="")
    )
    first, second, third = upstream.requests
    assert list(first.url.params.multi_items()) == [
        ("page[number]", "1"),
        ("page[size]", "20"),
        ("filter[messaging_profile_id]", PROFILE_ID),
        ("filter[phone_number]", "+15551234567,+15557654321"),
        ("filter[phone_number][contains]", "555"),
        ("filter[type]", "tollfree"),
        ("sort[phone_number]", "desc"),
    ]
    assert first.url.path == "/v2/phone_numbers/messaging"
    assert str(second.url) == (
        f"{BASE_URL}/messaging_profiles/{PROFILE_ID}/phone_numbers?page%5Bnumber%5D=1&page%5Bsize%5D=20"
    )
    # E.164 ids keep their `+` literal, as the SDKs send them.
    assert wire(third) == (
        "PATCH",
        f"{BASE_URL}/phone_numbers/+15551234567/messaging",
        {"messaging_profile_id": ""},
    )


async def test_retrieve_phone_number_messaging() -> None:
    upstream = Upstream([one(PHONE_NUMBER)])
    fetched = await make_client(upstream).retrieve_phone_number_messaging(
        tenant(), "1293384261075731499"
    )
    assert (
        str(upstream.requests[0].url) == f"{BASE_URL}/phone_numbers/1293384261075731499/messaging"
    )
    value = fetched.value.data
    assert value.features is not None
    assert value.features.sms is not None
    assert value.features.sms.domestic_two_way is True
    assert value.health is not None
    assert value.health.message_count == 122


@pytest.mark.parametrize(
    ("raw_id", "raw_path"),
    [
        ("a/b?c#d", b"/v2/short_codes/a%2Fb%3Fc%23d"),
        ("..", b"/v2/short_codes/%2E%2E"),
        ("+1 (555)", b"/v2/short_codes/+1%20(555)"),
        ("caf\u00e9", b"/v2/short_codes/caf%C3%A9"),
    ],
)
async def test_path_ids_are_percent_encoded(raw_id: str, raw_path: bytes) -> None:
    upstream = Upstream([one(SHORT_CODE)])
    await make_client(upstream).retrieve_short_code(tenant(), raw_id)
    assert upstream.requests[0].url.raw_path == raw_path


async def test_empty_id_is_refused_before_sending() -> None:
    upstream = Upstream([one(SHORT_CODE)])
    with pytest.raises(BadInputError) as caught:
        await make_client(upstream).retrieve_short_code(tenant(), "")
    assert caught.value.message == "id: must not be empty"
    assert upstream.requests == []


async def test_malformed_key_is_refused_before_sending() -> None:
    upstream = Upstream([one(PROFILE)])
    with pytest.raises(UpstreamAuthError) as caught:
        await make_client(upstream).retrieve_messaging_profile(tenant(key="KEY\nbad"), PROFILE_ID)
    assert str(caught.value) == (
        "Telnyx retrieve_messaging_profile: the tenant's Telnyx API key is malformed"
    )
    assert upstream.requests == []


async def test_fetched_keeps_exact_bytes_and_unknown_fields() -> None:
    raw = b'{"data": {"id": "p1", "name": "x", "future": {"a": 1}}, "extra": true}'
    upstream = Upstream([httpx.Response(200, content=raw)])
    fetched = await make_client(upstream).retrieve_messaging_profile(tenant(), "p1")
    assert fetched.body == raw
    assert fetched.status == 200
    assert fetched.value.data.model_extra == {"future": {"a": 1}}
    assert fetched.value.model_extra == {"extra": True}
    assert isinstance(fetched, Fetched)


async def test_parses_all_known_profile_fields() -> None:
    upstream = Upstream([one(PROFILE)])
    profile = (
        await make_client(upstream).retrieve_messaging_profile(tenant(), PROFILE_ID)
    ).value.data
    assert profile.whitelisted_destinations == ["US", "CA"]
    assert profile.number_pool_settings == models.NumberPoolSettings(
        toll_free_weight=10, long_code_weight=1, skip_unhealthy=True
    )
    assert profile.created_at is not None
    assert profile.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert profile.model_extra == {"brand_new_field": {"nested": [1, 2]}}


@pytest.mark.parametrize(
    "raw", [b"not json", b'{"data": []}', b"", b'{"data": {"enabled": "maybe"}}']
)
async def test_unexpected_success_body_is_an_upstream_error(raw: bytes) -> None:
    upstream = Upstream([httpx.Response(200, content=raw)])
    with pytest.raises(UpstreamError) as caught:
        await make_client(upstream).retrieve_messaging_profile(tenant(), PROFILE_ID)
    assert type(caught.value) is UpstreamError
    assert (
        str(caught.value)
        == "Telnyx retrieve_messaging_profile failed (200): unexpected response body"
    )
    assert caught.value.__cause__ is None


# --- pagination -------------------------------------------------------------------------


def numbered(count: int) -> list[dict[str, Any]]:
    return [{"id": f"sc{n}"} for n in range(count)]


async def test_pages_stop_at_total_pages_keeping_filters() -> None:
    upstream = Upstream(
        [
            page(numbered(2), {"page_number": 1, "total_pages": 3}),
            page(numbered(2), {"page_number": 2, "total_pages": 3}),
            page(numbered(1), {"page_number": 3, "total_pages": 3}),
        ]
    )
    client = make_client(upstream)
    pages = [
        p
        async for p in client.pages(
            client.list_short_codes, tenant(), size=2, messaging_profile_id="x"
        )
    ]
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [list(r.url.params.multi_items()) for r in upstream.requests] == [
        [("page[number]", str(n)), ("page[size]", "2"), ("filter[messaging_profile_id]", "x")]
        for n in (1, 2, 3)
    ]


async def test_pages_stop_on_empty_data_even_if_meta_says_more() -> None:
    upstream = Upstream(
        [
            page(numbered(1), {"page_number": 1, "total_pages": 9}),
            page([], {"page_number": 2, "total_pages": 9}),
        ]
    )
    client = make_client(upstream)
    pages = [p async for p in client.pages(client.list_messaging_profiles, tenant())]
    assert [len(p.data) for p in pages] == [1, 0]
    assert len(upstream.requests) == 2


async def test_pages_without_meta_continue_until_empty() -> None:
    upstream = Upstream([page(numbered(1)), page(numbered(1)), page(numbered(1)), page([])])
    client = make_client(upstream)
    items = [
        i
        async for i in client.iterate(client.list_profile_short_codes, tenant(), PROFILE_ID, size=1)
    ]
    assert [i.id for i in items] == ["sc0", "sc0", "sc0"]
    assert [r.url.params["page[number]"] for r in upstream.requests] == ["1", "2", "3", "4"]


async def test_pages_start_where_asked_and_stop_when_page_number_reaches_total() -> None:
    upstream = Upstream([page(numbered(1), {"page_number": 5, "total_pages": 4})])
    client = make_client(upstream)
    pages = [
        p async for p in client.pages(client.list_phone_numbers, tenant(), page=5, type="longcode")
    ]
    assert len(pages) == 1
    assert list(upstream.requests[0].url.params.multi_items()) == [
        ("page[number]", "5"),
        ("page[size]", "20"),
        ("filter[type]", "longcode"),
    ]


async def test_pages_move_forward_when_the_server_ignores_page_number() -> None:
    upstream = Upstream([page(numbered(1), {"page_number": 1, "total_pages": 3})])
    client = make_client(upstream)
    pages = [p async for p in client.pages(client.list_short_codes, tenant())]
    assert len(pages) == 3
    assert [r.url.params["page[number]"] for r in upstream.requests] == ["1", "2", "3"]


# --- per-tenant concurrency -------------------------------------------------------------


async def test_one_tenant_saturating_its_cap_does_not_block_another() -> None:
    release = asyncio.Event()
    in_flight = {KEY: 0, OTHER_KEY: 0}
    peak = {KEY: 0, OTHER_KEY: 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["authorization"].removeprefix("Bearer ")
        in_flight[key] += 1
        peak[key] = max(peak[key], in_flight[key])
        try:
            if key == KEY:
                await release.wait()
            return one(PROFILE)
        finally:
            in_flight[key] -= 1

    client = make_client(Upstream([handler]), tenant_concurrency=2, deadline=30)
    a_calls = [
        asyncio.create_task(client.retrieve_messaging_profile(tenant("a", KEY), "p"))
        for _ in range(5)
    ]
    await asyncio.sleep(0.01)
    assert in_flight[KEY] == 2
    b = await asyncio.wait_for(
        client.retrieve_messaging_profile(tenant("b", OTHER_KEY), "p"), timeout=5
    )
    assert b.status == 200
    assert not any(task.done() for task in a_calls)
    release.set()
    results = await asyncio.gather(*a_calls)
    assert [r.status for r in results] == [200] * 5
    assert peak == {KEY: 2, OTHER_KEY: 1}


async def test_client_is_a_telnyx_client() -> None:
    assert isinstance(make_client(Upstream([one(PROFILE)])), TelnyxClient)
