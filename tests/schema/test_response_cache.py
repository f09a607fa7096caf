"""The whole-response cache: a warm query is answered without being parsed or executed, and
every write evicts exactly the responses that read what it changed, for that tenant only."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette

from gateway.lru import ENTRY_OVERHEAD, weight
from gateway.responses import ResponseCache, ResponseKey
from gateway.simulator import Account, Simulator
from tests.conftest import ALPHA_TOKEN, BETA_KEY, BETA_TOKEN, GATEWAY_URL, MakeApp, client_for
from tests.schema.conftest import codes, gql, upstream

PROFILE = "query($id: ID!) { messagingProfile(id: $id) { name } }"
NAMES = "{ messagingProfiles { edges { node { name } } } }"
COUNT = "{ messagingProfiles { totalCount } }"
TWO_OPERATIONS = """query Names { messagingProfiles { edges { node { name } } } }
query Count { messagingProfiles { totalCount } }"""
RENAME = """mutation($id: ID!, $name: String!) {
  updateMessagingProfile(id: $id, input: {name: $name}) { name } }"""


def executed(spans: InMemorySpanExporter) -> int:
    """How many GraphQL operations ran (each has one operation span), then forget them."""
    count = sum(
        1 for span in spans.get_finished_spans() if "graphql.errors" in (span.attributes or {})
    )
    spans.clear()
    return count


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
async def beta(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=GATEWAY_URL,
        headers={"Authorization": f"Bearer {BETA_TOKEN}"},
    ) as client:
        yield client


# --- hits ------------------------------------------------------------------------------


async def test_a_warm_query_is_answered_without_parsing_or_executing(
    client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter, alpha: Account
) -> None:
    body = {"query": PROFILE, "variables": {"id": next(iter(alpha.profiles))}}
    first = await post(client, body)
    (front,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.SERVER]
    assert (front.attributes or {})["gateway.cache.outcome"] == "miss"
    assert (first.headers["x-cache"], executed(spans)) == ("MISS", 1)
    simulator.requests.clear()

    second = await post(client, body)

    assert second.headers["x-cache"] == "HIT"
    assert second.headers["content-type"] == "application/json"
    assert second.content == first.content.replace(b'"cached":false', b'"cached":true')
    assert second.json() == {
        "data": {"messagingProfile": {"name": "Alerts"}},
        "extensions": {"cache": {"cached": True, "stale": False}},
    }
    # One span, the request's own, which says the answer was a hit.
    (only,) = spans.get_finished_spans()
    assert (only.kind, only.name) == (SpanKind.SERVER, "POST /graphql")
    assert (only.attributes or {})["gateway.cache.outcome"] == "hit"
    assert executed(spans) == 0
    assert upstream(simulator) == []


async def test_a_query_answered_from_cached_reads_is_kept_as_it_was_sent(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await post(client, {"query": NAMES, "variables": {"unused": 1}})
    # Same reads, other document: executed, every read a hit, and kept as such.
    warm = await post(client, {"query": NAMES})
    again = await post(client, {"query": NAMES})
    assert executed(spans) == 2
    assert warm.headers["x-cache"] == again.headers["x-cache"] == "HIT"
    assert again.content == warm.content


async def test_entries_are_per_tenant_document_variables_and_operation_name(
    client: httpx.AsyncClient,
    beta: httpx.AsyncClient,
    simulator: Simulator,
    spans: InMemorySpanExporter,
    alpha: Account,
) -> None:
    alerts, marketing, _ = alpha.profiles
    beta_alerts = next(iter(simulator.account(BETA_KEY).profiles))
    sent: list[tuple[httpx.AsyncClient, dict[str, Any]]] = [
        (client, {"query": PROFILE, "variables": {"id": alerts}}),
        (client, {"query": PROFILE, "variables": {"id": marketing}}),
        (client, {"query": PROFILE + " ", "variables": {"id": alerts}}),
        (client, {"query": TWO_OPERATIONS, "operationName": "Names"}),
        (client, {"query": TWO_OPERATIONS, "operationName": "Count"}),
        (beta, {"query": PROFILE, "variables": {"id": beta_alerts}}),
        (beta, {"query": TWO_OPERATIONS, "operationName": "Names"}),
    ]
    answers = [(await post(caller, body)).json()["data"] for caller, body in sent]
    assert executed(spans) == len(sent)
    again = [(await post(caller, body)).json()["data"] for caller, body in sent]
    assert executed(spans) == 0
    assert again == answers
    assert (
        answers[3]
        == answers[6]
        == {
            "messagingProfiles": {
                "edges": [{"node": {"name": name}} for name in ("Alerts", "Marketing", "Support")]
            }
        }
    )
    assert answers[4] == {"messagingProfiles": {"totalCount": 3}}
    # The beta answers came from beta's account, not from alpha's entries.
    assert [r.api_key for r in simulator.requests].count(BETA_KEY) == 2


async def test_variables_in_another_order_and_get_requests_share_the_entry(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    query = "query($first: Int, $after: String) { messagingProfiles(first: $first, after: $after) { totalCount } }"
    await post(client, {"query": query, "variables": {"first": 2, "after": None}})
    assert executed(spans) == 1
    await post(client, {"query": query, "variables": {"after": None, "first": 2}})
    response = await client.get(
        "/graphql",
        params={"query": query, "variables": json.dumps({"first": 2, "after": None})},
        headers={"Apollo-Require-Preflight": "true"},
    )
    assert response.headers["x-cache"] == "HIT"
    assert response.json()["data"] == {"messagingProfiles": {"totalCount": 3}}
    assert executed(spans) == 0


async def test_an_operation_named_by_its_hash_is_served_from_the_cache(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    apq = {
        "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(NAMES.encode()).hexdigest()}
    }
    registered = await post(client, {"query": NAMES, "extensions": apq})
    by_hash = await post(client, {"extensions": apq})
    assert executed(spans) == 1
    assert by_hash.content == registered.content.replace(b'"cached":false', b'"cached":true')


async def test_a_registration_answered_from_the_cache_registers_the_document_again(
    make_app: MakeApp, spans: InMemorySpanExporter
) -> None:
    def apq(query: str) -> dict[str, Any]:
        digest = hashlib.sha256(query.encode()).hexdigest()
        return {"persistedQuery": {"version": 1, "sha256Hash": digest}}

    def kept(query: str) -> int:
        digest = hashlib.sha256(query.encode()).hexdigest()
        return weight(query, ("alpha", digest), digest)

    # Room for either document's registration, not for both.
    app = make_app(apq_tenant_cache_bytes=kept(NAMES) + kept(COUNT) - 1)
    async with client_for(app) as client:
        await post(client, {"query": NAMES, "extensions": apq(NAMES)})
        await post(client, {"query": COUNT, "extensions": apq(COUNT)})  # NAMES goes
        forgotten = await post(client, {"extensions": apq(NAMES)})
        # The client sends the document again, as APQ clients do; its answer is kept.
        again = await post(client, {"query": NAMES, "extensions": apq(NAMES)})
        fresh = await post(
            client, {"extensions": apq(NAMES)}, headers={"Cache-Control": "no-cache"}
        )

    assert codes(forgotten.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert again.headers["x-cache"] == "HIT"
    assert executed(spans) == 3  # NAMES, COUNT, and NAMES by its hash alone, registered again
    assert "errors" not in fresh.json()
    assert fresh.json()["data"] == again.json()["data"]


# --- what is never kept ----------------------------------------------------------------


async def test_mutations_are_never_answered_from_the_cache(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    variables = {"id": next(iter(alpha.profiles)), "name": "Pager"}
    for _ in range(2):
        body = await gql(client, RENAME, variables)
        assert body["data"] == {"updateMessagingProfile": {"name": "Pager"}}
    assert [r.method for r in simulator.requests] == ["PATCH", "PATCH"]


async def test_responses_with_errors_are_not_kept(
    app: Starlette, client: httpx.AsyncClient, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    body = {"query": PROFILE, "variables": {"id": "00000000-0000-4000-8000-000000000000"}}
    for _ in range(2):
        assert codes((await post(client, body)).json()) == ["NOT_FOUND"]
    assert executed(spans) == 2
    assert len(upstream(simulator)) == 2
    assert len(app.state.responses) == 0


async def test_partial_answers_with_errors_are_not_kept(
    app: Starlette, client: httpx.AsyncClient, alpha: Account, spans: InMemorySpanExporter
) -> None:
    query = """query($found: ID!, $missing: ID!) {
      found: messagingProfile(id: $found) { name }
      missing: messagingProfile(id: $missing) { name } }"""
    found = next(iter(alpha.profiles))
    variables = {"found": found, "missing": "00000000-0000-4000-8000-000000000000"}
    answers = [(await post(client, {"query": query, "variables": variables})).json() for _ in "ab"]

    # Both times the error is there beside the data: a kept answer would have lost it.
    for answer in answers:
        assert answer["data"] == {"found": {"name": alpha.profiles[found]["name"]}, "missing": None}
        assert codes(answer) == ["NOT_FOUND"]
    assert executed(spans) == 2
    assert len(app.state.responses) == 0


async def test_responses_with_stale_reads_are_not_kept(
    make_app: MakeApp, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    app = make_app(cache_ttl_profiles=0.05, upstream_max_retries=0)
    async with client_for(app) as client:
        await post(client, {"query": NAMES})
        await asyncio.sleep(0.06)
        simulator.faults.fail(503, times=2)
        stale = [await post(client, {"query": NAMES}) for _ in range(2)]
    assert [response.headers["x-cache"] for response in stale] == ["STALE", "STALE"]
    assert executed(spans) == 3
    assert len(app.state.responses) == 0


async def test_a_response_expires_with_the_first_of_its_reads(
    make_app: MakeApp, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    app = make_app(cache_ttl_profiles=0.5)
    async with client_for(app) as client:
        await post(client, {"query": NAMES})
        await asyncio.sleep(0.3)
        # Built from the 0.3 s old read: fresh for 0.2 s more, not for another 0.5 s.
        await post(client, {"query": TWO_OPERATIONS, "operationName": "Names"})
        assert executed(spans) == 2
        await asyncio.sleep(0.3)
        await post(client, {"query": TWO_OPERATIONS, "operationName": "Names"})
    assert executed(spans) == 1
    assert len(upstream(simulator)) == 2


async def test_no_cache_bypasses_the_cache_and_refreshes_it(
    client: httpx.AsyncClient, spans: InMemorySpanExporter, alpha: Account
) -> None:
    await post(client, {"query": NAMES})
    # Changed behind the gateway's back: only a read that bypasses the caches sees it.
    next(iter(alpha.profiles.values()))["name"] = "Renamed upstream"
    assert (await post(client, {"query": NAMES})).json()["data"]["messagingProfiles"]["edges"][
        0
    ] == {"node": {"name": "Alerts"}}
    bypass = await post(client, {"query": NAMES}, headers={"Cache-Control": "no-cache"})
    after = await post(client, {"query": NAMES})
    assert executed(spans) == 2
    assert bypass.headers["x-cache"] == "MISS"
    assert after.headers["x-cache"] == "HIT"
    for response in (bypass, after):
        assert response.json()["data"]["messagingProfiles"]["edges"][0] == {
            "node": {"name": "Renamed upstream"}
        }


async def test_off_when_its_size_is_zero(make_app: MakeApp, spans: InMemorySpanExporter) -> None:
    app = make_app(response_cache_max_bytes=0)
    async with client_for(app) as client:
        for _ in range(2):
            await post(client, {"query": NAMES})
    assert executed(spans) == 2


async def test_trusted_only_mode_still_refuses_unregistered_documents(
    make_app: MakeApp, simulator: Simulator, tmp_path: Path
) -> None:
    count = "{ messagingProfiles { totalCount } }"
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({hashlib.sha256(count.encode()).hexdigest(): count}))
    app = make_app(trusted_documents_file=path, trusted_documents_only=True)
    responses: ResponseCache = app.state.responses
    # An entry for the unregistered document, however it got there, must never be served.
    key = ResponseKey.of("alpha", NAMES, None, None)
    assert key is not None
    assert responses.put(
        key,
        b'{"data":{"leaked":true}}',
        reads=[("messaging_profiles", None)],
        read_at=0.0,
        fresh_until=float("inf"),
        generation=responses.generation("alpha"),
    )
    async with client_for(app) as client:
        for _ in range(2):
            assert (await post(client, {"query": count})).json()["data"] == {
                "messagingProfiles": {"totalCount": 3}
            }
        reads = len(simulator.requests)
        refused = await post(client, {"query": NAMES})
    assert refused.json() == {
        "data": None,
        "errors": [
            {
                "message": "Only registered documents run on this gateway, and this one is not registered.",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ],
    }
    assert len(simulator.requests) == reads == 1


# --- eviction --------------------------------------------------------------------------


def queries(alpha: Account) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """name: (tenant token, document, variables); the comment says what each one reads."""
    alerts, _, support = alpha.profiles
    short_code = next(iter(alpha.short_codes))
    number = next(iter(alpha.phone_numbers))
    nested = "{ messagingProfiles { edges { node { phoneNumbers { totalCount } shortCodes { totalCount } } } } }"
    return {
        # profile(alerts)
        "alerts": (ALPHA_TOKEN, PROFILE, {"id": alerts}),
        # profile(support)
        "support": (ALPHA_TOKEN, PROFILE, {"id": support}),
        # profiles
        "profiles": (ALPHA_TOKEN, NAMES, {}),
        # profile(alerts), its phone numbers
        "alerts numbers": (
            ALPHA_TOKEN,
            "query($id: ID!) { messagingProfile(id: $id) { phoneNumbers { totalCount } } }",
            {"id": alerts},
        ),
        # profile(alerts), its short codes
        "alerts short codes": (
            ALPHA_TOKEN,
            "query($id: ID!) { messagingProfile(id: $id) { shortCodes { totalCount } } }",
            {"id": alerts},
        ),
        # short code(alerts')
        "short code": (
            ALPHA_TOKEN,
            "query($id: ID!) { shortCode(id: $id) { shortCode } }",
            {"id": short_code},
        ),
        # short codes
        "short codes": (ALPHA_TOKEN, "{ shortCodes { totalCount } }", {}),
        # phone number(alerts')
        "number": (
            ALPHA_TOKEN,
            "query($id: ID!) { phoneNumber(id: $id) { phoneNumber } }",
            {"id": number},
        ),
        # phone numbers
        "numbers": (ALPHA_TOKEN, "{ phoneNumbers { totalCount } }", {}),
        # profiles, then the account's phone numbers and short codes (the fan-in)
        "nested": (ALPHA_TOKEN, nested, {}),
        # beta's profiles, phone numbers and short codes
        "beta nested": (BETA_TOKEN, nested, {}),
    }


async def reran(
    app: Starlette, spans: InMemorySpanExporter, asked: dict[str, tuple[str, str, dict[str, Any]]]
) -> set[str]:
    """Send every query; the names of those that were executed rather than served whole."""
    ran = set()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
    ) as anyone:
        for name, (token, query, variables) in asked.items():
            await post(
                anyone,
                {"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            if executed(spans):
                ran.add(name)
    return ran


EVERYTHING = {
    "alerts",
    "support",
    "profiles",
    "alerts numbers",
    "alerts short codes",
    "short code",
    "short codes",
    "number",
    "numbers",
    "nested",
    "beta nested",
}


async def write(client: httpx.AsyncClient, alpha: Account, how: str) -> None:
    alerts, marketing, support = alpha.profiles
    short_code = next(iter(alpha.short_codes))
    number = next(iter(alpha.phone_numbers))
    if how == "graphql: update profile":
        body = await gql(client, RENAME, {"id": alerts, "name": "Pager"})
        assert "errors" not in body
        return
    if how == "graphql: update short code":
        body = await gql(
            client,
            "mutation($id: ID!, $p: ID) { updateShortCode(id: $id, input: {messagingProfileId: $p}) { id } }",
            {"id": short_code, "p": marketing},
        )
        assert "errors" not in body
        return
    method, path, payload = {
        "rest: create profile": (
            "POST",
            "/v2/messaging_profiles",
            {"name": "New", "whitelisted_destinations": ["US"]},
        ),
        "rest: update profile": ("PATCH", f"/v2/messaging_profiles/{alerts}", {"name": "Pager"}),
        "rest: delete profile": ("DELETE", f"/v2/messaging_profiles/{support}", None),
        "rest: update phone number": (
            "PATCH",
            f"/v2/phone_numbers/{number}/messaging",
            {"messaging_profile_id": marketing},
        ),
    }[how]
    response = await client.request(method, path, json=payload)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("how", "evicted"),
    [
        (
            "graphql: update profile",
            {"alerts", "profiles", "alerts numbers", "alerts short codes", "nested"},
        ),
        (
            "rest: update profile",
            {"alerts", "profiles", "alerts numbers", "alerts short codes", "nested"},
        ),
        ("rest: create profile", {"profiles", "nested"}),
        (
            # Every view of every number and short code: the deletion unassigned some (the
            # profiles' own lists are the account's lists, filtered: those go too).
            "rest: delete profile",
            {
                "support",
                "profiles",
                "alerts numbers",
                "alerts short codes",
                "short code",
                "short codes",
                "number",
                "numbers",
                "nested",
            },
        ),
        (
            "graphql: update short code",
            {"alerts short codes", "short code", "short codes", "nested"},
        ),
        ("rest: update phone number", {"alerts numbers", "number", "numbers", "nested"}),
    ],
)
async def test_each_write_evicts_what_it_changed_for_its_tenant_only(
    app: Starlette,
    client: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    alpha: Account,
    how: str,
    evicted: set[str],
) -> None:
    asked = queries(alpha)
    assert await reran(app, spans, asked) == EVERYTHING
    assert await reran(app, spans, asked) == set()

    await write(client, alpha, how)
    spans.clear()

    assert await reran(app, spans, asked) == evicted


@pytest.mark.parametrize(
    ("tenant", "kind", "of_alerts", "evicted"),
    [
        (
            "alpha",
            "retrieve_messaging_profile",
            True,
            {"alerts", "alerts numbers", "alerts short codes"},
        ),
        (
            "alpha",
            "retrieve_messaging_profile",
            False,
            {"alerts", "support", "alerts numbers", "alerts short codes"},
        ),
        ("alpha", "list_phone_numbers", False, {"alerts numbers", "numbers", "nested"}),
        ("beta", "list_short_codes", False, {"beta nested"}),
        ("beta", "retrieve_messaging_profile", False, set()),
    ],
)
async def test_invalidations_from_other_replicas_evict_the_same_way(
    app: Starlette,
    spans: InMemorySpanExporter,
    alpha: Account,
    tenant: str,
    kind: str,
    of_alerts: bool,
    evicted: set[str],
) -> None:
    asked = queries(alpha)
    await reran(app, spans, asked)
    # What the coherence subscriber does with a message from another replica.
    app.state.cache.invalidate(tenant, kind, next(iter(alpha.profiles)) if of_alerts else None)
    assert await reran(app, spans, asked) == evicted


async def test_a_resync_clears_every_response(
    app: Starlette, spans: InMemorySpanExporter, alpha: Account
) -> None:
    asked = queries(alpha)
    await reran(app, spans, asked)
    app.state.cache.clear()
    assert await reran(app, spans, asked) == EVERYTHING


async def test_a_freshness_cap_applies_to_responses_kept_before_it(
    app: Starlette, spans: InMemorySpanExporter, alpha: Account
) -> None:
    asked = queries(alpha)
    await reran(app, spans, asked)
    # As when Redis goes away: other replicas' writes cannot reach this one for a while.
    app.state.service.cap_ttl(0.0)
    assert await reran(app, spans, asked) == EVERYTHING
    app.state.service.cap_ttl(None)
    assert await reran(app, spans, asked) == EVERYTHING
    assert await reran(app, spans, asked) == set()


async def test_an_invalidation_during_a_query_keeps_its_answer_out(
    app: Starlette,
    client: httpx.AsyncClient,
    simulator: Simulator,
    spans: InMemorySpanExporter,
    alpha: Account,
) -> None:
    body = {"query": PROFILE, "variables": {"id": next(iter(alpha.profiles))}}
    simulator.faults.latency = 0.05
    # The read goes out, a write elsewhere invalidates while it is in flight, it comes back.
    read = asyncio.create_task(post(client, body))
    await asyncio.sleep(0.02)
    assert len(simulator.requests) == 0  # still in flight
    app.state.cache.invalidate("alpha", "retrieve_messaging_profile", None)
    await read
    simulator.faults.latency = 0.0
    assert executed(spans) == 1
    await post(client, body)
    assert executed(spans) == 1
    assert len(app.state.responses) == 1  # the second answer was kept


# --- the cache itself ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def key(tenant: str = "alpha", variables: dict[str, Any] | None = None) -> ResponseKey:
    made = ResponseKey.of(tenant, NAMES, variables, None)
    assert made is not None
    return made


def test_keys_are_canonical_and_refuse_variables_without_a_canonical_form() -> None:
    assert key(variables={"a": 1, "b": [2]}) == key(variables={"b": [2], "a": 1})
    assert key(variables={}) == key(variables=None)
    assert key(variables={"a": 1}) != key(variables={"a": 1.5})
    assert key("alpha") != key("beta")
    assert ResponseKey.of("alpha", NAMES, {"a": 2**70}, None) is None


def sized(entries: int, clock: Clock) -> ResponseCache:
    """A cache with room for `entries` responses like those these tests keep."""
    probe = ResponseCache(max_bytes=2**20, tenant_max_bytes=2**20, clock=clock)
    probe.put(
        key(variables={"n": 0}),
        b"{}",
        reads=[("messaging_profiles", None)],
        read_at=clock.now,
        fresh_until=clock.now + 1,
        generation=probe.generation("alpha"),
    )
    room = entries * probe.used_bytes
    return ResponseCache(max_bytes=room, tenant_max_bytes=room, clock=clock)


def test_entries_expire_and_the_least_recently_used_go_first() -> None:
    clock = Clock()
    cache = sized(2, clock)
    reads = [("messaging_profiles", None)]

    def put(k: ResponseKey, fresh_until: float) -> bool:
        return cache.put(
            k,
            b"{}",
            reads=reads,
            read_at=clock.now,
            fresh_until=fresh_until,
            generation=cache.generation(k.tenant),
        )

    a, b, c = key(variables={"n": 1}), key(variables={"n": 2}), key(variables={"n": 3})
    assert put(a, 130.0)
    assert put(b, 110.0)
    assert cache.get(a) == b"{}"  # a is now the most recently used
    assert put(c, 130.0)
    assert (cache.get(a), cache.get(b), cache.get(c)) == (b"{}", None, b"{}")
    clock.now = 130.0
    assert cache.get(a) is None
    assert not put(a, 130.0)  # already expired


def test_what_is_not_kept_and_what_it_would_have_replaced() -> None:
    clock = Clock()
    cache = sized(10, clock)
    k = key()
    reads: list[tuple[str, str | None]] = [("short_codes", None)]

    def put(reads: list[tuple[str, str | None]], fresh_until: float, generation: Any) -> bool:
        return cache.put(
            k, b"{}", reads=reads, read_at=clock.now, fresh_until=fresh_until, generation=generation
        )

    stale = cache.generation("alpha")
    cache.invalidate("alpha", "short_code", "x")
    current = cache.generation("alpha")
    kept = {
        "no reads": put([], 200.0, current),
        "an invalidation since the reads began": put(reads, 200.0, stale),
        "a read that could not be kept": put(reads, float("-inf"), current),
    }
    assert kept == dict.fromkeys(kept, False)
    assert len(cache) == 0
    assert put(reads, 200.0, current)
    assert not put(reads, 200.0, stale)
    assert cache.get(k) is None  # the newer answer superseded it, even unkept
    assert not ResponseCache(max_bytes=0, tenant_max_bytes=0).enabled


def test_a_cap_judges_entries_by_their_oldest_read() -> None:
    clock = Clock()
    cache = sized(10, clock)
    k = key()
    cache.put(
        k,
        b"{}",
        reads=[("short_codes", None)],
        read_at=90.0,
        fresh_until=200.0,
        generation=cache.generation("alpha"),
    )
    assert cache.get(k, max_age=10.5) == b"{}"
    assert cache.get(k, max_age=10.0) is None
    assert cache.get(k) == b"{}"


def test_every_invalidation_and_clear_outdates_the_answers_being_built() -> None:
    clock = Clock()
    cache = sized(10, clock)
    reads: list[tuple[str, str | None]] = [("short_codes", None)]

    def put(k: ResponseKey, generation: tuple[int, int]) -> bool:
        return cache.put(
            k, b"{}", reads=reads, read_at=clock.now, fresh_until=200.0, generation=generation
        )

    outdated = {}
    for change in ("invalidate", "clear the tenant", "clear everyone"):
        for _ in range(2):  # the second change outdates what began after the first
            began = cache.generation("alpha")
            other = cache.generation("beta")
            if change == "invalidate":
                cache.invalidate("alpha", "short_codes", None)
            else:
                cache.clear("alpha" if change == "clear the tenant" else None)
        outdated[change] = (not put(key("alpha"), began), not put(key("beta"), other))
    assert outdated == {
        "invalidate": (True, False),
        "clear the tenant": (True, False),
        "clear everyone": (True, True),
    }


def test_clearing_one_tenant_keeps_the_others_answers() -> None:
    clock = Clock()
    cache = sized(10, clock)
    for tenant in ("alpha", "beta"):
        cache.put(
            key(tenant),
            tenant.encode(),
            reads=[("short_codes", None)],
            read_at=clock.now,
            fresh_until=200.0,
            generation=cache.generation(tenant),
        )
    cache.clear("alpha")
    assert (cache.get(key("alpha")), cache.get(key("beta"))) == (None, b"beta")


def test_the_invalidation_index_holds_only_what_is_kept() -> None:
    clock = Clock()
    cache = sized(2, clock)
    keys = [key(variables={"n": n}) for n in range(4)]
    for k in keys:
        cache.put(
            k,
            b"{}",
            reads=[("short_codes", None), ("messaging_profiles", None)],
            read_at=clock.now,
            fresh_until=200.0,
            generation=cache.generation("alpha"),
        )
    kept = {k for k in keys if cache.get(k) is not None}
    assert 0 < len(kept) < len(keys)
    assert cache._kinds == {
        ("alpha", "short_codes"): kept,
        ("alpha", "messaging_profiles"): kept,
    }
    cache.clear()
    assert cache._kinds == {}


def test_the_bytes_a_response_is_charged_cover_what_keeping_it_costs() -> None:
    """Measured as in tests/test_lru.py, with answers and keys made as the view makes them
    (orjson, whose output keeps a buffer of 4 KiB and more whatever its length): a tenant
    filling its budget with small answers holds no more memory than the budget says."""
    count = 1_000
    cache = ResponseCache(max_bytes=sys.maxsize, tenant_max_bytes=sys.maxsize, clock=lambda: 100.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            key = ResponseKey.of("alpha", f"query {{ p{n} }}", {"id": f"profile-{n}"}, None)
            assert key is not None
            body = orjson.dumps({"data": {"messagingProfile": {"id": f"profile-{n}"}}})
            reads = [("retrieve_messaging_profile", f"profile-{n}")]
            cache.put(
                key,
                body,
                reads=reads,
                read_at=100.0,
                fresh_until=200.0,
                generation=cache.generation("alpha"),
            )
            del key, body, reads
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()

    assert len(cache) == count
    assert cache.used_bytes >= used
    assert cache.used_bytes - used < count * ENTRY_OVERHEAD


def test_an_answer_is_charged_its_body_and_its_key() -> None:
    """The budget counts every byte an answer keeps: its body, and its key (the variables'
    canonical form)."""

    def charged(body: int, variable: int) -> int:
        cache = ResponseCache(max_bytes=1 << 30, tenant_max_bytes=1 << 30, clock=lambda: 100.0)
        key = ResponseKey.of("alpha", "{ profiles }", {"v": "a" * variable}, None)
        assert key is not None
        kept = cache.put(
            key,
            b"b" * body,
            reads=[("list_messaging_profiles", None)],
            read_at=100.0,
            fresh_until=200.0,
            generation=cache.generation("alpha"),
        )
        assert kept
        return cache.used_bytes

    assert charged(1_100, 10) - charged(100, 10) == 1_000
    assert charged(100, 1_010) - charged(100, 10) == 1_000


async def test_an_answer_built_on_reads_the_upstream_cache_did_not_keep_is_not_kept(
    make_app: MakeApp, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    """With the upstream cache off, nothing says how long what was read stays fresh: the
    same query asked again reads Telnyx again."""
    app = make_app(cache_max_bytes=0)
    async with client_for(app) as client:
        answers = [await post(client, {"query": NAMES}) for _ in range(2)]
    assert [answer.headers.get("x-cache") for answer in answers] == ["MISS", "MISS"]
    assert executed(spans) == 2
    assert len(simulator.requests) == 2


async def test_an_answer_asked_for_with_no_store_is_not_kept_whole(
    make_app: MakeApp, simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    """No-store reads Telnyx and keeps nothing: not the page it read, and not the answer,
    though the page an earlier request kept would say how long the answer stays fresh.
    The same query asked again afterwards runs again, from that earlier page."""
    app = make_app()
    ids = "{ messagingProfiles { edges { node { id } } } }"
    async with client_for(app) as client:
        await post(client, {"query": ids})  # keeps the upstream page
        await post(client, {"query": NAMES}, {"Cache-Control": "no-store"})
        await post(client, {"query": NAMES})
    assert executed(spans) == 3  # NAMES ran both times
    assert len(simulator.requests) == 2
