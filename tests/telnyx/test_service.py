"""The service over the simulator: what each write evicts, for whom, and tenant isolation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from gateway.cache import Key, Outcome, TenantCache
from gateway.errors import (
    CircuitOpenError,
    NotFoundError,
    UpstreamError,
    UpstreamUnavailableError,
)
from gateway.simulator import Account, Simulator
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.operation import Fetched, Read
from gateway.telnyx.operations import (
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
from gateway.telnyx.service import (
    Caller,
    TelnyxService,
    account_of,
    decode_read,
    encode_read,
    weigh_read,
)
from gateway.telnyx.transport import HttpxUpstream
from gateway.tenancy import Tenant
from tests.conftest import ALPHA_KEY, BETA_KEY

T = TypeVar("T")

ALPHA = Tenant("alpha", SecretStr(ALPHA_KEY))
BETA = Tenant("beta", SecretStr(BETA_KEY))
BASE_URL = "https://api.telnyx.test/v2"


class Lagging(httpx.AsyncBaseTransport):
    """Answers as the upstream was when the request arrived, `lag` seconds later."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lag = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await asyncio.sleep(self.lag)
        return httpx.Response(response.status_code, headers=response.headers, content=body)


@pytest.fixture
def upstream(simulator: Simulator) -> Lagging:
    return Lagging(httpx.ASGITransport(app=simulator.app))


@pytest.fixture
async def service(upstream: Lagging) -> AsyncIterator[TelnyxService]:
    async with contextlib.aclosing(HttpxUpstream(upstream)) as http:
        yield service_of(client_of(http))


def client_of(http: HttpxUpstream) -> TelnyxClient:
    return TelnyxClient(http, base_url=BASE_URL, max_retry_delay=0)


def service_of(
    client: TelnyxClient, *, max_bytes: int = 2**24, stale_window: float = 300, **options: Any
) -> TelnyxService:
    """A service over `client`, its cache holding `max_bytes` in all and per tenant."""
    cache = TenantCache(
        max_bytes=max_bytes, tenant_max_bytes=max_bytes, stale_window=stale_window, weigh=weigh_read
    )
    return TelnyxService(client, cache, **options)


@pytest.fixture
def alpha(simulator: Simulator) -> Account:
    return simulator.account(ALPHA_KEY)


@pytest.fixture
def beta(simulator: Simulator) -> Account:
    return simulator.account(BETA_KEY)


async def read(service: TelnyxService, tenant: Tenant, call: Read[T]) -> tuple[T, Outcome]:
    """One request's read: the value and how it was served."""
    caller = Caller(tenant)
    fetched = await service.read(caller, call)
    (outcome,) = caller.outcomes
    return fetched.value, outcome


async def outcome(service: TelnyxService, tenant: Tenant, call: Read[Any]) -> Outcome:
    return (await read(service, tenant, call))[1]


def profiles_of(account: Account) -> list[str]:
    return list(account.profiles)


def short_code_of(account: Account, profile_id: str) -> str:
    return next(
        str(code["id"])
        for code in account.short_codes.values()
        if code["messaging_profile_id"] == profile_id
    )


def number_of(account: Account, profile_id: str) -> dict[str, Any]:
    return next(
        number
        for number in account.phone_numbers.values()
        if number["messaging_profile_id"] == profile_id
    )


async def test_a_profile_update_evicts_the_profile_and_the_profile_lists_of_that_tenant_only(
    service: TelnyxService, alpha: Account, beta: Account
) -> None:
    first, second, _ = profiles_of(alpha)
    theirs = profiles_of(beta)[0]
    reads: list[tuple[Tenant, Read[Any]]] = [
        (ALPHA, RetrieveMessagingProfile(id=first)),
        (ALPHA, RetrieveMessagingProfile(id=second)),
        (ALPHA, ListMessagingProfiles()),
        (ALPHA, ListProfilePhoneNumbers(id=first)),
        (ALPHA, ListProfileShortCodes(id=first)),
        (BETA, RetrieveMessagingProfile(id=theirs)),
        (BETA, ListMessagingProfiles()),
    ]
    for tenant, call in reads:
        assert await outcome(service, tenant, call) is Outcome.MISS

    await service.write(Caller(ALPHA), UpdateMessagingProfile(id=first), {"name": "Renamed"})

    assert [await outcome(service, tenant, call) for tenant, call in reads] == [
        Outcome.MISS,  # the profile
        Outcome.HIT,
        Outcome.MISS,  # the list that holds it
        Outcome.HIT,  # its numbers and short codes do not embed it
        Outcome.HIT,
        Outcome.HIT,  # the other tenant's entries
        Outcome.HIT,
    ]
    profile, _ = await read(service, ALPHA, RetrieveMessagingProfile(id=first))
    listed, _ = await read(service, ALPHA, ListMessagingProfiles())
    assert profile["data"]["name"] == "Renamed"
    assert [p["name"] for p in listed["data"]] == ["Renamed", "Marketing", "Support"]


