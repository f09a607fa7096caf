"""Nested lists of a page of profiles from the account-wide lists: fewer calls, same answers."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.config import Settings
from gateway.errors import UpstreamUnavailableError
from gateway.simulator import Account, Simulator
from gateway.telemetry import build_telemetry
from gateway.telnyx.models import Page, PaginationMeta
from gateway.tenancy import TenantRegistry
from schema.api.nested import PHONE_NUMBERS, SHORT_CODES, FanIn
from schema.api.paging import encode_cursor, window
from schema.api.query import PROFILES
from schema.limits.turns import Turns
from tests.conftest import ALPHA_KEY, client_for
from tests.schema.conftest import gql, upstream

PROFILE_PHONE_NUMBERS = PHONE_NUMBERS.kind
PROFILE_SHORT_CODES = SHORT_CODES.kind

NESTED = """query($first: Int) { messagingProfiles(first: $first) { edges { node {
  name
  phoneNumbers { totalCount edges { node { phoneNumber } } }
  shortCodes { totalCount edges { node { shortCode } } }
} } } }"""
NUMBERS_PAGE = "GET /phone_numbers/messaging?page[number]={}&page[size]=250&sort[phone_number]=asc"
SHORT_CODES_PAGE = "GET /short_codes?page[number]={}&page[size]=250"


def profiles_page(size: int = 20) -> str:
    return f"GET /messaging_profiles?page[number]=1&page[size]={size}"


def per_profile(account: Account, count: int, kind: str) -> list[str]:
    """The calls that read each of the first `count` profiles' list `kind` on its own:
    the account's list, filtered by the profile (sorted by number, for numbers)."""
    path, sort = {
        "phone_numbers": ("/phone_numbers/messaging", "&sort[phone_number]=asc"),
        "short_codes": ("/short_codes", ""),
    }[kind]
    return [
        f"GET {path}?page[number]=1&page[size]=20&filter[messaging_profile_id]={profile_id}{sort}"
        for profile_id in list(account.profiles)[:count]
    ]


@contextlib.asynccontextmanager
async def gateway(
    simulator: Simulator, tenants: TenantRegistry, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Tenant alpha's client of a gateway over `simulator`, with settings changed."""
    settings = Settings(demo=True, introspection=True, otel_sdk_disabled=True, **changes)
    telemetry = build_telemetry(settings)
    app = create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=tenants,
        telemetry=telemetry,
    )
    try:
        async with client_for(app) as client:
            yield client
    finally:
        telemetry.shutdown()


# --- how many calls --------------------------------------------------------------------


@pytest.mark.parametrize("profiles", [2, 3, 10])
async def test_a_page_of_profiles_costs_one_call_per_list_not_per_profile(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account, profiles: int
) -> None:
    alpha.add_profiles(10)
    body = await gql(client, NESTED, {"first": profiles})
    assert sorted(upstream(simulator)) == sorted(
        [profiles_page(), NUMBERS_PAGE.format(1), SHORT_CODES_PAGE.format(1)]
    )
    nodes = [edge["node"] for edge in body["data"]["messagingProfiles"]["edges"]]
    assert [node["name"] for node in nodes[:3]] == ["Alerts", "Marketing", "Support"][:profiles]
    alerts = nodes[0]
    assert alerts["phoneNumbers"] == {
        "totalCount": 3,
        "edges": [
            {"node": {"phoneNumber": number}}
            for number in sorted(
                number["phone_number"]
                for number in alpha.phone_numbers.values()
                if number["messaging_profile_id"] == next(iter(alpha.profiles))
            )
        ],
    }
    assert alerts["shortCodes"] == {"totalCount": 1, "edges": [{"node": {"shortCode": "20001"}}]}
    assert [node["phoneNumbers"]["totalCount"] for node in nodes[3:]] == [0] * (profiles - 3)


