"""Sharing the CPU: long work takes turns with other requests, and a tenant's heavy
documents run a few at a time.

The gateway answers every request on one event loop. A document that builds a large
answer from cached reads never waits for anything, so without help it would hold the loop
for its whole run, and every other tenant's requests with it. Two things bound that:

- `Turns`: a request's long work (parsing pages, building and completing large lists) runs
  in sections, one per loop iteration once the request has held the loop for `SLICE`
  seconds, so other requests wait for at most a section, not for a whole answer;
- `Lanes`: documents whose answers can hold many items (more than a quarter of the item
  limit) run at most `per_tenant` at a time for each tenant, and all of a tenant's
  documents at most `queries` at a time; the others wait their turn, for at most `wait`
  seconds, then are refused as rate limited. One tenant flooding heavy documents then takes
  one slice in turn with everyone else, not one per request it sent; and however far the
  server falls behind, the pages and answers one tenant's documents hold in memory at once
  are those of `queries` documents, not of every request it sent meanwhile (a waiting
  request holds only its body).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from graphql import GraphQLError
from strawberry.types import ExecutionContext

from schema.api.errors import RATE_LIMITED

SLICE = 0.002


class Turns:
    """One request's share of the loop.

    Its CPU-heavy sections (parsing a page, building or completing a large list) run in
    `turn()`: one at a time among the request's tasks (a lock), and once the request has
    held the loop for its slice, only after one loop iteration has passed, in which the
    other requests' events are handled. A request whose work is spread over many tasks (a
    page of profiles completes each profile's list in a task of its own) thus still runs
    one slice per loop iteration, not one per task.

    Building the answer (its nested connections, its long lists) is sliced only for a heavy
    document (`building`, set by `Lanes.admit`): a light one holds at most a quarter of the
    item limit, so its whole answer is built in one go at less cost than taking turns
    (about a millisecond for a page of 20 profiles with their numbers and short codes).
    Parsing and grouping upstream pages, whose size no document bounds, always take turns.
    """

    def __init__(
        self, *, length: float = SLICE, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._length = length
        self._clock = clock
        self._since = clock()
        self._lock = asyncio.Lock()
        self.building = False

    def due(self) -> bool:
        """Whether the request has held the loop for its slice since it last gave it back."""
        return self._clock() - self._since > self._length

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._lock:
            if self.due():
                await asyncio.sleep(0)
                self._since = self._clock()
            yield


class Held:
    """The places an admitted document holds, given back by `release` when it ends."""

    __slots__ = ("_taken",)

    def __init__(self, taken: list[asyncio.Semaphore]) -> None:
        self._taken = taken

    def release(self) -> None:
        while self._taken:
            self._taken.pop().release()


class Lanes:
    """Per tenant, how many documents, and how many heavy ones, may run at once."""

    def __init__(
        self, *, per_tenant: int, heavy_items: int, wait: float, queries: int = 16
    ) -> None:
        self.heavy_items = heavy_items
        self._per_tenant = per_tenant
        self._queries = queries
        self._wait = wait
        # Small semaphores per tenant that ever ran a document: the tenants file bounds them.
        self._heavy: dict[str, asyncio.Semaphore] = {}
        self._running: dict[str, asyncio.Semaphore] = {}

    async def _take(
        self, pool: dict[str, asyncio.Semaphore], size: int, tenant: str
    ) -> asyncio.Semaphore | None:
        """One of the tenant's places in `pool`, waiting at most `wait`; None if none came
        free in time."""
        places = pool.get(tenant)
        if places is None:
            places = pool[tenant] = asyncio.Semaphore(size)
        try:
            async with asyncio.timeout(self._wait):
                await places.acquire()
        except TimeoutError:
            return None
        return places

    async def admit(self, context: ExecutionContext) -> tuple[Held | None, GraphQLError | None]:
        """Wait for a place to run (and a heavy lane when the operation is heavy: its size
        is counted by the cost limit, which runs first): what it holds, to `release` when
        the operation ends, or the error that refuses it when none came free in time."""
        request = context.context
        cost = getattr(request, "cost", None)
        caller = getattr(request, "caller", None)
        if context.pre_execution_errors or cost is None or caller is None:
            return None, None
        tenant: str = caller.tenant.id
        taken: list[asyncio.Semaphore] = []
        if cost.last_items > self.heavy_items:
            turns = getattr(request, "turns", None)
            if isinstance(turns, Turns):
                turns.building = True
            lane = await self._take(self._heavy, self._per_tenant, tenant)
            if lane is None:
                return None, _busy("Too many large documents of this tenant are running")
            taken.append(lane)
        place = await self._take(self._running, self._queries, tenant)
        if place is None:
            Held(taken).release()
            return None, _busy("Too many documents of this tenant are running")
        taken.append(place)
        return Held(taken), None


def _busy(what: str) -> GraphQLError:
    return GraphQLError(f"{what}; retry later.", extensions={"code": RATE_LIMITED, "retryAfter": 1})