async def test_a_filtered_profile_list_is_evicted_too(
    service: TelnyxService, alpha: Account
) -> None:
    first = profiles_of(alpha)[0]
    before, _ = await read(service, ALPHA, ListMessagingProfiles(name_contains="Ale"))

    await service.write(Caller(ALPHA), UpdateMessagingProfile(id=first), {"name": "Pager"})

    after, served = await read(service, ALPHA, ListMessagingProfiles(name_contains="Ale"))
    assert ([p["name"] for p in before["data"]], [p["name"] for p in after["data"]], served) == (
        ["Alerts"],
        [],
        Outcome.MISS,
    )


async def test_a_profile_delete_evicts_every_view_of_its_numbers_and_short_codes(
    service: TelnyxService, alpha: Account, beta: Account
) -> None:
    doomed, kept, _ = profiles_of(alpha)
    short_code = short_code_of(alpha, doomed)
    number = number_of(alpha, doomed)
    await read(service, ALPHA, RetrieveMessagingProfile(id=doomed))
    await read(service, ALPHA, ListProfilePhoneNumbers(id=doomed))
    await read(service, ALPHA, ListProfileShortCodes(id=doomed))
    await read(service, ALPHA, RetrieveShortCode(id=short_code))
    await read(service, ALPHA, RetrievePhoneNumberMessaging(id=number["phone_number"]))
    await read(service, ALPHA, ListShortCodes(messaging_profile_id="null"))
    await read(service, ALPHA, ListPhoneNumbers(messaging_profile_id=doomed))
    await read(service, ALPHA, RetrieveMessagingProfile(id=kept))
    await read(service, BETA, ListShortCodes(messaging_profile_id="null"))

    await service.write(Caller(ALPHA), DeleteMessagingProfile(id=doomed))

    reads: list[Read[Any]] = [
        RetrieveMessagingProfile(id=doomed),
        ListProfilePhoneNumbers(id=doomed),
        ListProfileShortCodes(id=doomed),
    ]
    for call in reads:
        with pytest.raises(NotFoundError):
            await outcome(service, ALPHA, call)
    code, served = await read(service, ALPHA, RetrieveShortCode(id=short_code))
    assert (code["data"]["messaging_profile_id"], served) == (None, Outcome.MISS)
    line, served = await read(
        service, ALPHA, RetrievePhoneNumberMessaging(id=number["phone_number"])
    )
    assert (line["data"]["messaging_profile_id"], served) == (None, Outcome.MISS)
    unassigned, served = await read(service, ALPHA, ListShortCodes(messaging_profile_id="null"))
    assert (short_code in [c["id"] for c in unassigned["data"]], served) == (True, Outcome.MISS)
    assigned, served = await read(service, ALPHA, ListPhoneNumbers(messaging_profile_id=doomed))
    assert (assigned["data"], served) == ([], Outcome.MISS)
    assert await outcome(service, ALPHA, RetrieveMessagingProfile(id=kept)) is Outcome.HIT
    assert await outcome(service, BETA, ListShortCodes(messaging_profile_id="null")) is Outcome.HIT


