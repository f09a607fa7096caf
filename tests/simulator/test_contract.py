"""Every operation, success and failure, against the response schemas of the spec extract.

The `client` fixture already checks every response of every test; here each operation is
exercised on purpose, through explicit `spec.validate` calls, so the contract is covered
even if other tests change. These tests skip when the spec is absent (fail in CI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema  # no stubs in the lock files
import pytest

from gateway.simulator import Simulator
from tests import spec as spec_module
from tests.simulator.conftest import BASE_URL, KEY
from tests.spec import Spec

pytestmark = pytest.mark.anyio

GHOST = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
async def raw(sim: Simulator) -> Any:
    """A client that does not check responses itself: the tests here do it explicitly."""
    transport = httpx.ASGITransport(app=sim.app)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
        yield client


async def _call(
    spec: Spec, client: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: Any
) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    spec.validate(method, f"/v2{path}", status, response.json())
    return response.json()


async def test_every_operation_conforms(spec: Spec, raw: httpx.AsyncClient) -> None:
    new = {
        "name": "Contract",
        "whitelisted_destinations": ["US"],
        "url_shortener_settings": {"domain": "acct.fyi"},
    }
    profiles = await _call(spec, raw, "GET", "/messaging_profiles", 200, params={"page[size]": 2})
    profile = (await _call(spec, raw, "POST", "/messaging_profiles", 200, json=new))["data"]
    pid = profile["id"]
    await _call(spec, raw, "GET", f"/messaging_profiles/{pid}", 200)
    await _call(
        spec, raw, "PATCH", f"/messaging_profiles/{pid}", 200, json={"alpha_sender": "Contract"}
    )
    await _call(spec, raw, "GET", f"/messaging_profiles/{pid}/metrics", 200)
    await _call(spec, raw, "GET", "/messaging_profile_metrics", 200)
    await _call(spec, raw, "POST", f"/messaging_profiles/{pid}/actions/regenerate_secret", 200)
    await _call(spec, raw, "GET", f"/messaging_profiles/{pid}/alphanumeric_sender_ids", 200)
    seeded = profiles["data"][0]["id"]
    await _call(spec, raw, "GET", f"/messaging_profiles/{seeded}/phone_numbers", 200)
    await _call(spec, raw, "GET", f"/messaging_profiles/{seeded}/short_codes", 200)
    codes = await _call(
        spec, raw, "GET", "/short_codes", 200, params={"filter[messaging_profile_id]": "null"}
    )
    code = codes["data"][0]["id"]
    await _call(spec, raw, "GET", f"/short_codes/{code}", 200)
    await _call(spec, raw, "PATCH", f"/short_codes/{code}", 200, json={"messaging_profile_id": pid})
    numbers = await _call(
        spec, raw, "GET", "/phone_numbers/messaging", 200, params={"filter[type]": "tollfree"}
    )
    number = numbers["data"][0]["id"]
    await _call(spec, raw, "GET", f"/phone_numbers/{number}/messaging", 200)
    await _call(
        spec,
        raw,
        "PATCH",
        f"/phone_numbers/{number}/messaging",
        200,
        json={"messaging_profile_id": pid},
    )
    await _call(spec, raw, "DELETE", f"/messaging_profiles/{pid}", 200)


async def test_every_error_conforms(spec: Spec, raw: httpx.AsyncClient, sim: Simulator) -> None:
    pid = next(iter(sim.account(KEY).profiles))
    code = next(iter(sim.account(KEY).short_codes))
    number = next(iter(sim.account(KEY).phone_numbers))
    for method, path in (
        ("GET", f"/messaging_profiles/{GHOST}"),
        ("PATCH", f"/messaging_profiles/{GHOST}"),
        ("DELETE", f"/messaging_profiles/{GHOST}"),
        ("GET", f"/messaging_profiles/{GHOST}/phone_numbers"),
        ("GET", f"/messaging_profiles/{GHOST}/short_codes"),
        ("GET", f"/messaging_profiles/{GHOST}/metrics"),
        ("POST", f"/messaging_profiles/{GHOST}/actions/regenerate_secret"),
        ("GET", f"/messaging_profiles/{GHOST}/alphanumeric_sender_ids"),
        ("GET", f"/short_codes/{GHOST}"),
        ("PATCH", f"/short_codes/{GHOST}"),
        ("GET", "/phone_numbers/0/messaging"),
        ("PATCH", "/phone_numbers/0/messaging"),
    ):
        await _call(spec, raw, method, path, 404, json={})
    for path in ("/messaging_profiles", "/short_codes", "/phone_numbers/messaging"):
        await _call(spec, raw, "GET", path, 422, params={"page[size]": 0})
        await _call(spec, raw, "GET", path, 401, headers={"Authorization": "Bearer nope"})
    await _call(spec, raw, "GET", "/messaging_profile_metrics", 401, headers={"Authorization": ""})
    await _call(spec, raw, "GET", "/messaging_profile_metrics", 400, params={"time_frame": "1y"})
    await _call(spec, raw, "POST", "/messaging_profiles", 400, json={"name": "x"})
    await _call(spec, raw, "POST", "/messaging_profiles", 400, content=b"[")
    await _call(
        spec,
        raw,
        "POST",
        "/messaging_profiles",
        422,
        json={"name": 1, "whitelisted_destinations": ["x"]},
    )
    await _call(spec, raw, "PATCH", f"/messaging_profiles/{pid}", 422, json={"enabled": "no"})
    await _call(spec, raw, "PATCH", f"/short_codes/{code}", 422, json={})
    await _call(
        spec,
        raw,
        "PATCH",
        f"/phone_numbers/{number}/messaging",
        422,
        json={"messaging_profile_id": GHOST},
    )
    sim.faults.rate_limit()
    await _call(spec, raw, "GET", "/short_codes", 429)


def _properties(spec: Spec, name: str) -> set[str]:
    return set(spec.component(name)["properties"])


async def test_resources_carry_every_field_the_spec_lists(
    spec: Spec, raw: httpx.AsyncClient
) -> None:
    # The spec marks few fields required; the simulator still sends all of them, as Telnyx does.
    profile = (await raw.get("/messaging_profiles")).json()["data"][0]
    short_code = (await raw.get("/short_codes")).json()["data"][0]
    number = (await raw.get("/phone_numbers/messaging")).json()
    metrics_meta = (await raw.get("/messaging_profile_metrics")).json()["meta"]

    assert set(profile) == _properties(spec, "MessagingProfile")
    assert set(short_code) == _properties(spec, "ShortCode")
    assert set(number["data"][0]) == _properties(spec, "PhoneNumberWithMessagingSettings")
    assert set(profile["number_pool_settings"]) == _properties(spec, "NumberPoolSettings")
    assert set(number["data"][0]["health"]) == _properties(spec, "NumberHealthMetrics")
    assert set(number["meta"]) == set(spec.component("messaging_PaginationMeta")["required"])
    assert set(metrics_meta) == set(spec.component("messaging_PaginationMeta")["required"])
    marketing = (await raw.get("/messaging_profiles", params={"filter[name]": "Marketing"})).json()[
        "data"
    ][0]
    assert set(marketing["url_shortener_settings"]) == _properties(spec, "UrlShortenerSettings")


async def test_star_destinations_break_the_response_schema(
    spec: Spec, raw: httpx.AsyncClient
) -> None:
    # The spec documents ["*"] as "all destinations" but its item pattern is ^[A-Z]{2}$;
    # the simulator follows the documented meaning, so this one response breaks the schema.
    body = {"name": "Everywhere", "whitelisted_destinations": ["*"]}
    response = await raw.post("/messaging_profiles", json=body)

    with pytest.raises(jsonschema.ValidationError) as raised:
        spec.validate("POST", "/v2/messaging_profiles", 200, response.json())

    assert list(raised.value.absolute_path) == ["data", "whitelisted_destinations", 0]
    assert raised.value.validator == "pattern"


def test_validator_rejects_what_the_spec_forbids(spec: Spec) -> None:
    with pytest.raises(jsonschema.ValidationError, match="'total_pages' is a required property"):
        spec.validate(
            "GET",
            "/v2/short_codes",
            200,
            {"data": [], "meta": {"page_number": 1, "page_size": 20, "total_results": 0}},
        )
    with pytest.raises(jsonschema.ValidationError, match="is not a 'date-time'"):
        spec.validate(
            "GET",
            f"/v2/short_codes/{GHOST}",
            200,
            {"data": {"messaging_profile_id": None, "created_at": "2024-02-30T00:00:00Z"}},
        )
    with pytest.raises(jsonschema.ValidationError, match="is not a 'uuid'"):
        spec.validate(
            "GET",
            f"/v2/short_codes/{GHOST}",
            200,
            {"data": {"messaging_profile_id": None, "id": "12"}},
        )
    with pytest.raises(jsonschema.ValidationError, match="10005 is not of type 'string'"):
        spec.validate(
            "GET", f"/v2/short_codes/{GHOST}", 404, {"errors": [{"code": 10005, "title": "x"}]}
        )
    with pytest.raises(LookupError, match="declares no 500"):
        spec.validate("GET", "/v2/short_codes", 500, {})
    with pytest.raises(LookupError, match="no operation PUT"):
        spec.validate("PUT", "/v2/short_codes", 200, {})


def test_missing_spec_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(spec_module, "SPEC_PATH", tmp_path / "absent.yaml")
    monkeypatch.delenv("GATEWAY_REQUIRE_SPEC", raising=False)

    with pytest.raises(pytest.skip.Exception, match="Telnyx spec extract not found"):
        spec_module.load_spec()
    assert spec_module.optional_spec() is None


def test_missing_spec_fails_when_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(spec_module, "SPEC_PATH", tmp_path / "absent.yaml")
    monkeypatch.setenv("GATEWAY_REQUIRE_SPEC", "1")

    with pytest.raises(pytest.fail.Exception, match="GATEWAY_REQUIRE_SPEC=1"):
        spec_module.load_spec()
    with pytest.raises(pytest.fail.Exception):
        spec_module.optional_spec()
