"""A hostile tenant's flood of distinct reads stays within the byte budgets, and never
pushes another tenant's entries out (`make bench`'s `bench.flood` measures the RSS)."""

from __future__ import annotations

import base64
import hashlib

from gateway.simulator import Simulator
from tests.conftest import ALPHA_KEY, BETA_TOKEN, MakeApp, client_for

TOTAL = 256 * 1024
SHARE = 64 * 1024
NUMBERS = "query($first: Int, $after: String) { phoneNumbers(first: $first, after: $after) { totalCount edges { node { id phoneNumber } } } }"


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"phone_numbers:{offset}".encode()).decode()


async def test_distinct_pages_over_rest_stay_within_the_tenants_share(
    make_app: MakeApp, simulator: Simulator
) -> None:
    simulator.account(ALPHA_KEY).add_phone_numbers(2_000)
    app = make_app(cache_max_bytes=TOTAL, cache_tenant_max_bytes=SHARE, rate_limit_burst=10_000)
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:
        first = await beta.get("/v2/short_codes")
        for size in range(1, 121):
            response = await alpha.get(
                "/v2/phone_numbers/messaging", params={"page[size]": size, "page[number]": 2}
            )
            assert response.status_code == 200
        again = await beta.get("/v2/short_codes")

    cache = app.state.cache
    assert cache.tenant_bytes("alpha") <= SHARE
    assert cache.used_bytes <= TOTAL
    assert len(simulator.requests) == 1 + 120  # beta once, then every page of alpha
    assert (first.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")


async def test_distinct_windows_over_graphql_stay_within_both_caches_shares(
    make_app: MakeApp, simulator: Simulator
) -> None:
    simulator.account(ALPHA_KEY).add_phone_numbers(2_000)
    app = make_app(
        cache_max_bytes=TOTAL,
        cache_tenant_max_bytes=SHARE,
        response_cache_max_bytes=TOTAL,
        response_cache_tenant_max_bytes=SHARE,
    )
    count = {"query": "{ shortCodes { totalCount } }"}
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:
        await beta.post("/graphql", json=count)
        for first in range(1, 61):
            body = {"query": NUMBERS, "variables": {"first": first, "after": cursor(first * 7)}}
            response = await alpha.post("/graphql", json=body)
            assert response.status_code == 200
            assert "errors" not in response.json()
        again = await beta.post("/graphql", json=count)

    assert app.state.cache.tenant_bytes("alpha") <= SHARE
    assert app.state.responses.used_bytes <= TOTAL
    assert again.headers["x-cache"] == "HIT"


async def test_persisted_documents_are_bounded_by_what_they_cost_per_tenant(
    make_app: MakeApp,
) -> None:
    share = 32 * 1024
    app = make_app(apq_cache_bytes=4 * share, apq_tenant_cache_bytes=share, rate_limit_burst=10_000)

    def persisted(text: str) -> dict[str, object]:
        digest = hashlib.sha256(text.encode()).hexdigest()
        return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}

    theirs = "{ shortCodes { totalCount } }"
    async with client_for(app) as alpha, client_for(app, BETA_TOKEN) as beta:
        registered = await beta.post("/graphql", json={"query": theirs, **persisted(theirs)})
        # Small documents: a budget counted in characters of text would hold thousands.
        for n in range(600):
            text = f"{{ n{n}: shortCodes {{ totalCount }} }}"
            await alpha.post("/graphql", json={"query": text, **persisted(text)})
        by_hash = await beta.post("/graphql", json=persisted(theirs))
        oldest = await alpha.post("/graphql", json=persisted("{ n0: shortCodes { totalCount } }"))

    assert registered.status_code == 200
    assert by_hash.json()["data"] == {"shortCodes": {"totalCount": 5}}
    assert oldest.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
