"""Pagination and filters of every list operation."""

from __future__ import annotations

import httpx
import pytest

from gateway.simulator import (
    SEED_LONG_CODES,
    SEED_PHONE_NUMBERS,
    SEED_PHONE_NUMBERS_PER_PROFILE,
    SEED_PROFILE_NAMES,
    SEED_PROFILES,
    SEED_SHORT_CODES,
    SEED_SHORT_CODES_PER_PROFILE,
    SEED_TOLL_FREE,
    SEED_UNASSIGNED_PHONE_NUMBERS,
    SEED_UNASSIGNED_SHORT_CODES,
    Simulator,
)
from tests.simulator.conftest import KEY, errors

# Marked here as well as by tests/conftest.py: a marker added after collection loses the
# parametrize arguments of an async test.
pytestmark = pytest.mark.anyio

LISTS = [
    "/messaging_profiles",
    "/short_codes",
    "/phone_numbers/messaging",
    "/messaging_profile_metrics",
]


async def _profile_id(client: httpx.AsyncClient, name: str) -> str:
    response = await client.get("/messaging_profiles", params={"filter[name]": name})
    profile_id: str = response.json()["data"][0]["id"]
    return profile_id


async def test_defaults_are_page_1_of_20(client: httpx.AsyncClient) -> None:
    body = (await client.get("/phone_numbers/messaging")).json()

    assert body["meta"] == {
        "page_number": 1,
        "page_size": 20,
        "total_pages": 1,
        "total_results": SEED_PHONE_NUMBERS,
    }
    assert len(body["data"]) == SEED_PHONE_NUMBERS


async def test_pages_split_the_list_in_creation_order(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.account(KEY).add_profiles(60)
    total = SEED_PROFILES + 60

    pages = [
        (
            await client.get("/messaging_profiles", params={"page[number]": n, "page[size]": 25})
        ).json()
        for n in (1, 2, 3, 4)
    ]

    assert [page["meta"] for page in pages] == [
        {"page_number": n, "page_size": 25, "total_pages": 3, "total_results": total}
        for n in (1, 2, 3, 4)
    ]
    assert [len(page["data"]) for page in pages] == [25, 25, total - 50, 0]
    names = [profile["name"] for page in pages for profile in page["data"]]
    assert names == [*SEED_PROFILE_NAMES, *(f"Bulk profile {i}" for i in range(4, 64))]


async def test_largest_page_is_250(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.account(KEY).add_short_codes(300)

    body = (await client.get("/short_codes", params={"page[size]": 250, "page[number]": 2})).json()

    assert body["meta"] == {
        "page_number": 2,
        "page_size": 250,
        "total_pages": 2,
        "total_results": SEED_SHORT_CODES + 300,
    }
    assert len(body["data"]) == SEED_SHORT_CODES + 50


async def test_an_empty_list_has_zero_pages(client: httpx.AsyncClient) -> None:
    body = (await client.get("/messaging_profiles", params={"filter[name]": "nobody"})).json()

    assert body == {
        "data": [],
        "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0},
    }


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"page[number]": "0"}, [("page/number", "page[number]")]),
        ({"page[number]": "-1"}, [("page/number", "page[number]")]),
        ({"page[number]": "two"}, [("page/number", "page[number]")]),
        ({"page[size]": "0"}, [("page/size", "page[size]")]),
        ({"page[size]": "251"}, [("page/size", "page[size]")]),
        ({"page[size]": "2.5"}, [("page/size", "page[size]")]),
        (
            {"page[number]": "", "page[size]": "1000"},
            [("page/number", "page[number]"), ("page/size", "page[size]")],
        ),
    ],
)
async def test_invalid_pagination_is_a_422(
    client: httpx.AsyncClient, path: str, query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    response = await client.get(path, params=query)

    assert response.status_code == 422
    assert [(e["code"], e["title"]) for e in errors(response)] == [
        ("10015", "Invalid pagination")
    ] * len(expected)
    assert [
        (e["source"]["pointer"], e["source"]["parameter"]) for e in errors(response)
    ] == expected


async def test_invalid_page_size_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/short_codes", params={"page[size]": "251"})

    assert errors(response)[0]["detail"] == "page[size] must be an integer between 1 and 250."


# --- profile filters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"filter[name]": "Support"}, ["Support"]),
        ({"filter[name]": "support"}, []),
        ({"filter[name][eq]": "Marketing"}, ["Marketing"]),
        ({"filter[name][eq]": "Market"}, []),
        ({"filter[name][contains]": "ER"}, ["Alerts"]),
        ({"filter[name][contains]": "t"}, list(SEED_PROFILE_NAMES)),
        ({"filter[name][contains]": "t", "filter[name][eq]": "Support"}, ["Support"]),
    ],
)
async def test_profile_name_filters(
    client: httpx.AsyncClient, query: dict[str, str], names: list[str]
) -> None:
    body = (await client.get("/messaging_profiles", params=query)).json()

    assert [profile["name"] for profile in body["data"]] == names
    assert body["meta"]["total_results"] == len(names)


