"""No input changes which Telnyx endpoint is called: hostile ids through both faces, over
either upstream transport, and every path Telnyx sees is its operation's template with a
real id in each placeholder."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, MutableMapping
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telnyx.models import Data
from gateway.telnyx.operation import Family, Http, PageNumber, PageSize, Read
from gateway.telnyx.operations import OPERATIONS
from gateway.telnyx.transport import build_upstream
from gateway.tenancy import TenantRegistry
from tests.conftest import ALPHA_KEY, ALPHA_TOKEN, client_for
from tests.server import serve

# Ids as a hostile caller writes them: dot segments, separators and their encodings
# (single and double), control characters, look-alikes, and sheer length.
CORPUS = [
    ".",
    "..",
    "...",
    "%2e",
    "%2E%2e",
    ".%2e",
    "%252e%252e",
    "..%2F",
    "..%2f..%2fshort_codes",
    "a/b",
    "a%2Fb",
    "%2F",
    "%5C..",
    "..\\",
    "%00",
    "%0A",
    "%0d%0aX-Injected:%201",
    "%3F",
    "?page[size]=250",
    "%23",
    "#frag",
    "%20",
    "%2B",
    "+",
    "\u2024\u2024",
    "\uff0e\uff0e",
    "x" * 5000,
    "9" * 5000,
]
# What may stand in a placeholder of a path Telnyx sees: a UUID, or a number's id or E.164.
ID = r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|\+?[0-9]{1,24})"
TEMPLATES = {
    (operation.http.method, re.compile("/v2" + re.sub(r"\{\w+\}", ID, operation.http.path)))
    for operation in OPERATIONS
}
ID_QUERIES = {
    "messagingProfile": "query($id: ID!) { messagingProfile(id: $id) { id } }",
    "shortCode": "query($id: ID!) { shortCode(id: $id) { id } }",
    "phoneNumber": "query($id: ID!) { phoneNumber(id: $id) { id } }",
    "updateMessagingProfile": 'mutation($id: ID!) { updateMessagingProfile(id: $id, input: {name: "x"}) { id } }',
    "deleteMessagingProfile": "mutation($id: ID!) { deleteMessagingProfile(id: $id) { id } }",
    "regenerateMessagingProfileSecret": "mutation($id: ID!) { regenerateMessagingProfileSecret(id: $id) { id } }",
    "updateShortCode": "mutation($id: ID!) { updateShortCode(id: $id, input: {messagingProfileId: null}) { id } }",
    "updatePhoneNumberMessaging": "mutation($id: ID!) { updatePhoneNumberMessaging(id: $id, input: {tags: []}) { id } }",
}
REST_TEMPLATES = sorted(
    {(op.http.method, op.http.path) for op in OPERATIONS if "{id}" in op.http.path}
)


@pytest.fixture(params=["asgi", "aiohttp"])
async def gateway(
    request: pytest.FixtureRequest, simulator: Simulator, tenants: TenantRegistry
) -> AsyncIterator[Starlette]:
    """The gateway over the simulator in process, or on a real socket through aiohttp (the
    default transport, which normalises dot segments in the URLs it is given)."""
    settings = Settings(demo=True, otel_sdk_disabled=True, rate_limit_burst=100_000)
    if request.param == "asgi":
        yield create_app(
            settings, upstream_transport=httpx.ASGITransport(app=simulator.app), tenants=tenants
        )
        return
    with serve(simulator.app) as url:
        real = Settings(
            demo=True,
            otel_sdk_disabled=True,
            rate_limit_burst=100_000,
            telnyx_base_url=f"{url}/v2",  # type: ignore[arg-type]
        )
        upstream = build_upstream(real)
        yield create_app(real, upstream=upstream, tenants=tenants)
        await upstream.aclose()


def unexpected(simulator: Simulator) -> list[str]:
    """Every request Telnyx saw that is not one of the operations' templates."""
    return [
        f"{record.method} {record.path}"
        for record in simulator.requests
        if not any(
            method == record.method and pattern.fullmatch(record.path)
            for method, pattern in TEMPLATES
        )
    ]


