"""Fault injection, the request log, and the control API under /_simulator."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.simulator import RATE_LIMITED_BODY, ConnectionDropped, Simulator
from tests.server import serve
from tests.simulator.conftest import KEY, errors

pytestmark = pytest.mark.anyio


async def test_scripted_statuses_come_in_order_then_normal_service(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.faults.fail(503, times=2)
    sim.faults.rate_limit(retry_after=1.5)

    statuses = [(await client.get("/short_codes")).status_code for _ in range(4)]

    assert statuses == [503, 503, 429, 200]


async def test_default_bodies_and_headers(client: httpx.AsyncClient, sim: Simulator) -> None:
    sim.faults.fail(503)
    sim.faults.rate_limit(retry_after=2)
    sim.faults.rate_limit()
    sim.faults.fail(
        502,
        headers={"x-should-retry": "false"},
        body={"errors": [{"code": "1", "title": "custom"}]},
    )

    unavailable = await client.get("/short_codes")
    limited = await client.get("/short_codes")
    limited_without_hint = await client.get("/short_codes")
    custom = await client.get("/short_codes")

    assert [(e["code"], e["title"]) for e in errors(unavailable)] == [("10007", "Unexpected error")]
    assert limited.json() == RATE_LIMITED_BODY
    assert limited.headers["retry-after"] == "2"
    assert "retry-after" not in limited_without_hint.headers
    assert custom.json() == {"errors": [{"code": "1", "title": "custom"}]}
    assert custom.headers["x-should-retry"] == "false"


async def test_faults_can_be_scoped_by_method_and_path(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.faults.fail(500, method="PATCH", path="/v2/short_codes")

    listed = await client.get("/short_codes")
    profile = (await client.get("/messaging_profiles")).json()["data"][0]
    other_patch = await client.patch(f"/messaging_profiles/{profile['id']}", json={})
    code = listed.json()["data"][0]
    failed = await client.patch(f"/short_codes/{code['id']}", json={"messaging_profile_id": None})
    retried = await client.patch(f"/short_codes/{code['id']}", json={"messaging_profile_id": None})

    assert [r.status_code for r in (listed, other_patch, failed, retried)] == [200, 200, 500, 200]
    assert sim.faults.pending() == []


async def test_faults_come_before_authentication(sim: Simulator) -> None:
    sim.faults.fail(503)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://telnyx.test/v2"
    ) as anonymous:
        assert (await anonymous.get("/short_codes")).status_code == 503
        assert (await anonymous.get("/short_codes")).status_code == 401


async def test_dropped_connection_in_process_raises_what_a_socket_would(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    sim.faults.drop(times=1)

    with pytest.raises(
        httpx.RemoteProtocolError, match="Server disconnected without sending a response"
    ) as raised:
        await client.get("/short_codes")

    assert isinstance(raised.value, ConnectionDropped)
    assert (await client.get("/short_codes")).status_code == 200
    assert [record.status for record in sim.requests] == [None, 200]


async def test_latency_and_slow_responses() -> None:
    sim = Simulator(latency=0.05)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://telnyx.test/v2",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as slow_client:
        sim.faults.slow(0.1, path="/v2/short_codes")
        started = time.perf_counter()
        await slow_client.get("/short_codes")
        first = time.perf_counter() - started
        started = time.perf_counter()
        await slow_client.get("/short_codes")
        second = time.perf_counter() - started

    assert 0.15 <= first < 0.5
    assert 0.05 <= second < 0.15
    durations = [record.duration for record in sim.requests]
    assert 0.15 <= durations[0] < first
    assert 0.05 <= durations[1] < second
    sim.faults.latency = 0
    sim.reset()
    assert sim.faults.latency == 0.05


def test_times_must_be_positive() -> None:
    with pytest.raises(ValueError, match="times must be at least 1"):
        Simulator().faults.fail(500, times=0)


async def test_request_log(client: httpx.AsyncClient, sim: Simulator) -> None:
    before = time.time()
    await client.get("/messaging_profiles", params={"page[size]": 2})
    await client.post(
        "/messaging_profiles", json={"name": "x"}, headers={"Authorization": "Bearer KEYother"}
    )
    await client.get("/short_codes", headers={"Authorization": "Bearer wrong"})
    await client.get("http://telnyx.test/_simulator/requests")  # the control API is not logged

    records = list(sim.requests)

    assert [(r.method, r.path, r.query, r.api_key, r.status) for r in records] == [
        ("GET", "/v2/messaging_profiles", "page%5Bsize%5D=2", KEY, 200),
        ("POST", "/v2/messaging_profiles", "", "KEYother", 400),
        ("GET", "/v2/short_codes", "", "wrong", 401),
    ]
    assert all(before <= r.time <= time.time() and r.duration >= 0 for r in records)


async def test_reset_forgets_accounts_faults_and_log(
    client: httpx.AsyncClient, sim: Simulator
) -> None:
    await client.post("/messaging_profiles", json={"name": "x", "whitelisted_destinations": ["US"]})
    sim.faults.fail(500)

    sim.reset()

    assert (sim.faults.pending(), list(sim.requests)) == ([], [])
    assert (await client.get("/messaging_profiles")).json()["meta"]["total_results"] == 3


# --- control API -----------------------------------------------------------------------


async def test_control_api(sim: Simulator) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://telnyx.test") as http:
        api = {"Authorization": f"Bearer {KEY}"}
        added = await http.post(
            "/_simulator/faults",
            json={
                "status": 429,
                "times": 2,
                "headers": {"Retry-After": "1"},
                "path": "/v2/short_codes",
            },
        )
        await http.post(
            "/_simulator/faults",
            json={"drop": True, "method": "get", "path": "/v2/messaging_profiles"},
        )
        await http.post("/_simulator/faults", json={"delay": 0.01})
        latency = await http.put("/_simulator/latency", json={"seconds": 0.001})
        pending = (await http.get("/_simulator/faults")).json()["data"]

        assert added.json()["data"] == {
            "kind": "status",
            "times": 2,
            "status": 429,
            "headers": {"Retry-After": "1"},
            "body": None,
            "delay": 0.0,
            "method": None,
            "path": "/v2/short_codes",
        }
        assert latency.json()["data"]["latency"] == 0.001
        assert [(f["kind"], f["method"]) for f in pending["faults"]] == [
            ("status", None),
            ("drop", "GET"),
            ("delay", None),
        ]

        assert (await http.get("/v2/short_codes", headers=api)).headers["retry-after"] == "1"
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/v2/messaging_profiles", headers=api)
        seeded = await http.post(
            f"/_simulator/accounts/{KEY}/seed", json={"profiles": 5, "short_codes": 2}
        )
        assert seeded.json() == {"data": {"profiles": 5, "phone_numbers": 0, "short_codes": 2}}
        log = (await http.get("/_simulator/requests")).json()["data"]
        assert [(r["path"], r["status"], r["api_key"]) for r in log] == [
            ("/v2/short_codes", 429, KEY),
            ("/v2/messaging_profiles", None, KEY),
        ]
        assert (await http.delete("/_simulator/faults")).json()["data"]["faults"] == []
        assert (await http.delete("/_simulator/requests")).json() == {"data": []}
        listed = await http.get("/v2/messaging_profiles", headers=api)
        assert listed.json()["meta"]["total_results"] == 8
        assert (await http.post("/_simulator/reset")).status_code == 200
        assert (await http.get("/v2/messaging_profiles", headers=api)).json()["meta"][
            "total_results"
        ] == 3
        assert (await http.get("/_simulator/faults")).json()["data"]["latency"] == 0.0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({}, "/status"),
        ({"status": 99}, "/status"),
        ({"status": "500"}, "/status"),
        ({"status": 500, "times": 0}, "/times"),
        ({"status": 500, "headers": {"a": 1}}, "/headers"),
        ({"delay": -1}, "/delay"),
        ({"drop": True, "path": 3}, "/path"),
        ([], "/"),
    ],
)
async def test_control_api_rejects_bad_faults(sim: Simulator, body: object, pointer: str) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://telnyx.test") as http:
        response = await http.post("/_simulator/faults", json=body)

    assert response.status_code == 422
    assert errors(response)[0]["source"] == {"pointer": pointer}
    assert sim.faults.pending() == []


@pytest.mark.slow
def test_dropped_connection_over_a_real_socket() -> None:
    sim = Simulator()
    with (
        serve(sim.app) as url,
        httpx.Client(base_url=f"{url}/v2", headers={"Authorization": f"Bearer {KEY}"}) as http,
    ):
        sim.faults.drop(times=2)
        for _ in range(2):
            with pytest.raises(
                httpx.RemoteProtocolError, match="Server disconnected without sending a response"
            ):
                http.get("/short_codes")
        assert http.get("/short_codes").status_code == 200

    assert [record.status for record in sim.requests] == [None, None, 200]
