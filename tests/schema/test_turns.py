"""Sharing the CPU: a request's heavy sections take turns with other requests, and a
tenant's heavy documents run one at a time (bench.fairness measures the latencies)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.simulator import Simulator
from schema.limits.turns import Held, Lanes, Turns
from tests.conftest import ALPHA_KEY, BETA_KEY, BETA_TOKEN, MakeApp, client_for

HEAVY = (
    "{ messagingProfiles(first: 3) { edges { node { id "
    "phoneNumbers(first: 30) { totalCount } } } } }"
)  # 3 + 3 x 30 = 93 items: heavy when the item limit is 200 (over a quarter of it)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_past_its_slice_a_request_runs_one_section_per_loop_iteration() -> None:
    clock = Clock()
    turns = Turns(length=0.002, clock=clock)
    order: list[str] = []

    async def section(name: str) -> None:
        async with turns.turn():
            order.append(name)
            clock.now += 0.01  # each section uses more than a slice

    async def other_request() -> None:
        for n in range(3):
            order.append(f"other {n}")
            await asyncio.sleep(0)

    clock.now = 1.0  # the request has already held the loop past its slice
    await asyncio.gather(section("a"), section("b"), section("c"), other_request())

    # Each of the request's sections waits a loop iteration, in which the other runs.
    assert order == ["other 0", "a", "other 1", "other 2", "b", "c"]


async def test_within_its_slice_a_section_does_not_wait() -> None:
    clock = Clock()
    turns = Turns(length=0.002, clock=clock)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    async with turns.turn():
        ran.append("section")
    await task
    assert ran == ["section", "other"]


async def admit(lanes: Lanes, items: int, tenant: str = "alpha") -> tuple[Held | None, str]:
    """Admit a document of `items` items: what it holds, and the refusal's message if any."""
    held, refused = await lanes.admit(_Operation(_Request(items, tenant)))  # type: ignore[arg-type]
    return held, "" if refused is None else refused.message


async def test_a_lane_is_waited_for_at_most_its_deadline() -> None:
    lanes = Lanes(per_tenant=1, heavy_items=10, wait=0.05)
    alpha, _ = await admit(lanes, 11)
    assert alpha is not None
    # Held: refused after the wait.
    assert await admit(lanes, 11) == (None, LARGE)
    beta, _ = await admit(lanes, 11, "beta")  # another tenant's lane is its own
    assert beta is not None
    alpha.release()
    again, _ = await admit(lanes, 11)
    assert again is not None


async def test_a_tenant_runs_at_most_its_number_of_documents_at_once() -> None:
    lanes = Lanes(per_tenant=1, heavy_items=10, wait=0.05, queries=2)
    first, second = (await admit(lanes, 1))[0], (await admit(lanes, 1))[0]
    assert first is not None
    assert second is not None
    # A third light document waits for a place, then is refused; a heavy one too, and the
    # heavy lane it took meanwhile is given back.
    assert await admit(lanes, 1) == (None, MANY)
    assert await admit(lanes, 11) == (None, MANY)
    beta, _ = await admit(lanes, 1, "beta")  # another tenant is not held
    assert beta is not None
    first.release()
    heavy, _ = await admit(lanes, 11)  # the heavy lane is free again, and so is a place
    assert heavy is not None


async def test_a_waiting_document_runs_as_soon_as_a_place_is_free() -> None:
    lanes = Lanes(per_tenant=1, heavy_items=10, wait=5.0, queries=1)
    first, _ = await admit(lanes, 1)
    assert first is not None
    waiting = asyncio.create_task(admit(lanes, 1))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    first.release()
    held, refused = await waiting
    assert held is not None
    assert refused == ""


LARGE = "Too many large documents of this tenant are running; retry later."
MANY = "Too many documents of this tenant are running; retry later."


@pytest.fixture
def accounts(simulator: Simulator) -> Simulator:
    for key in (ALPHA_KEY, BETA_KEY):
        account = simulator.account(key)
        for profile in list(account.profiles):
            account.add_phone_numbers(30, messaging_profile_id=profile)
    return simulator


