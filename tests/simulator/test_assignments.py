"""Short codes and phone numbers: retrieve, assign to a profile, unassign."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulator.conftest import errors

# Marked here as well as by tests/conftest.py: a marker added after collection loses the
# parametrize arguments of an async test.
pytestmark = pytest.mark.anyio

GHOST = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


async def _profiles(client: httpx.AsyncClient) -> list[str]:
    return [p["id"] for p in (await client.get("/messaging_profiles")).json()["data"]]


async def _unassigned(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    params = {"filter[messaging_profile_id]": "null"}
    item: dict[str, Any] = (await client.get(path, params=params)).json()["data"][0]
    return item


# --- short codes -----------------------------------------------------------------------


async def test_short_code_bind_and_unbind(client: httpx.AsyncClient) -> None:
    profile_id = (await _profiles(client))[1]
    code = await _unassigned(client, "/short_codes")
    path = f"/short_codes/{code['id']}"

    bound = await client.patch(path, json={"messaging_profile_id": profile_id, "tags": ["vip"]})
    assert bound.status_code == 200
    assert (bound.json()["data"]["messaging_profile_id"], bound.json()["data"]["tags"]) == (
        profile_id,
        ["vip"],
    )
    assert bound.json()["data"]["updated_at"] > code["updated_at"]
    assert (await client.get(path)).json() == bound.json()
    listed = (await client.get(f"/messaging_profiles/{profile_id}/short_codes")).json()["data"]
    assert code["id"] in [item["id"] for item in listed]

    for unbind in (None, ""):
        await client.patch(path, json={"messaging_profile_id": profile_id})
        unbound = await client.patch(path, json={"messaging_profile_id": unbind})
        assert unbound.json()["data"]["messaging_profile_id"] is None
        assert unbound.json()["data"]["tags"] == ["vip"]


@pytest.mark.parametrize(
    ("body", "status", "code", "pointer"),
    [
        ({}, 422, "10004", "/messaging_profile_id"),
        ({"tags": ["a"]}, 422, "10004", "/messaging_profile_id"),
        ({"messaging_profile_id": 5}, 422, "10026", "/messaging_profile_id"),
        ({"messaging_profile_id": GHOST}, 422, "10017", "/messaging_profile_id"),
        ({"messaging_profile_id": "not-a-uuid"}, 422, "10017", "/messaging_profile_id"),
        ({"messaging_profile_id": None, "tags": "vip"}, 422, "10026", "/tags"),
        ({"messaging_profile_id": None, "tags": ["ok", 1]}, 422, "10026", "/tags/1"),
    ],
)
async def test_short_code_update_errors(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, code: str, pointer: str
) -> None:
    short_code = (await client.get("/short_codes")).json()["data"][0]

    response = await client.patch(f"/short_codes/{short_code['id']}", json=body)

    assert response.status_code == status
    assert [(e["code"], e["source"]["pointer"]) for e in errors(response)] == [(code, pointer)]
    assert (await client.get(f"/short_codes/{short_code['id']}")).json()["data"] == short_code


async def test_unknown_profile_reference_message(client: httpx.AsyncClient) -> None:
    short_code = (await client.get("/short_codes")).json()["data"][0]

    response = await client.patch(
        f"/short_codes/{short_code['id']}", json={"messaging_profile_id": GHOST}
    )

    assert errors(response) == [
        {
            "code": "10017",
            "title": "Associated resource does not exist",
            "detail": f"No messaging profile with id '{GHOST}' exists.",
            "source": {"pointer": "/messaging_profile_id"},
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10017"},
        }
    ]


async def test_unknown_short_code_is_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get(f"/short_codes/{GHOST}"),
        await client.patch(f"/short_codes/{GHOST}", json={"messaging_profile_id": None}),
    ):
        assert response.status_code == 404
        assert [(e["code"], e["title"]) for e in errors(response)] == [
            ("10005", "Resource not found")
        ]


# --- phone numbers ---------------------------------------------------------------------


async def test_phone_number_assign_keep_and_unassign(client: httpx.AsyncClient) -> None:
    profile_id = (await _profiles(client))[2]
    number = await _unassigned(client, "/phone_numbers/messaging")
    path = f"/phone_numbers/{number['id']}/messaging"

    assigned = (await client.patch(path, json={"messaging_profile_id": profile_id})).json()["data"]
    assert assigned == {
        **number,
        "messaging_profile_id": profile_id,
        "updated_at": assigned["updated_at"],
    }
    assert assigned["updated_at"] > number["updated_at"]

    kept = (await client.patch(path, json={"messaging_product": "A2P", "tags": ["east"]})).json()[
        "data"
    ]
    assert (kept["messaging_profile_id"], kept["messaging_product"], kept["tags"]) == (
        profile_id,
        "A2P",
        ["east"],
    )
    nulls = (
        await client.patch(path, json={"messaging_profile_id": None, "messaging_product": None})
    ).json()
    assert (nulls["data"]["messaging_profile_id"], nulls["data"]["messaging_product"]) == (
        profile_id,
        "A2P",
    )

    unassigned = (await client.patch(path, json={"messaging_profile_id": ""})).json()["data"]
    assert unassigned["messaging_profile_id"] is None
    assert (await client.get(path)).json()["data"] == unassigned


async def test_phone_number_by_e164_in_the_path(client: httpx.AsyncClient) -> None:
    number = (await client.get("/phone_numbers/messaging")).json()["data"][0]

    by_e164 = await client.get(f"/phone_numbers/{number['phone_number']}/messaging")
    without_plus = await client.get(f"/phone_numbers/{number['phone_number'][1:]}/messaging")

    assert by_e164.json() == {"data": number}
    assert without_plus.json() == {"data": number}


@pytest.mark.parametrize(
    ("body", "code", "pointer"),
    [
        ({"messaging_profile_id": GHOST}, "10017", "/messaging_profile_id"),
        ({"messaging_profile_id": 1}, "10026", "/messaging_profile_id"),
        ({"messaging_product": ""}, "10015", "/messaging_product"),
        ({"messaging_product": True}, "10026", "/messaging_product"),
        ({"tags": [None]}, "10026", "/tags/0"),
        ({"tags": None}, "10026", "/tags"),
    ],
)
async def test_phone_number_update_errors(
    client: httpx.AsyncClient, body: dict[str, Any], code: str, pointer: str
) -> None:
    number = (await client.get("/phone_numbers/messaging")).json()["data"][0]
    path = f"/phone_numbers/{number['id']}/messaging"

    response = await client.patch(path, json=body)

    assert response.status_code == 422
    assert [(e["code"], e["source"]["pointer"]) for e in errors(response)] == [(code, pointer)]
    assert (await client.get(path)).json()["data"] == number


async def test_unknown_phone_number_is_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/phone_numbers/+19995550000/messaging"),
        await client.patch("/phone_numbers/123/messaging", json={}),
    ):
        assert response.status_code == 404
        assert errors(response)[0]["code"] == "10005"