async def test_assigning_a_short_code_evicts_the_old_and_the_new_profiles_lists(
    service: TelnyxService, alpha: Account, beta: Account
) -> None:
    old, new, _ = profiles_of(alpha)
    moved = short_code_of(alpha, old)
    for profile_id in (old, new):
        await read(service, ALPHA, ListProfileShortCodes(id=profile_id))
    await read(service, ALPHA, RetrieveShortCode(id=moved))
    await read(service, ALPHA, ListShortCodes())
    await read(service, ALPHA, RetrieveMessagingProfile(id=old))
    await read(service, BETA, ListProfileShortCodes(id=profiles_of(beta)[0]))

    await service.write(Caller(ALPHA), UpdateShortCode(id=moved), {"messaging_profile_id": new})

    old_list, old_served = await read(service, ALPHA, ListProfileShortCodes(id=old))
    new_list, new_served = await read(service, ALPHA, ListProfileShortCodes(id=new))
    assert ([c["id"] for c in old_list["data"]], old_served) == ([], Outcome.MISS)
    assert (moved in [c["id"] for c in new_list["data"]], new_served) == (True, Outcome.MISS)
    code, served = await read(service, ALPHA, RetrieveShortCode(id=moved))
    assert (code["data"]["messaging_profile_id"], served) == (new, Outcome.MISS)
    assert await outcome(service, ALPHA, ListShortCodes()) is Outcome.MISS
    assert await outcome(service, ALPHA, RetrieveMessagingProfile(id=old)) is Outcome.HIT
    assert (
        await outcome(service, BETA, ListProfileShortCodes(id=profiles_of(beta)[0])) is Outcome.HIT
    )


async def test_assigning_a_number_evicts_both_profiles_lists_and_the_number_by_id_and_by_e164(
    service: TelnyxService, alpha: Account, beta: Account
) -> None:
    old, new, _ = profiles_of(alpha)
    number = number_of(alpha, old)
    for profile_id in (old, new):
        await read(service, ALPHA, ListProfilePhoneNumbers(id=profile_id))
    # The same number under two names: its id and its +E.164 string.
    await read(service, ALPHA, RetrievePhoneNumberMessaging(id=number["id"]))
    await read(service, ALPHA, RetrievePhoneNumberMessaging(id=number["phone_number"]))
    await read(service, ALPHA, ListPhoneNumbers())
    await read(service, BETA, RetrievePhoneNumberMessaging(id=number["phone_number"]))

    await service.write(
        Caller(ALPHA), UpdatePhoneNumberMessaging(id=number["id"]), {"messaging_profile_id": new}
    )

    old_list, old_served = await read(service, ALPHA, ListProfilePhoneNumbers(id=old))
    new_list, new_served = await read(service, ALPHA, ListProfilePhoneNumbers(id=new))
    assert (number["id"] in [n["id"] for n in old_list["data"]], old_served) == (
        False,
        Outcome.MISS,
    )
    assert (number["id"] in [n["id"] for n in new_list["data"]], new_served) == (
        True,
        Outcome.MISS,
    )
    for name in (number["id"], number["phone_number"]):
        line, served = await read(service, ALPHA, RetrievePhoneNumberMessaging(id=name))
        assert (line["data"]["messaging_profile_id"], served) == (new, Outcome.MISS)
    assert await outcome(service, ALPHA, ListPhoneNumbers()) is Outcome.MISS
    theirs, served = await read(
        service, BETA, RetrievePhoneNumberMessaging(id=number["phone_number"])
    )
    assert (theirs["data"]["messaging_profile_id"], served) == (profiles_of(beta)[0], Outcome.HIT)