async def raw_request(app: Starlette, method: str, raw_path: bytes, body: bytes = b"") -> int:
    """The status of a request delivered as an HTTP server delivers it: the path bytes as
    they came off the wire, decoded once into `path`, never normalised (no client between)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"gateway.test"),
            (b"authorization", f"Bearer {ALPHA_TOKEN}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


@pytest.mark.slow
async def test_hostile_ids_on_the_rest_face_never_reach_another_endpoint(
    gateway: Starlette, simulator: Simulator
) -> None:
    statuses: set[int] = set()
    async with client_for(gateway) as client:
        for method, template in REST_TEMPLATES:
            for hostile in CORPUS:
                # What may stand raw in a path stands raw (dots, slashes, %-escapes), the
                # rest %-encoded, as a client puts it on the wire.
                raw = quote(hostile, safe="/%:@!$&'()*+,;=.~\\")
                path = ("/v2" + template.replace("{id}", raw)).encode()
                body = b"{}" if method in ("PATCH", "POST") else b""
                statuses.add(await raw_request(gateway, method, path, body))
        # Real ids still work, so the refusals above are about the ids.
        account = simulator.account(ALPHA_KEY)
        real = await client.get(f"/v2/messaging_profiles/{next(iter(account.profiles))}")

    assert statuses == {404}
    assert real.status_code == 200
    assert unexpected(simulator) == []
    assert len(simulator.requests) == 1


@pytest.mark.slow
async def test_hostile_ids_on_the_graphql_face_are_bad_input_and_never_sent(
    gateway: Starlette, simulator: Simulator
) -> None:
    async with client_for(gateway) as client:
        answers = []
        for name, document in ID_QUERIES.items():
            for hostile in CORPUS:
                response = await client.post(
                    "/graphql", json={"query": document, "variables": {"id": hostile}}
                )
                answers.append((name, response.status_code, response.json()["errors"][0]))

    assert {(status, error["extensions"]["code"]) for _, status, error in answers} == {
        (200, "BAD_USER_INPUT")
    }
    assert {error["extensions"].get("field") for _, _, error in answers} == {"id"}
    assert list(simulator.requests) == []


@pytest.mark.parametrize(
    ("field", "malformed", "message"),
    [
        ("messagingProfile", "abc", "id: must be a messaging profile id (a UUID)"),
        (
            "shortCode",
            "4001766f-3a3f-4e2a-9b54-0d2a9a0c1f3g",
            "id: must be a short code id (a UUID)",
        ),
        (
            "phoneNumber",
            "+1555 0100",
            "id: must be a phone number's numeric id or the number in +E.164",
        ),
        # A number with more after it: the whole id must be one.
        (
            "phoneNumber",
            "15550100+",
            "id: must be a phone number's numeric id or the number in +E.164",
        ),
    ],
)
async def test_a_malformed_id_is_refused_with_what_the_id_must_be(
    gateway: Starlette, simulator: Simulator, field: str, malformed: str, message: str
) -> None:
    async with client_for(gateway) as client:
        response = await client.post(
            "/graphql", json={"query": ID_QUERIES[field], "variables": {"id": malformed}}
        )

    assert response.json()["errors"] == [
        {
            "message": message,
            "locations": [{"line": 1, "column": 19}],
            "path": [field],
            "extensions": {"code": "BAD_USER_INPUT", "field": "id"},
        }
    ]
    assert list(simulator.requests) == []


async def test_ids_of_each_kind_telnyx_uses_are_read(
    gateway: Starlette, simulator: Simulator
) -> None:
    """A profile's UUID in either case, a number by its numeric id and by E.164 with and
    without '+': each reaches Telnyx (which answers 404 for the ones it does not have)."""
    account = simulator.account(ALPHA_KEY)
    profile = next(iter(account.profiles))
    ids = [
        ("messagingProfile", profile),
        ("messagingProfile", profile.upper()),
        ("phoneNumber", "1293384261075731499"),
        ("phoneNumber", "+15550100"),
        ("phoneNumber", "15550100"),
    ]
    async with client_for(gateway) as client:
        for field, id_ in ids:
            await client.post(
                "/graphql", json={"query": ID_QUERIES[field], "variables": {"id": id_}}
            )

    assert [record.path for record in simulator.requests] == [
        f"/v2/messaging_profiles/{profile}",
        f"/v2/messaging_profiles/{profile.upper()}",
        "/v2/phone_numbers/1293384261075731499/messaging",
        "/v2/phone_numbers/+15550100/messaging",
        "/v2/phone_numbers/15550100/messaging",
    ]


class RetrieveThing(Read[Data[dict[str, str]]]):
    """An operation whose id no format constrains: what keeps a path safe when a future
    operation's parameter has none."""

    http = Http("GET", "/things/{id}", "RetrieveThing", "Retrieve a thing")
    family = Family.PROFILES
    scope = "id"

    id: str


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (".", "/things/%2E"),
        ("..", "/things/%2E%2E"),
        ("...", "/things/..."),  # a name, not a dot segment
        ("a.b", "/things/a.b"),
        ("../b", "/things/..%2Fb"),
        ("a/b", "/things/a%2Fb"),
        ("a?b#c", "/things/a%3Fb%23c"),
        ("+1 555", "/things/+1%20555"),
    ],
)
def test_any_value_stays_one_segment_of_its_operations_path(value: str, path: str) -> None:
    assert RetrieveThing(id=value).url_path() == path


class ListThings(Read[Data[dict[str, str]]]):
    """A list read: its page and size are its window."""

    http = Http("GET", "/things", "ListThings", "List things")
    family = Family.PROFILES

    page: PageNumber = 1
    size: PageSize = 20


class PagedThings(Read[Data[dict[str, str]]]):
    """A page number without a size is no window."""

    http = Http("GET", "/paged", "PagedThings", "Paged things")
    family = Family.PROFILES

    page: PageNumber = 1


class SizedThings(Read[Data[dict[str, str]]]):
    """Nor is a size without a page number."""

    http = Http("GET", "/sized", "SizedThings", "Sized things")
    family = Family.PROFILES

    size: PageSize = 20


def test_a_reads_window_is_its_page_and_size_when_it_has_both() -> None:
    assert ListThings(page=3, size=50).page_window() == (3, 50)
    assert RetrieveThing(id="x").page_window() is None
    assert PagedThings(page=3).page_window() is None
    assert SizedThings(size=50).page_window() is None