# --- short codes -----------------------------------------------------------------------


async def test_short_codes_by_profile(client: httpx.AsyncClient) -> None:
    support = await _profile_id(client, "Support")

    assigned = (
        await client.get("/short_codes", params={"filter[messaging_profile_id]": support})
    ).json()
    unassigned = (
        await client.get("/short_codes", params={"filter[messaging_profile_id]": "null"})
    ).json()
    nested = (await client.get(f"/messaging_profiles/{support}/short_codes")).json()

    assert [code["messaging_profile_id"] for code in assigned["data"]] == [
        support
    ] * SEED_SHORT_CODES_PER_PROFILE
    assert nested == assigned
    assert [code["messaging_profile_id"] for code in unassigned["data"]] == [
        None
    ] * SEED_UNASSIGNED_SHORT_CODES


async def test_unknown_profile_lists_are_404_but_filters_are_empty(
    client: httpx.AsyncClient,
) -> None:
    ghost = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

    for path in ("phone_numbers", "short_codes", "metrics", "alphanumeric_sender_ids"):
        assert (await client.get(f"/messaging_profiles/{ghost}/{path}")).status_code == 404
    filtered = await client.get("/short_codes", params={"filter[messaging_profile_id]": ghost})
    assert filtered.json()["meta"]["total_results"] == 0


# --- phone numbers ---------------------------------------------------------------------


async def test_phone_numbers_by_profile(client: httpx.AsyncClient) -> None:
    alerts = await _profile_id(client, "Alerts")

    body = (
        await client.get(
            "/phone_numbers/messaging", params={"filter[messaging_profile_id]": alerts}
        )
    ).json()
    nested = (await client.get(f"/messaging_profiles/{alerts}/phone_numbers")).json()
    unassigned = (
        await client.get(
            "/phone_numbers/messaging", params={"filter[messaging_profile_id]": "null"}
        )
    ).json()

    assert [n["messaging_profile_id"] for n in body["data"]] == [
        alerts
    ] * SEED_PHONE_NUMBERS_PER_PROFILE
    assert nested == body
    assert unassigned["meta"]["total_results"] == SEED_UNASSIGNED_PHONE_NUMBERS


async def test_phone_number_filters(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/phone_numbers/messaging")).json()["data"]
    first, second = everything[0]["phone_number"], everything[4]["phone_number"]

    exact = await client.get(
        "/phone_numbers/messaging", params={"filter[phone_number]": f"{first},{second}"}
    )
    # A "+" sent unencoded arrives as a space; the number still matches.
    raw_plus = await client.get(f"/phone_numbers/messaging?filter[phone_number]={first}")
    contains = await client.get(
        "/phone_numbers/messaging", params={"filter[phone_number][contains]": "1800"}
    )
    tollfree = await client.get("/phone_numbers/messaging", params={"filter[type]": "tollfree"})
    longcode = await client.get("/phone_numbers/messaging", params={"filter[type]": "longcode"})
    shortcode = await client.get("/phone_numbers/messaging", params={"filter[type]": "shortcode"})

    assert [n["phone_number"] for n in exact.json()["data"]] == [first, second]
    assert [n["phone_number"] for n in raw_plus.json()["data"]] == [first]
    assert {n["type"] for n in contains.json()["data"]} == {"tollfree"}
    assert contains.json()["meta"]["total_results"] == SEED_TOLL_FREE
    assert tollfree.json()["meta"]["total_results"] == SEED_TOLL_FREE
    assert longcode.json()["meta"]["total_results"] == SEED_LONG_CODES
    assert shortcode.json()["meta"]["total_results"] == 0


async def test_phone_number_type_filter_accepts_hyphenated_stored_types(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    number = sim.account(KEY).add_phone_numbers(1, number_type="toll-free")[0]

    body = (
        await client.get("/phone_numbers/messaging", params={"filter[type]": "tollfree"})
    ).json()

    assert body["data"][-1] == number
    assert body["meta"]["total_results"] == SEED_TOLL_FREE + 1


async def test_phone_numbers_sort(client: httpx.AsyncClient) -> None:
    ascending = (
        await client.get("/phone_numbers/messaging", params={"sort[phone_number]": "asc"})
    ).json()
    descending = (
        await client.get("/phone_numbers/messaging", params={"sort[phone_number]": "desc"})
    ).json()

    numbers = [n["phone_number"] for n in ascending["data"]]
    assert numbers == sorted(numbers)
    assert numbers[0].startswith("+1312")
    assert [n["phone_number"] for n in descending["data"]] == numbers[::-1]


@pytest.mark.parametrize(
    ("name", "value"), [("filter[type]", "mobile"), ("sort[phone_number]", "up")]
)
async def test_invalid_enumerations_name_the_parameter(
    client: httpx.AsyncClient, name: str, value: str
) -> None:
    response = await client.get("/phone_numbers/messaging", params={name: value})

    assert response.status_code == 422
    assert [(e["code"], e["title"], e["source"]) for e in errors(response)] == [
        ("10032", "Invalid enumerated value", {"parameter": name})
    ]