async def test_one_profile_reads_its_own_lists(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    await gql(client, NESTED, {"first": 1})
    assert sorted(upstream(simulator)) == sorted(
        [
            profiles_page(),
            *per_profile(alpha, 1, "phone_numbers"),
            *per_profile(alpha, 1, "short_codes"),
        ]
    )


async def test_a_list_of_several_pages_is_read_whole_when_still_fewer_calls(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    alpha.add_phone_numbers(300)  # 311 numbers: 2 pages, against 3 profiles
    body = await gql(client, NESTED, {"first": 3})
    assert sorted(upstream(simulator)) == sorted(
        [
            profiles_page(),
            NUMBERS_PAGE.format(1),
            NUMBERS_PAGE.format(2),
            SHORT_CODES_PAGE.format(1),
        ]
    )
    totals = [
        edge["node"]["phoneNumbers"]["totalCount"]
        for edge in body["data"]["messagingProfiles"]["edges"]
    ]
    assert totals == [3, 3, 3]


@pytest.mark.parametrize(
    "added",
    [
        300,  # 311 numbers: 2 pages, against 2 profiles
        600,  # 611 numbers: 3 pages
    ],
)
async def test_a_large_list_falls_back_to_one_call_per_profile_and_is_not_probed_again(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account, added: int
) -> None:
    alpha.add_phone_numbers(added)
    first = await gql(client, NESTED, {"first": 2})
    assert sorted(upstream(simulator)) == sorted(
        [
            profiles_page(),
            NUMBERS_PAGE.format(1),  # what told the list was too large
            *per_profile(alpha, 2, "phone_numbers"),
            SHORT_CODES_PAGE.format(1),
        ]
    )
    simulator.requests.clear()
    # No cached read at all: the list's size, remembered, spares the probe.
    again = await gql(client, NESTED, {"first": 2}, headers={"Cache-Control": "no-cache"})
    assert sorted(upstream(simulator)) == sorted(
        [profiles_page(), *per_profile(alpha, 2, "phone_numbers"), SHORT_CODES_PAGE.format(1)]
    )
    assert again["data"] == first["data"]


async def test_a_failing_account_list_falls_back_to_one_call_per_profile(
    client: httpx.AsyncClient, simulator: Simulator, alpha: Account
) -> None:
    simulator.faults.fail(503, times=3, path="/v2/phone_numbers/messaging")
    body = await gql(client, NESTED, {"first": 2})
    assert "errors" not in body
    assert [
        edge["node"]["phoneNumbers"]["totalCount"]
        for edge in body["data"]["messagingProfiles"]["edges"]
    ] == [3, 3]
    assert upstream(simulator).count(NUMBERS_PAGE.format(1)) == 3  # the first try and 2 retries
    assert sorted(r for r in upstream(simulator) if "filter[" in r) == sorted(
        per_profile(alpha, 2, "phone_numbers")
    )


async def test_off_with_the_setting(
    simulator: Simulator, tenants: TenantRegistry, alpha: Account
) -> None:
    async with gateway(simulator, tenants, nested_fan_in=False) as client:
        await gql(client, NESTED, {"first": 3})
    assert len(simulator.requests) == 1 + 2 * 3


# --- the decision, alone ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ReadPage = Callable[[int, int], Awaitable[Page[str]]]


def account_list(total: int, reads: list[int]) -> ReadPage:
    """An account-wide list of `total` items owned alternately by p0 and p1; logs the pages read."""

    async def read(number: int, size: int) -> Page[str]:
        reads.append(number)
        data = [f"p{i % 2}" for i in range(total)][(number - 1) * size : number * size]
        meta: PaginationMeta = {
            "page_number": number,
            "page_size": size,
            "total_pages": math.ceil(total / size),
            "total_results": total,
        }
        return {"data": data, "meta": meta}

    return read


async def test_a_list_known_to_be_too_large_is_probed_again_once_forgotten() -> None:
    clock = Clock()
    fan_in = FanIn(remember=60.0, clock=clock)
    keys = [("p0", 1, 20), ("p1", 1, 20)]
    reads: list[int] = []
    large = account_list(600, reads)
    for _ in range(2):
        assert await fan_in.pages("alpha", "phone_numbers", keys, large, str) is None
    assert reads == [1]
    # Another tenant, or another list, knows nothing of it.
    assert await fan_in.pages("beta", "phone_numbers", keys, large, str) is None
    assert await fan_in.pages("alpha", "short_codes", keys, large, str) is None
    assert reads == [1, 1, 1]
    clock.now = 60.0
    pages = await fan_in.pages("alpha", "phone_numbers", keys, account_list(40, reads), str)
    assert reads == [1, 1, 1, 1]
    assert pages is not None
    meta = {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 20}
    assert [(page["data"], page.get("meta")) for page in pages] == [
        (["p0"] * 20, meta),
        (["p1"] * 20, meta),
    ]


async def test_a_list_that_changed_between_its_pages_is_not_used() -> None:
    reads: list[int] = []
    first, second = account_list(300, reads), account_list(299, reads)

    async def read(number: int, size: int) -> Page[str]:
        return await (first if number == 1 else second)(number, size)

    keys = [(f"p{i}", 1, 20) for i in range(3)]
    assert await FanIn().pages("alpha", "phone_numbers", keys, read, str) is None
    assert reads == [1, 2]


async def test_an_unavailable_later_page_falls_back_but_other_errors_fail_the_batch() -> None:
    keys = [(f"p{i}", 1, 20) for i in range(3)]

    def failing(error: Exception) -> ReadPage:
        async def read(number: int, size: int) -> Page[str]:
            if number == 2:
                raise error
            return await account_list(300, [])(number, size)

        return read

    unavailable = UpstreamUnavailableError("list_phone_numbers", reason="test")
    assert await FanIn().pages("alpha", "x", keys, failing(unavailable), str) is None
    with pytest.raises(KeyError):
        await FanIn().pages("alpha", "x", keys, failing(KeyError("bug")), str)


# --- the same answers, whichever way they are read --------------------------------------

SHAPE_QUERY = """query(
  $first: Int, $after: String, $numbersFirst: Int, $numbersAfter: String,
  $codesFirst: Int, $codesAfter: String
) { messagingProfiles(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node {
    id
    phoneNumbers(first: $numbersFirst, after: $numbersAfter) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id phoneNumber messagingProfileId } }
    }
    wide: phoneNumbers(first: 25) { totalCount edges { node { id } } }
    shortCodes(first: $codesFirst, after: $codesAfter) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id shortCode messagingProfileId } }
    }
  } }
} }"""

FIRSTS = st.sampled_from([0, 1, 2, 5, 20, 21, 30])
OFFSETS = st.none() | st.integers(0, 40)
# A number's or short code's profile: an index into the account's profiles, or unassigned.
OWNERS = st.lists(st.none() | st.integers(0, 9), max_size=70)


@dataclass(frozen=True)
class Shape:
    extra_profiles: int
    numbers: list[int | None]
    short_codes: list[int | None]
    first: int
    after: int | None
    numbers_first: int
    numbers_after: int | None
    codes_first: int
    codes_after: int | None


SHAPES = st.builds(
    Shape,
    extra_profiles=st.integers(0, 5),
    numbers=OWNERS,
    short_codes=OWNERS,
    first=st.integers(1, 8),
    after=st.none() | st.integers(0, 8),
    numbers_first=FIRSTS,
    numbers_after=OFFSETS,
    codes_first=FIRSTS,
    codes_after=OFFSETS,
)


def cursor(kind: str, offset: int | None) -> str | None:
    return None if offset is None else encode_cursor(kind, offset)


def build(shape: Shape) -> Simulator:
    simulator = Simulator()
    account = simulator.account(ALPHA_KEY)
    account.add_profiles(shape.extra_profiles)
    ids = list(account.profiles)
    for owner in shape.numbers:
        account.new_phone_number(
            messaging_profile_id=None if owner is None else ids[owner % len(ids)]
        )
    for owner in shape.short_codes:
        account.new_short_code(
            messaging_profile_id=None if owner is None else ids[owner % len(ids)]
        )
    return simulator


def per_profile_calls(shape: Shape, profiles: int, kind: str) -> int:
    """How many nested pages the query asks for, all profiles together (the DataLoader's keys)."""
    if kind == "phone_numbers":
        windows = [
            window(
                PROFILE_PHONE_NUMBERS,
                shape.numbers_first,
                cursor(PROFILE_PHONE_NUMBERS, shape.numbers_after),
                max_first=100,
            ),
            window(PROFILE_PHONE_NUMBERS, 25, None, max_first=100),
        ]
    else:
        windows = [
            window(
                PROFILE_SHORT_CODES,
                shape.codes_first,
                cursor(PROFILE_SHORT_CODES, shape.codes_after),
                max_first=100,
            )
        ]
    return profiles * len({(number, w.size) for w in windows for number in w.pages})


@pytest.mark.slow
@hypothesis.settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@hypothesis.example(Shape(2, [0, 1, None, 3, 0, 0], [1, None, 4], 4, None, 2, None, 1, None)).via(
    "several profiles, small lists"
)
@hypothesis.example(Shape(0, [0] * 30 + [1] * 3 + [None] * 5, [2] * 25, 3, 0, 21, 19, 20, 3)).via(
    "windows across two pages"
)
@hypothesis.example(Shape(5, [], [], 8, None, 5, None, 5, None)).via("empty lists")
@hypothesis.example(
    Shape(1, [0, 1, 2, None, 3] * 64, [0, None] * 130, 3, None, 30, 60, 1, None)
).via("account lists of two pages")
@hypothesis.given(shape=SHAPES)
async def test_both_strategies_give_the_same_answers(tenants: TenantRegistry, shape: Shape) -> None:
    variables = {
        "first": shape.first,
        "after": cursor(PROFILES, shape.after),
        "numbersFirst": shape.numbers_first,
        "numbersAfter": cursor(PROFILE_PHONE_NUMBERS, shape.numbers_after),
        "codesFirst": shape.codes_first,
        "codesAfter": cursor(PROFILE_SHORT_CODES, shape.codes_after),
    }
    answers = []
    for fan_in in (False, True):
        simulator = build(shape)
        async with gateway(
            simulator, tenants, nested_fan_in=fan_in, max_query_cost=100_000
        ) as client:
            body = await gql(client, SHAPE_QUERY, variables)
        answers.append(body)
        assert "errors" not in body
    assert answers[0] == answers[1]

    # And the fan-in was taken exactly when it takes fewer calls; the account list's first
    # page is read with the page of profiles whenever that page may hold two or more.
    profiles = len(answers[1]["data"]["messagingProfiles"]["edges"])
    account = simulator.account(ALPHA_KEY)
    sent = upstream(simulator)
    for kind, total, whole in (
        ("phone_numbers", len(account.phone_numbers), NUMBERS_PAGE),
        ("short_codes", len(account.short_codes), SHORT_CODES_PAGE),
    ):
        calls = per_profile_calls(shape, profiles, kind)
        probed = shape.first >= 2 or calls >= 2
        taken = calls >= 2 and math.ceil(total / 250) < calls
        one_by_one = [request for request in sent if "filter[messaging_profile_id]" in request]
        one_by_one = [request for request in one_by_one if whole.split("?")[0] in request]
        hypothesis.event(f"{kind}: {'whole list' if taken else 'per profile'}")
        assert (whole.format(1) in sent) == probed
        assert len(one_by_one) == (0 if taken else calls)
        # Never more calls than one per profile's page, plus the one that probed.
        assert len([r for r in sent if r.startswith(whole.split("?")[0])]) <= calls + 1


# --- one order, whichever way the lists are read -------------------------------------------

PAGE_OF_LISTS = """query($numbersAfter: String, $codesAfter: String) {
  messagingProfiles(first: 3) { edges { node { id
    phoneNumbers(first: 2, after: $numbersAfter) {
      pageInfo { endCursor } edges { node { phoneNumber } } }
    shortCodes(first: 2, after: $codesAfter) {
      pageInfo { endCursor } edges { node { shortCode } } }
  } } } }"""
ONE_PROFILES_LISTS = """query($id: ID!, $numbersAfter: String, $codesAfter: String) {
  messagingProfile(id: $id) { id
    phoneNumbers(first: 2, after: $numbersAfter) {
      pageInfo { endCursor } edges { node { phoneNumber } } }
    shortCodes(first: 2, after: $codesAfter) {
      pageInfo { endCursor } edges { node { shortCode } } }
  } }"""


@pytest.fixture
def shuffled(alpha: Account) -> tuple[str, list[str], list[str]]:
    """The first profile with five numbers created in an order their numbers do not follow,
    and five short codes; its numbers in phone-number order and its codes in list order."""
    profile = next(iter(alpha.profiles))
    added = alpha.add_phone_numbers(4, messaging_profile_id=profile)
    for number, line in zip(added, (9, 3, 7, 1), strict=True):
        number["phone_number"] = f"+1773555000{line}"
    alpha.add_short_codes(4, messaging_profile_id=profile)
    numbers = sorted(
        n["phone_number"]
        for n in alpha.phone_numbers.values()
        if n["messaging_profile_id"] == profile
    )
    codes = [
        c["short_code"] for c in alpha.short_codes.values() if c["messaging_profile_id"] == profile
    ]
    return profile, numbers, codes


def lists_of(profile: dict[str, Any]) -> tuple[list[str], list[str], str, str]:
    numbers, codes = profile["phoneNumbers"], profile["shortCodes"]
    return (
        [edge["node"]["phoneNumber"] for edge in numbers["edges"]],
        [edge["node"]["shortCode"] for edge in codes["edges"]],
        numbers["pageInfo"]["endCursor"],
        codes["pageInfo"]["endCursor"],
    )


async def test_a_cursor_from_the_whole_list_continues_in_the_profiles_own(
    client: httpx.AsyncClient, simulator: Simulator, shuffled: tuple[str, list[str], list[str]]
) -> None:
    profile, numbers, codes = shuffled
    page = await gql(client, PAGE_OF_LISTS)
    first = page["data"]["messagingProfiles"]["edges"][0]["node"]
    assert NUMBERS_PAGE.format(1) in upstream(simulator)  # read whole, cut by profile
    got_numbers, got_codes, numbers_after, codes_after = lists_of(first)

    simulator.requests.clear()
    rest = await gql(
        client,
        ONE_PROFILES_LISTS,
        {"id": profile, "numbersAfter": numbers_after, "codesAfter": codes_after},
    )
    assert NUMBERS_PAGE.format(1) not in upstream(simulator)  # read for the profile alone
    more_numbers, more_codes, _, _ = lists_of(rest["data"]["messagingProfile"])

    assert (got_numbers, more_numbers) == (numbers[:2], numbers[2:4])
    assert (got_codes, more_codes) == (codes[:2], codes[2:4])


async def test_a_cursor_from_the_profiles_own_list_continues_in_the_whole_one(
    client: httpx.AsyncClient, simulator: Simulator, shuffled: tuple[str, list[str], list[str]]
) -> None:
    profile, numbers, codes = shuffled
    alone = await gql(client, ONE_PROFILES_LISTS, {"id": profile})
    got_numbers, got_codes, numbers_after, codes_after = lists_of(alone["data"]["messagingProfile"])

    page = await gql(
        client, PAGE_OF_LISTS, {"numbersAfter": numbers_after, "codesAfter": codes_after}
    )
    assert NUMBERS_PAGE.format(1) in upstream(simulator)
    first = page["data"]["messagingProfiles"]["edges"][0]["node"]
    more_numbers, more_codes, _, _ = lists_of(first)

    assert (got_numbers, more_numbers) == (numbers[:2], numbers[2:4])
    assert (got_codes, more_codes) == (codes[:2], codes[2:4])


async def test_a_page_with_its_nested_lists_takes_one_round_trip(
    client: httpx.AsyncClient, simulator: Simulator
) -> None:
    simulator.faults.latency = 0.05
    await gql(client, NESTED, {"first": 3})
    requests = list(simulator.requests)
    assert sorted(upstream(simulator)) == sorted(
        [profiles_page(), NUMBERS_PAGE.format(1), SHORT_CODES_PAGE.format(1)]
    )
    # All three were sent before any was answered.
    first_answer = min(request.time + request.duration for request in requests)
    assert all(request.time < first_answer for request in requests)


async def test_each_profiles_page_is_cut_with_the_meta_telnyx_would_send_for_it() -> None:
    keys = [("p0", 1, 20), ("p0", 2, 20), ("p1", 2, 20)]
    pages = await FanIn().pages("alpha", "phone_numbers", keys, account_list(42, []), str)
    assert pages is not None
    assert [(len(page["data"]), page.get("meta")) for page in pages] == [
        (20, {"page_number": 1, "page_size": 20, "total_pages": 2, "total_results": 21}),
        (1, {"page_number": 2, "page_size": 20, "total_pages": 2, "total_results": 21}),
        (1, {"page_number": 2, "page_size": 20, "total_pages": 2, "total_results": 21}),
    ]


class CountedTurns(Turns):
    """Turns that count the turns taken."""

    def __init__(self) -> None:
        super().__init__()
        self.taken = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        self.taken += 1
        async with super().turn():
            yield


async def test_grouping_the_whole_list_takes_a_turn_of_the_request() -> None:
    """Grouping a list of up to thousands of items is CPU the request does in its turns
    (`schema.limits.turns`), so other requests run between its slices."""
    turns = CountedTurns()
    keys = [("p0", 1, 20), ("p1", 1, 20)]
    pages = await FanIn().pages("alpha", "x", keys, account_list(40, []), str, turns=turns)
    assert pages is not None
    assert turns.taken == 1


async def test_a_lists_size_is_remembered_for_five_minutes_by_default() -> None:
    clock = Clock()
    fan_in = FanIn(clock=clock)
    keys = [("p0", 1, 20), ("p1", 1, 20)]
    reads: list[int] = []
    assert await fan_in.pages("alpha", "x", keys, account_list(600, reads), str) is None
    clock.now = 299.9
    assert not fan_in.worth_reading("alpha", "x", 2)
    clock.now = 300.0
    assert fan_in.worth_reading("alpha", "x", 2)
    assert reads == [1]


async def test_the_sizes_remembered_are_bounded_the_oldest_forgotten_first() -> None:
    fan_in = FanIn(clock=Clock())
    keys = [("p0", 1, 20), ("p1", 1, 20)]
    large = account_list(600, [])
    for n in range(10_001):
        await fan_in.pages(f"tenant-{n}", "x", keys, large, str)
    assert fan_in.worth_reading("tenant-0", "x", 2)  # forgotten: the 10,001st pushed it out
    assert not fan_in.worth_reading("tenant-1", "x", 2)
    assert not fan_in.worth_reading("tenant-10000", "x", 2)
