"""Each operation's request on the wire, response parsing, the SDKs' stop rule and the
tenant cap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from gateway import __version__
from gateway.errors import UpstreamAuthError, UpstreamError
from gateway.telnyx import Fetched, models
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import (
    CreateMessagingProfileRequest,
    UpdateMessagingProfileRequest,
    UpdatePhoneNumberMessagingRequest,
    UpdateShortCodeRequest,
)
from gateway.telnyx.operation import Operation
from gateway.telnyx.operations import (
    CreateMessagingProfile,
    DeleteMessagingProfile,
    ListMessagingProfiles,
    ListPhoneNumbers,
    ListProfilePhoneNumbers,
    ListProfileShortCodes,
    ListShortCodes,
    RetrieveMessagingProfile,
    RetrievePhoneNumberMessaging,
    RetrieveShortCode,
    UpdateMessagingProfile,
    UpdatePhoneNumberMessaging,
    UpdateShortCode,
)
from gateway.telnyx.transport import Reply
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
    fetched = await make_client(upstream).send(
        tenant(), ListMessagingProfiles(page=2, size=50, name="a", name_eq="b c", name_contains="d")
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
    assert fetched.value["data"][0]["name"] == "Support"


async def test_list_defaults_omit_unset_filters() -> None:
    upstream = Upstream([page([], META)])
    await make_client(upstream).send(tenant(), ListMessagingProfiles())
    assert str(upstream.requests[0].url) == (
        f"{BASE_URL}/messaging_profiles?page%5Bnumber%5D=1&page%5Bsize%5D=20"
    )


async def test_request_headers_carry_the_tenant_key_per_request() -> None:
    upstream = Upstream([one(PROFILE)])
    client = make_client(upstream)
    await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    await client.send(tenant("globex", OTHER_KEY), RetrieveMessagingProfile(id=PROFILE_ID))
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
    assert response.status_code == 200
    # It holds no request at all: the request's headers hold the key.
    assert isinstance(response, Reply)
    assert not hasattr(response, "request")
    held = {name: getattr(response, name) for name in Reply.__slots__}
    assert list(held) == ["_headers", "_raw", "content", "status_code"]
    assert KEY not in repr(held)
    assert KEY not in repr(response.headers)


@pytest.mark.parametrize(
    ("call", "body", "expected"),
    [
        (
            RetrieveMessagingProfile(id=PROFILE_ID),
            None,
            ("GET", f"{BASE_URL}/messaging_profiles/{PROFILE_ID}", None),
        ),
        (
            CreateMessagingProfile(),
            CreateMessagingProfileRequest(name="Support", whitelisted_destinations=["US"]),
            (
                "POST",
                f"{BASE_URL}/messaging_profiles",
                {"name": "Support", "whitelisted_destinations": ["US"]},
            ),
        ),
        (
            UpdateMessagingProfile(id=PROFILE_ID),
            UpdateMessagingProfileRequest(enabled=False, number_pool_settings=None),
            (
                "PATCH",
                f"{BASE_URL}/messaging_profiles/{PROFILE_ID}",
                {"enabled": False, "number_pool_settings": None},
            ),
        ),
        (
            DeleteMessagingProfile(id=PROFILE_ID),
            None,
            ("DELETE", f"{BASE_URL}/messaging_profiles/{PROFILE_ID}", None),
        ),
    ],
)
async def test_profile_operations_on_the_wire(
    call: Operation[Any], body: models.Request | None, expected: tuple[str, str, Any]
) -> None:
    upstream = Upstream([one(PROFILE)])
    fetched = await make_client(upstream).send(tenant(), call, body)
    assert wire(upstream.requests[0]) == expected
    assert fetched.value["data"]["id"] == PROFILE_ID
    assert fetched.status == 200


async def test_body_requests_declare_json() -> None:
    upstream = Upstream([one(SHORT_CODE)])
    await make_client(upstream).send(
        tenant(),
        UpdateShortCode(id=SC_ID),
        UpdateShortCodeRequest(messaging_profile_id=None, tags=["x"]),
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
    await client.send(tenant(), ListShortCodes(size=250, messaging_profile_id="null"))
    await client.send(tenant(), ListProfileShortCodes(id=PROFILE_ID, page=3, size=5))
    fetched = await client.send(tenant(), RetrieveShortCode(id=SC_ID))
    assert [str(r.url) for r in upstream.requests] == [
        f"{BASE_URL}/short_codes?page%5Bnumber%5D=1&page%5Bsize%5D=250&filter%5Bmessaging_profile_id%5D=null",
        f"{BASE_URL}/messaging_profiles/{PROFILE_ID}/short_codes?page%5Bnumber%5D=3&page%5Bsize%5D=5",
        f"{BASE_URL}/short_codes/{SC_ID}",
    ]
    assert fetched.value["data"]["short_code"] == "12345"


async def test_phone_number_operations_on_the_wire() -> None:
    upstream = Upstream([page([PHONE_NUMBER], META), page([PHONE_NUMBER], META), one(PHONE_NUMBER)])
    client = make_client(upstream)
    await client.send(
        tenant(),
        ListPhoneNumbers(
            messaging_profile_id=PROFILE_ID,
            phone_number="+15551234567,+15557654321",
            phone_number_contains="555",
            type="tollfree",
            sort="desc",
        ),
    )
    await client.send(tenant(), ListProfilePhoneNumbers(id=PROFILE_ID))
    await client.send(
        tenant(),
        UpdatePhoneNumberMessaging(id="+15551234567"),
        UpdatePhoneNumberMessagingRequest(messaging_profile_id=""),
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
    fetched = await make_client(upstream).send(
        tenant(), RetrievePhoneNumberMessaging(id="1293384261075731499")
    )
    assert (
        str(upstream.requests[0].url) == f"{BASE_URL}/phone_numbers/1293384261075731499/messaging"
    )
    assert fetched.value["data"] == PHONE_NUMBER


async def test_malformed_key_is_refused_before_sending() -> None:
    upstream = Upstream([one(PROFILE)])
    with pytest.raises(UpstreamAuthError) as caught:
        await make_client(upstream).send(
            tenant(key="KEY\nbad"), RetrieveMessagingProfile(id=PROFILE_ID)
        )
    assert str(caught.value) == (
        "Telnyx retrieve_messaging_profile: the tenant's Telnyx API key is malformed"
    )
    assert upstream.requests == []


async def test_fetched_keeps_exact_bytes_and_unknown_fields() -> None:
    raw = b'{"data": {"id": "p1", "name": "x", "future": {"a": 1}}, "extra": true}'
    upstream = Upstream([httpx.Response(200, content=raw)])
    fetched = await make_client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert fetched.body == raw
    assert fetched.status == 200
    assert fetched.value == {
        "data": {"id": "p1", "name": "x", "future": {"a": 1}},
        "extra": True,
    }
    assert isinstance(fetched, Fetched)


async def test_keeps_every_profile_field_as_telnyx_sent_it() -> None:
    upstream = Upstream([one(PROFILE)])
    fetched = await make_client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert fetched.value["data"] == PROFILE


@pytest.mark.parametrize("raw", [b"not json", b"", b"[]", b"  null"])
async def test_a_success_body_that_is_not_an_object_is_an_upstream_error(raw: bytes) -> None:
    upstream = Upstream([httpx.Response(200, content=raw)])
    with pytest.raises(UpstreamError) as caught:
        await make_client(upstream).send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert type(caught.value) is UpstreamError
    assert (
        str(caught.value)
        == "Telnyx retrieve_messaging_profile failed (200): unexpected response body"
    )
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("call", "raw"),
    [
        (RetrieveMessagingProfile(id=PROFILE_ID), b'{"data": []}'),
        (RetrieveMessagingProfile(id=PROFILE_ID), b'{"data": {"id": "x"'),
        (ListShortCodes(), b'{"data": {"id": "x"}}'),
        (ListShortCodes(), b'{"data": [1, 2]}'),
        (ListShortCodes(), b'{"data": [], "meta": 3}'),
    ],
)
async def test_an_answer_whose_envelope_is_wrong_fails_when_its_value_is_used(
    call: Operation[Any], raw: bytes
) -> None:
    upstream = Upstream([httpx.Response(200, content=raw)])
    fetched = await make_client(upstream).send(tenant(), call)
    assert fetched.body == raw  # what the REST face would forward unchanged
    with pytest.raises(UpstreamError) as caught:
        _ = fetched.value
    assert str(caught.value) == (
        f"Telnyx {type(call).operation} failed (200): unexpected response body"
    )
    assert caught.value.__cause__ is None


# --- the SDKs' stop rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("page_", "last"),
    [
        ({"data": [], "meta": {"page_number": 1, "total_pages": 9}}, True),
        ({"data": [{}], "meta": {"page_number": 3, "total_pages": 3}}, True),
        ({"data": [{}], "meta": {"page_number": 5, "total_pages": 4}}, True),
        ({"data": [{}], "meta": {"total_pages": 1}}, True),
        ({"data": [{}], "meta": {"page_number": 2, "total_pages": 3}}, False),
        ({"data": [{}]}, False),
        ({"data": [{}], "meta": None}, False),
        ({"data": [{}], "meta": {"page_number": 1, "total_pages": "3"}}, False),
    ],
)
def test_a_page_is_the_last_as_the_official_sdks_decide(
    page_: models.Page[Any], last: bool
) -> None:
    assert models.is_last(page_) is last


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
        asyncio.create_task(client.send(tenant("a", KEY), RetrieveMessagingProfile(id=PROFILE_ID)))
        for _ in range(5)
    ]
    await asyncio.sleep(0.01)
    assert in_flight[KEY] == 2
    b = await asyncio.wait_for(
        client.send(tenant("b", OTHER_KEY), RetrieveMessagingProfile(id=PROFILE_ID)), timeout=5
    )
    assert b.status == 200
    assert not any(task.done() for task in a_calls)
    release.set()
    results = await asyncio.gather(*a_calls)
    assert [r.status for r in results] == [200] * 5
    assert peak == {KEY: 2, OTHER_KEY: 1}


async def test_client_is_a_telnyx_client() -> None:
    assert isinstance(make_client(Upstream([one(PROFILE)])), TelnyxClient)