async def test_a_read_after_a_write_never_sees_a_read_that_started_before_it(
    service: TelnyxService, alpha: Account, upstream: Lagging
) -> None:
    first = profiles_of(alpha)[0]
    # A read that leaves before the write and comes back after it, with the old name.
    upstream.lag = 0.1
    early = asyncio.create_task(read(service, ALPHA, RetrieveMessagingProfile(id=first)))
    await asyncio.sleep(0.02)
    upstream.lag = 0.0
    await service.write(Caller(ALPHA), UpdateMessagingProfile(id=first), {"name": "Renamed"})

    after, served = await read(service, ALPHA, RetrieveMessagingProfile(id=first))
    before, _ = await early
    again, served_again = await read(service, ALPHA, RetrieveMessagingProfile(id=first))

    assert (before["data"]["name"], after["data"]["name"], served) == (
        "Alerts",
        "Renamed",
        Outcome.MISS,
    )
    assert (again["data"]["name"], served_again) == ("Renamed", Outcome.HIT)


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached(
    service: TelnyxService, simulator: Simulator, upstream: Lagging
) -> None:
    simulator.faults.fail(503, times=3)  # the first attempt and both retries
    upstream.lag = 0.02

    results = await asyncio.gather(
        read(service, ALPHA, ListShortCodes()),
        read(service, ALPHA, ListShortCodes()),
        return_exceptions=True,
    )

    assert [type(result) for result in results] == [UpstreamUnavailableError] * 2
    assert len(simulator.requests) == 3
    assert await outcome(service, ALPHA, ListShortCodes()) is Outcome.MISS


async def test_no_cache_reads_upstream_and_refreshes_the_entry(
    service: TelnyxService, simulator: Simulator, alpha: Account
) -> None:
    await read(service, ALPHA, ListShortCodes())
    alpha.add_short_codes(1)

    caller = Caller(ALPHA, no_cache=True)
    fresh = (await service.read(caller, ListShortCodes())).value
    cached, served = await read(service, ALPHA, ListShortCodes())

    assert (caller.outcomes, caller.cached) == ([Outcome.BYPASS], False)
    assert (len(fresh["data"]), len(cached["data"]), served) == (6, 6, Outcome.HIT)
    assert len(simulator.requests) == 2


async def test_two_tenants_asking_for_the_same_path_at_once_each_get_their_own_data(
    service: TelnyxService, simulator: Simulator, alpha: Account, beta: Account
) -> None:
    # Both accounts have a +13125550001; each is its own number in its own account.
    e164 = "+13125550001"
    alpha.add_profiles(2)
    simulator.faults.latency = 0.05

    for expected in (Outcome.MISS, Outcome.HIT):
        (ours, our_outcome), (theirs, their_outcome) = await asyncio.gather(
            read(service, ALPHA, RetrievePhoneNumberMessaging(id=e164)),
            read(service, BETA, RetrievePhoneNumberMessaging(id=e164)),
        )
        assert (ours["data"]["id"], ours["data"]["messaging_profile_id"]) == (
            alpha.phone_number(e164)["id"],  # type: ignore[index]
            profiles_of(alpha)[0],
        )
        assert (theirs["data"]["id"], theirs["data"]["messaging_profile_id"]) == (
            beta.phone_number(e164)["id"],  # type: ignore[index]
            profiles_of(beta)[0],
        )
        assert (our_outcome, their_outcome) == (expected, expected)
        (ours_listed, _), (theirs_listed, _) = await asyncio.gather(
            read(service, ALPHA, ListMessagingProfiles()),
            read(service, BETA, ListMessagingProfiles()),
        )
        assert (len(ours_listed["data"]), len(theirs_listed["data"])) == (5, 3)

    assert sorted((r.api_key, r.path) for r in simulator.requests) == sorted(
        [
            (ALPHA_KEY, f"/v2/phone_numbers/{e164}/messaging"),
            (BETA_KEY, f"/v2/phone_numbers/{e164}/messaging"),
            (ALPHA_KEY, "/v2/messaging_profiles"),
            (BETA_KEY, "/v2/messaging_profiles"),
        ]
    )


async def test_one_tenants_id_is_not_found_for_another_asking_at_the_same_moment(
    service: TelnyxService, simulator: Simulator, alpha: Account
) -> None:
    ours = profiles_of(alpha)[0]
    simulator.faults.latency = 0.05

    found, missing = await asyncio.gather(
        read(service, ALPHA, RetrieveMessagingProfile(id=ours)),
        read(service, BETA, RetrieveMessagingProfile(id=ours)),
        return_exceptions=True,
    )

    assert not isinstance(found, BaseException)
    assert (found[0]["data"]["id"], found[1]) == (ours, Outcome.MISS)
    assert isinstance(missing, NotFoundError)
    assert [r.api_key for r in simulator.requests] == [ALPHA_KEY, BETA_KEY]


