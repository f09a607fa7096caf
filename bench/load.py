"""Closed-loop load: a fixed number of workers repeat one action for a fixed time, and the
latency of every completed action is kept."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

# One unit of work (a request, or a write and its read) by worker `n`; raises on failure.
Action = Callable[[int], Awaitable[None]]


class BadResponseError(Exception):
    """A response that is not what the scenario expects (a status, a GraphQL error)."""


@dataclass(frozen=True)
class Sample:
    """What one timed run saw: every completed action's latency (seconds, sorted)."""

    latencies: list[float]
    errors: int
    seconds: float
    first_error: str | None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @classmethod
    def merge(cls, samples: list[Sample]) -> Sample:
        """Several runs of one scenario as one."""
        return cls(
            sorted(latency for sample in samples for latency in sample.latencies),
            sum(sample.errors for sample in samples),
            sum(sample.seconds for sample in samples),
            next((sample.first_error for sample in samples if sample.first_error), None),
        )

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile, `q` in (0, 100]; NaN when nothing completed."""
        if not self.latencies:
            return math.nan
        rank = max(math.ceil(q / 100 * len(self.latencies)), 1)
        return self.latencies[rank - 1]


async def drive(action: Action, concurrency: int, seconds: float) -> Sample:
    """Run `action` on `concurrency` workers until `seconds` have passed; each worker starts
    its next action as soon as its last one ends, so at most `concurrency` are in flight."""
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    clock = time.perf_counter
    started = clock()
    stop_at = started + seconds

    async def worker(n: int) -> None:
        nonlocal errors, first_error
        while clock() < stop_at:
            begun = clock()
            try:
                await action(n)
            except (aiohttp.ClientError, TimeoutError, BadResponseError) as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                continue
            latencies.append(clock() - begun)

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    latencies.sort()
    return Sample(latencies, errors, clock() - started, first_error)


async def fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """One request, its whole body read; anything but a 200 is a `BadResponseError`."""
    async with session.request(method, url, data=body, headers=headers) as response:
        data = await response.read()
        if response.status != 200:
            raise BadResponseError(f"{method} {url}: {response.status} {data[:300]!r}")
        return data
