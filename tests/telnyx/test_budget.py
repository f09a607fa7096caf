"""Each Telnyx account's budget of calls, shared by replicas through a real Redis (the
`redis_url` fixture), with each test's keys under a prefix of its own. The budgets are slow
(one call per 1000 s) so that what is let through is exact, whatever the machine's speed."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as redis
from pydantic import SecretStr

from gateway.errors import UpstreamBudgetError, UpstreamRateLimitedError
from gateway.telnyx.budget import UpstreamBudget, account_of
from gateway.tenancy import RateLimit, Tenant
from tests.process import free_port
from tests.telnyx.support import (
    KEY,
    OTHER_KEY,
    PROFILE,
    PROFILE_ID,
    FakeTime,
    Upstream,
    error,
    make_client,
    one,
    tenant,
)

SLOW = RateLimit(per_second=0.001, burst=3)
TOO_MANY = {"code": "10011", "title": "Too many requests"}


@pytest.fixture
def prefix() -> str:
    return f"test-budget-{uuid.uuid4().hex}:"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def budget(
    url: str | None,
    prefix: str,
    time: FakeTime,
    default: RateLimit | None = SLOW,
    *,
    replicas: int = 1,
) -> UpstreamBudget:
    client = None if url is None else redis.Redis.from_url(url, socket_timeout=0.5)
    return UpstreamBudget(
        default, client=client, replicas=replicas, prefix=prefix, clock=time.clock, sleep=time.sleep
    )


async def retrieve(upstream: Upstream, account: UpstreamBudget, time: FakeTime) -> object:
    client = make_client(upstream, time=time, account_budget=account, max_retries=0)
    try:
        answer = await client.request(tenant(), "RetrieveMessagingProfile", "GET", "/p")
        return orjson.loads(answer.content)
    except (UpstreamBudgetError, UpstreamRateLimitedError) as exc:
        return exc


async def test_two_replicas_never_exceed_the_accounts_budget_together(
    redis_url: str, prefix: str
) -> None:
    time_a, time_b = FakeTime(), FakeTime()
    replica_a, replica_b = budget(redis_url, prefix, time_a), budget(redis_url, prefix, time_b)
    upstream_a, upstream_b = Upstream([one(PROFILE)]), Upstream([one(PROFILE)])
    outcomes = []
    for _ in range(4):
        outcomes.append(await retrieve(upstream_a, replica_a, time_a))
        outcomes.append(await retrieve(upstream_b, replica_b, time_b))

    assert [isinstance(outcome, dict) for outcome in outcomes] == [True] * 3 + [False] * 5
    assert (len(upstream_a.requests), len(upstream_b.requests)) == (2, 1)
    refused = [outcome for outcome in outcomes if isinstance(outcome, UpstreamBudgetError)]
    assert len(refused) == 5
    # The next turn is 1000 s away, past the 20 s deadline: refused at once, unsent.
    assert {math.ceil(exc.retry_after) for exc in refused} == {1000}
    assert time_a.slept == time_b.slept == []
    await replica_a.aclose()
    await replica_b.aclose()


async def test_a_call_waits_for_its_turn_up_to_its_deadline_then_fails_unsent(
    redis_url: str, prefix: str
) -> None:
    time = FakeTime()
    # A turn every 4 s of Redis's time, which the fake clock does not move: the call keeps
    # waiting, on the client's clock, until its 10 s deadline is near.
    account = budget(redis_url, prefix, time, RateLimit(per_second=0.25, burst=1))
    upstream = Upstream([one(PROFILE)])
    client = make_client(upstream, time=time, account_budget=account, deadline=10.0)
    await client.request(tenant(), "RetrieveMessagingProfile", "GET", "/p")
    with pytest.raises(UpstreamBudgetError) as raised:
        await client.request(tenant(), "RetrieveMessagingProfile", "GET", "/p")

    assert len(upstream.requests) == 1
    assert [math.ceil(seconds) for seconds in time.slept] == [4, 4]
    assert math.ceil(raised.value.retry_after) == 4
    assert raised.value.message == "Too many requests to Telnyx for this account; retry later."
    await account.aclose()


async def test_telnyx_429_on_one_replica_pauses_the_account_on_the_other(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    time_a, time_b = FakeTime(), FakeTime()
    generous = RateLimit(per_second=100, burst=10)
    replica_a = budget(redis_url, prefix, time_a, generous)
    replica_b = budget(redis_url, prefix, time_b, generous)
    throttled = Upstream([error(429, TOO_MANY, headers={"Retry-After": "30"})])
    fine = Upstream([one(PROFILE)])

    refused_by_telnyx = await retrieve(throttled, replica_a, time_a)
    assert isinstance(refused_by_telnyx, UpstreamRateLimitedError)
    pause = await raw.pttl(f"{prefix}{{{account_of(tenant())}}}:pause")
    assert 29_000 < pause <= 30_000

    held_back = await retrieve(fine, replica_b, time_b)
    assert isinstance(held_back, UpstreamBudgetError)
    assert math.ceil(held_back.retry_after) == 30
    assert fine.requests == []
    # Another account is not held back.
    other = make_client(fine, time=time_b, account_budget=replica_b, max_retries=0)
    await other.request(tenant("other", OTHER_KEY), "RetrieveMessagingProfile", "GET", "/p")
    assert len(fine.requests) == 1
    await replica_a.aclose()
    await replica_b.aclose()


async def test_a_tenants_own_budget_overrides_the_default(redis_url: str, prefix: str) -> None:
    time = FakeTime()
    account = budget(redis_url, prefix, time, default=None)
    upstream = Upstream([one(PROFILE)])
    client = make_client(upstream, time=time, account_budget=account, max_retries=0)
    unlimited = tenant("unlimited", OTHER_KEY)
    budgeted = Tenant("budgeted", SecretStr(KEY), upstream_budget=RateLimit(0.001, 2))
    for _ in range(5):
        await client.request(unlimited, "RetrieveMessagingProfile", "GET", "/p")
    answers = []
    for _ in range(3):
        try:
            await client.request(budgeted, "RetrieveMessagingProfile", "GET", "/p")
            answers.append("sent")
        except UpstreamBudgetError:
            answers.append("refused")
    assert answers == ["sent", "sent", "refused"]
    assert len(upstream.requests) == 7
    await account.aclose()


async def test_without_redis_each_replica_sends_its_share_of_the_budget(prefix: str) -> None:
    time = FakeTime()
    # Nothing listens there: the budget is split between the 2 replicas, 2 calls each.
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    account = budget(unreachable, prefix, time, RateLimit(0.002, 4), replicas=2)
    assert account.share(RateLimit(0.002, 4)) == RateLimit(0.001, 2)
    upstream = Upstream([one(PROFILE)])
    outcomes = [await retrieve(upstream, account, time) for _ in range(3)]

    assert [isinstance(outcome, dict) for outcome in outcomes] == [True, True, False]
    assert isinstance(outcomes[2], UpstreamBudgetError)
    assert outcomes[2].retry_after == 1000.0
    assert len(upstream.requests) == 2
    await account.aclose()


async def test_without_redis_telnyx_429_still_pauses_this_replica(prefix: str) -> None:
    time = FakeTime()
    account = budget(None, prefix, time, RateLimit(100, 10))
    throttled = Upstream([error(429, TOO_MANY, headers={"x-ratelimit-reset": "7"}), one(PROFILE)])
    client = make_client(throttled, time=time, account_budget=account, max_retries=1)
    answer = await client.request(tenant(), "RetrieveMessagingProfile", "GET", "/p")

    # Telnyx's own reset header paused the account; the retry waited it out, then was sent.
    assert orjson.loads(answer.content) == {"data": PROFILE}
    assert len(throttled.requests) == 2
    assert time.slept == [0.5, 6.5]  # the retry's backoff, then the rest of the pause


async def test_no_telnyx_key_in_any_redis_key_or_value(
    redis_url: str, prefix: str, raw: redis.Redis
) -> None:
    time = FakeTime()
    account = budget(redis_url, prefix, time)
    await retrieve(Upstream([one(PROFILE)]), account, time)
    await account.pause(tenant(), 5)
    keys = sorted([key async for key in raw.scan_iter(match=f"{prefix}*")])
    digest = account_of(tenant())
    assert keys == [f"{prefix}{{{digest}}}:pause".encode(), f"{prefix}{{{digest}}}:tokens".encode()]
    stored = [await raw.get(keys[0]), *(await raw.hgetall(keys[1])).items()]
    text = repr((keys, stored))
    assert KEY not in text
    assert KEY.encode().hex() not in text
    assert PROFILE_ID not in text
    await account.aclose()