async def test_a_write_that_fails_after_telnyx_may_have_applied_it_still_evicts(
    service: TelnyxService, simulator: Simulator, alpha: Account
) -> None:
    profile_id = profiles_of(alpha)[0]
    before, _ = await read(service, ALPHA, RetrieveMessagingProfile(id=profile_id))
    # Telnyx applies the update but its answer is lost: the gateway sees a 503 every time.
    alpha.profiles[profile_id]["name"] = "Renamed"
    simulator.faults.fail(503, times=3, method="PATCH")

    with pytest.raises(UpstreamUnavailableError):
        await service.write(
            Caller(ALPHA), UpdateMessagingProfile(id=profile_id), {"name": "Renamed"}
        )
    after, served = await read(service, ALPHA, RetrieveMessagingProfile(id=profile_id))

    assert (before["data"]["name"], after["data"]["name"], served) == (
        "Alerts",
        "Renamed",
        Outcome.MISS,
    )


async def test_a_write_is_one_span_and_tells_the_other_replicas_what_it_evicted(
    upstream: Lagging, alpha: Account
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    published: list[tuple[str, list[tuple[str, str | None]]]] = []

    async def publish(tenant: str, evicted: Sequence[tuple[str, str | None]]) -> None:
        published.append((tenant, list(evicted)))

    profile_id = profiles_of(alpha)[0]
    async with contextlib.aclosing(HttpxUpstream(upstream)) as http:
        service = service_of(
            client_of(http),
            max_bytes=2**20,
            stale_window=0,
            tracer_provider=provider,
            publish=publish,
        )
        await service.write(Caller(ALPHA), UpdateMessagingProfile(id=profile_id), {"name": "X"})

    (span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("telnyx.")]
    assert (span.name, span.kind, dict(span.attributes or {})) == (
        "telnyx.update_messaging_profile",
        SpanKind.INTERNAL,
        {"telnyx.operation": "update_messaging_profile", "gateway.tenant.id": "alpha"},
    )
    assert published == [
        (
            "alpha",
            [
                ("retrieve_messaging_profile", profile_id),
                ("list_messaging_profiles", None),
                ("retrieve_messaging_profile_metrics", profile_id),
                ("list_messaging_profile_metrics", None),
            ],
        )
    ]


async def test_with_caching_off_every_read_goes_to_telnyx(
    upstream: Lagging, simulator: Simulator, alpha: Account
) -> None:
    async with contextlib.aclosing(HttpxUpstream(upstream)) as http:
        service = service_of(client_of(http), max_bytes=0)
        profile_id = profiles_of(alpha)[0]
        call = RetrieveMessagingProfile(id=profile_id)
        reads = [await read(service, ALPHA, call) for _ in range(2)]

    assert [(value["data"]["id"], served) for value, served in reads] == [
        (profile_id, Outcome.MISS),
        (profile_id, Outcome.MISS),
    ]
    assert len(simulator.requests) == 2


@pytest.mark.parametrize(("body", "status"), [(b'{"data":{"id":"p"}}', 200), (b"", 204)])
def test_a_read_kept_in_the_shared_tier_comes_back_as_it_was(body: bytes, status: int) -> None:
    key = Key("alpha", "retrieve_messaging_profile", "p")
    kept = decode_read(
        key, encode_read(key, Fetched("retrieve_messaging_profile", body, status, bytes))
    )
    assert (kept.operation, kept.body, kept.status) == ("retrieve_messaging_profile", body, status)


def test_shared_tier_bytes_too_short_for_a_status_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^$"):
        decode_read(Key("alpha", "retrieve_messaging_profile", "p"), b"\x00")


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("retrieve", []),
        ("retrieve", "profile"),
        ("retrieve", {"data": []}),
        ("retrieve", {"errors": []}),
        ("list", []),
        ("list", {"data": {}}),
        ("list", {"data": [1, 2]}),
        ("list", {"data": [], "meta": "page 1"}),
    ],
)
async def test_an_answer_that_is_not_telnyxs_envelope_is_an_upstream_error(
    service: TelnyxService, simulator: Simulator, alpha: Account, operation: str, body: Any
) -> None:
    profile_id = profiles_of(alpha)[0]
    call: Read[Any] = (
        RetrieveMessagingProfile(id=profile_id)
        if operation == "retrieve"
        else ListMessagingProfiles()
    )
    simulator.faults.fail(200, body=body)

    with pytest.raises(UpstreamError) as caught:
        # Told when read, or when first used (a read is parsed when used).
        (await service.read(Caller(ALPHA), call)).value  # noqa: B018

    name = "retrieve_messaging_profile" if operation == "retrieve" else "list_messaging_profiles"
    assert str(caught.value) == f"Telnyx {name} failed (200): unexpected response body"


