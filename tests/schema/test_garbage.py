"""A GraphQL request's objects are freed when it is answered, not left to the cyclic
garbage collector: every request left behind would add to its work (a fifth of a cold
nested page's CPU) and keep the request's pages alive until it ran. (A request that fails
still leaves its exceptions' tracebacks to the collector.)"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from strawberry.dataloader import DataLoader

from schema.api.context import Context
from schema.api.loaders import Loaders
from schema.speedups.execution import Execution
from tests.conftest import MakeApp, client_for

NESTED = """{ messagingProfiles(first: 3) { edges { node {
  id name
  phoneNumbers { totalCount edges { node { phoneNumber } } }
  shortCodes { totalCount edges { node { shortCode } } }
} } } }"""
PAGE = "{ messagingProfiles(first: 2) { totalCount edges { node { id name } } } }"


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def alive(*kinds: type) -> dict[str, int]:
    """How many objects of each of `kinds` are still reachable or waiting in a cycle."""
    counts = {kind.__name__: 0 for kind in kinds}
    for obj in gc.get_objects():
        for kind in kinds:
            if isinstance(obj, kind):
                counts[kind.__name__] += 1
    return counts


@pytest.mark.parametrize(("query", "size"), [(NESTED, 3), (PAGE, 2)], ids=["nested", "page"])
@pytest.mark.usefixtures("no_collector")
async def test_a_request_leaves_no_loaders_executor_or_context_behind(
    make_app: MakeApp, query: str, size: int
) -> None:
    app = make_app(speedups=True)
    async with client_for(app) as client:
        for _ in range(3):
            response = await client.post(
                "/graphql", json={"query": query}, headers={"Cache-Control": "no-cache"}
            )
            body = response.json()
            assert (response.status_code, "errors" in body) == (200, False)
            assert len(body["data"]["messagingProfiles"]["edges"]) == size

        assert alive(Loaders, DataLoader, Context, Execution) == {
            "Loaders": 0,
            "DataLoader": 0,
            "Context": 0,
            "Execution": 0,
        }


async def test_loaders_refuse_to_load_once_their_request_is_over(make_app: MakeApp) -> None:
    app = make_app()
    loaders: list[Loaders] = []
    original = Loaders.close

    def closing(self: Loaders) -> None:
        loaders.append(self)
        original(self)

    Loaders.close = closing  # type: ignore[method-assign]
    try:
        async with client_for(app) as client:
            response = await client.post("/graphql", json={"query": NESTED})
    finally:
        Loaders.close = original  # type: ignore[method-assign]

    assert response.status_code == 200
    (closed,) = loaders
    with pytest.raises(RuntimeError, match=r"^the request these loaders served is over$"):
        await closed.profile.load("any")
