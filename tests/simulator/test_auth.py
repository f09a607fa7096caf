"""Authentication, account isolation, unknown ids and paths."""

from __future__ import annotations

import httpx
import pytest

from gateway.simulator import SEED_PROFILES, Simulator
from tests.simulator.conftest import KEY, OTHER_KEY, conforming_client, errors

pytestmark = pytest.mark.anyio

UNAUTHORIZED = {
    "errors": [
        {
            "code": "10009",
            "title": "Authentication failed",
            "detail": "The required authentication headers were either invalid or not included in the request.",
            "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10009"},
        }
    ]
}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer key-lowercase"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        {"Authorization": "Bearer "},
    ],
)
async def test_anything_but_a_bearer_key_is_401(sim: Simulator, headers: dict[str, str]) -> None:
    async with conforming_client(sim, api_key=None) as client:
        for method, path in (
            ("GET", "/messaging_profiles"),
            ("POST", "/messaging_profiles"),
            ("GET", "/nope"),
        ):
            response = await client.request(method, path, headers=headers, json={})

            assert response.status_code == 401
            assert response.json() == UNAUTHORIZED


async def test_bearer_scheme_is_case_insensitive(sim: Simulator) -> None:
    async with conforming_client(sim, api_key=None) as client:
        response = await client.get(
            "/messaging_profiles", headers={"Authorization": f"bearer {KEY}"}
        )

    assert response.status_code == 200


async def test_accounts_never_see_each_other(sim: Simulator) -> None:
    async with conforming_client(sim, KEY) as mine, conforming_client(sim, OTHER_KEY) as theirs:
        created = (
            await mine.post(
                "/messaging_profiles", json={"name": "Mine", "whitelisted_destinations": ["US"]}
            )
        ).json()["data"]
        my_profiles = (await mine.get("/messaging_profiles")).json()
        their_profiles = (await theirs.get("/messaging_profiles")).json()
        my_codes = (await mine.get("/short_codes")).json()["data"]

        assert my_profiles["meta"]["total_results"] == SEED_PROFILES + 1
        assert their_profiles["meta"]["total_results"] == SEED_PROFILES
        assert {p["id"] for p in my_profiles["data"]}.isdisjoint(
            p["id"] for p in their_profiles["data"]
        )
        assert {p["organization_id"] for p in my_profiles["data"]} != {
            p["organization_id"] for p in their_profiles["data"]
        }
        for method, path in (
            ("GET", f"/messaging_profiles/{created['id']}"),
            ("DELETE", f"/messaging_profiles/{created['id']}"),
            ("GET", f"/short_codes/{my_codes[0]['id']}"),
        ):
            assert (await theirs.request(method, path)).status_code == 404
        stolen = await theirs.patch(
            f"/short_codes/{(await theirs.get('/short_codes')).json()['data'][0]['id']}",
            json={"messaging_profile_id": created["id"]},
        )
        assert errors(stolen)[0]["code"] == "10017"
        assert (await mine.get(f"/messaging_profiles/{created['id']}")).status_code == 200


async def test_seed_is_deterministic_per_key() -> None:
    first, second = Simulator(), Simulator()

    assert first.account(KEY).profiles == second.account(KEY).profiles
    assert first.account(KEY).phone_numbers == second.account(KEY).phone_numbers
    assert first.account(KEY).profiles.keys() != first.account(OTHER_KEY).profiles.keys()


def test_account_refuses_keys_the_api_would_refuse() -> None:
    with pytest.raises(ValueError, match="start with KEY"):
        Simulator().account("secret")


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/messaging_profiles/x/y/z")
    wrong_method = await client.put("/messaging_profiles")

    assert unknown.status_code == 404
    assert errors(unknown)[0]["code"] == "10005"
    assert wrong_method.status_code == 405
    assert errors(wrong_method)[0]["code"] == "10015"
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