async def test_a_kept_read_is_charged_its_body_and_its_key() -> None:
    """The upstream cache's budget counts the bytes Telnyx sent and the key they are kept
    under (its query parameters too)."""

    async def charged(body: int, name: int) -> int:
        cache = TenantCache(
            max_bytes=1 << 30, tenant_max_bytes=1 << 30, stale_window=0, weigh=weigh_read
        )
        key = Key("alpha", "list_messaging_profiles", None, (("filter[name]", "n" * name),))

        async def load() -> Fetched[Any]:
            return Fetched("list_messaging_profiles", b"b" * body, 200, bytes)

        await cache.get(key, load, ttl=60)
        return cache.used_bytes

    assert await charged(1_100, 10) - await charged(100, 10) == 1_000
    assert await charged(100, 1_010) - await charged(100, 10) == 1_000


async def test_a_write_the_circuit_breaker_refuses_unsent_evicts_nothing(
    upstream: Lagging, simulator: Simulator, alpha: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never sent, so nothing changed: what is cached stays, to be served (stale if need
    be) while Telnyx is failing."""
    async with contextlib.aclosing(HttpxUpstream(upstream)) as http:
        client = client_of(http)
        service = service_of(client)
        profile_id = profiles_of(alpha)[0]
        call = RetrieveMessagingProfile(id=profile_id)
        await read(service, ALPHA, call)
        refused = CircuitOpenError("update_messaging_profile", retry_after=5.0, scope="alpha")

        async def send(*args: Any) -> Any:
            raise refused

        monkeypatch.setattr(client, "send", send)
        with pytest.raises(CircuitOpenError) as caught:
            await service.write(
                Caller(ALPHA), UpdateMessagingProfile(id=profile_id), {"name": "Renamed"}
            )
        value, served = await read(service, ALPHA, call)

    assert caught.value is refused
    assert (value["data"]["id"], served) == (profile_id, Outcome.HIT)
    assert len(simulator.requests) == 1


def test_the_account_a_key_stands_for_is_the_same_on_every_replica_and_version() -> None:
    """The shared tier and the account's budget are kept in Redis under this digest:
    replicas running different versions during a rolling upgrade must agree on it. It is
    not the key, nor a prefix of the key's plain sha256."""
    key = "KEY0123456789ABCDEF"
    account = account_of(Tenant("acme", SecretStr(key)))
    assert account == "c15f297448ecb1f0"
    assert account not in hashlib.sha256(key.encode()).hexdigest()


async def test_a_read_is_one_span_naming_its_operation_page_and_outcome(
    upstream: Lagging, alpha: Account
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with contextlib.aclosing(HttpxUpstream(upstream)) as http:
        service = service_of(
            client_of(http), max_bytes=2**20, stale_window=0, tracer_provider=provider
        )
        for _ in range(2):  # a miss, then a hit
            await service.read(Caller(ALPHA), ListMessagingProfiles(page=2, size=5))

    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("telnyx.")]
    assert [(span.name, span.kind, dict(span.attributes or {})) for span in spans] == [
        (
            "telnyx.list_messaging_profiles",
            SpanKind.INTERNAL,
            {
                "telnyx.operation": "list_messaging_profiles",
                "gateway.tenant.id": "alpha",
                "telnyx.page.number": 2,
                "telnyx.page.size": 5,
                "gateway.cache.outcome": outcome,
            },
        )
        for outcome in ("miss", "hit")
    ]
    scopes = {span.instrumentation_scope for span in spans}
    assert {scope.name if scope else None for scope in scopes} == {"gateway.telnyx.service"}