async def test_a_tenants_heavy_documents_run_one_at_a_time_and_others_are_not_held(
    make_app: MakeApp, accounts: Simulator
) -> None:
    app = make_app(max_query_items=200, nested_fan_in=False)
    accounts.faults.latency = 0.05  # each upstream call takes a while
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:

        async def ask(client: httpx.AsyncClient, n: int) -> int:
            body = {"query": HEAVY, "variables": {"undeclared": n}}
            response = await client.post("/graphql", json=body, headers=NO_CACHE)
            assert "errors" not in response.json(), response.text
            return n

        await asyncio.gather(ask(alpha, 1), ask(alpha, 2), ask(beta, 3))

    alpha_calls = sorted(
        (record for record in accounts.requests if record.api_key == ALPHA_KEY),
        key=lambda record: record.time,
    )
    beta_calls = [record for record in accounts.requests if record.api_key == BETA_KEY]
    first, second = alpha_calls[:4], alpha_calls[4:]  # a profiles page, then one per profile
    assert [len(first), len(second), len(beta_calls)] == [4, 4, 4]
    # Alpha's second document began once its first had ended...
    assert second[0].time >= max(record.time + record.duration for record in first)
    # ...while beta's ran beside alpha's first, not after both.
    assert min(record.time for record in beta_calls) < second[0].time


NO_CACHE = {"Cache-Control": "no-cache"}


async def test_a_heavy_document_that_cannot_get_a_lane_in_time_is_rate_limited(
    make_app: MakeApp, accounts: Simulator
) -> None:
    app = make_app(max_query_items=200, nested_fan_in=False, upstream_deadline=0.2)
    accounts.faults.latency = 0.15
    async with client_for(app) as alpha:
        first, second = await asyncio.gather(
            alpha.post("/graphql", json={"query": HEAVY}, headers=NO_CACHE),
            alpha.post("/graphql", json={"query": HEAVY}, headers=NO_CACHE),
        )
    answers = sorted([first.json(), second.json()], key=lambda body: "errors" in body)
    assert "errors" not in answers[0]
    assert answers[1]["errors"] == [
        {
            "message": "Too many large documents of this tenant are running; retry later.",
            "extensions": {"code": "RATE_LIMITED", "retryAfter": 1},
        }
    ]


async def test_past_its_documents_at_once_a_tenant_waits_and_others_do_not(
    make_app: MakeApp, accounts: Simulator
) -> None:
    app = make_app(tenant_queries=1, nested_fan_in=False, upstream_deadline=0.2)
    accounts.faults.latency = 0.15  # two waves of calls: a profile, then its numbers
    light = "{ messagingProfiles(first: 1) { edges { node { phoneNumbers(first: 1) { totalCount } } } } }"
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:

        async def ask(client: httpx.AsyncClient, n: int) -> dict[str, object]:
            body = {"query": light, "variables": {"undeclared": n}}
            response = await client.post("/graphql", json=body, headers=NO_CACHE)
            answer: dict[str, object] = response.json()
            return answer

        first, second, other = await asyncio.gather(ask(alpha, 1), ask(alpha, 2), ask(beta, 3))

    # Alpha's second document waited for alpha's one place past the deadline and was refused
    # without calling Telnyx; beta's ran beside alpha's first.
    refused = [answer for answer in (first, second) if "errors" in answer]
    assert refused == [
        {
            "data": None,
            "errors": [
                {
                    "message": "Too many documents of this tenant are running; retry later.",
                    "extensions": {"code": "RATE_LIMITED", "retryAfter": 1},
                }
            ],
            "extensions": {"cache": {"cached": False, "stale": False}},
        }
    ]
    assert "errors" not in other
    assert [record.api_key for record in accounts.requests].count(ALPHA_KEY) == 2


class _Request:
    """What `Lanes.admit` reads of a request's context."""

    def __init__(self, items: int, tenant: str = "alpha") -> None:
        self.cost = type("Cost", (), {"last_items": items})()
        self.caller = type("Caller", (), {"tenant": type("Tenant", (), {"id": tenant})()})()
        self.turns = Turns()


class _Operation:
    def __init__(self, request: _Request) -> None:
        self.context = request
        self.pre_execution_errors = None


async def test_only_a_heavy_documents_answer_is_built_in_turns() -> None:
    lanes = Lanes(per_tenant=1, heavy_items=500, wait=0.05)
    light, heavy = _Request(items=500), _Request(items=501)

    light_held, light_refused = await lanes.admit(_Operation(light))  # type: ignore[arg-type]
    heavy_held, heavy_refused = await lanes.admit(_Operation(heavy))  # type: ignore[arg-type]
    assert light_held is not None
    assert heavy_held is not None
    assert (light_refused, heavy_refused) == (None, None)

    # A light document (at most a quarter of the item limit) is built in one go.
    assert (light.turns.building, heavy.turns.building) == (False, True)
    light_held.release()
    heavy_held.release()
