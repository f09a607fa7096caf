"""Sharing the CPU: long work takes turns with other requests, and a tenant's heavy
documents run a few at a time.

The gateway answers every request on one event loop. A document that builds a large
answer from cached reads never waits for anything, so without help it would hold the loop
for its whole run, and every other tenant's requests with it. Two things bound that:

- `Turns`: a request's long work (parsing pages, building and completing large lists) runs
  in sections, one per loop iteration once the request has held the loop for `SLICE`
  seconds, so other requests wait for at most a section, not for a whole answer;
- `Lanes`: documents whose answers can hold many items (more than a quarter of the item
  limit) run at most `per_tenant` at a time for each tenant; the others wait their turn,
  for at most `wait` seconds, then are refused as rate limited. One tenant flooding heavy
  documents then takes one slice in turn with everyone else, not one per request it sent.
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


class Lanes:
    """Per tenant, how many heavy documents may run at once."""

    def __init__(self, *, per_tenant: int, heavy_items: int, wait: float) -> None:
        self.heavy_items = heavy_items
        self._per_tenant = per_tenant
        self._wait = wait
        # One small semaphore per tenant that ever ran a heavy document: the tenants file
        # bounds them.
        self._lanes: dict[str, asyncio.Semaphore] = {}

    async def enter(self, tenant: str) -> bool:
        """Take one of the tenant's lanes, waiting at most `wait`; whether it was taken."""
        lane = self._lanes.get(tenant)
        if lane is None:
            lane = self._lanes[tenant] = asyncio.Semaphore(self._per_tenant)
        try:
            async with asyncio.timeout(self._wait):
                await lane.acquire()
        except TimeoutError:
            return False
        return True

    def leave(self, tenant: str) -> None:
        self._lanes[tenant].release()

    async def admit(self, context: ExecutionContext) -> tuple[str | None, GraphQLError | None]:
        """Wait for a lane when the operation is heavy (its size counted by the cost limit,
        which runs first): the tenant whose lane it took, to `leave` when the operation
        ends, or the error that refuses it when none came free in time."""
        request = context.context
        cost = getattr(request, "cost", None)
        caller = getattr(request, "caller", None)
        if (
            context.pre_execution_errors
            or cost is None
            or caller is None
            or cost.last_items <= self.heavy_items
        ):
            return None, None
        turns = getattr(request, "turns", None)
        if isinstance(turns, Turns):
            turns.building = True
        tenant: str = caller.tenant.id
        if await self.enter(tenant):
            return tenant, None
        return None, GraphQLError(
            "Too many large documents of this tenant are running; retry later.",
            extensions={"code": RATE_LIMITED, "retryAfter": 1},
        )
