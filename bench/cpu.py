"""CPU per request of the gateway in process, without a profiler.

    .venv/bin/python -m bench.cpu [--scenario nested-cold|nested|profile|rest|...]
                                  [--requests N] [--rounds N] [--simulator] [--gap MS]

The gateway as `bench.inprocess` builds it, the upstream answers replayed (`--simulator`
keeps the in-process simulator answering, to see what it adds). Requests run one at a
time; each round times `--requests` of them with `time.process_time`, which includes the
span export thread; the best and the median round are printed (this machine is noisy:
the best is the steadier figure).

`--gap MS` idles the event loop that long before each request, as a cold read on one
connection does while the upstream answers (`bench.run`: 20 ms): the request then runs
after the CPU's caches went to other work. Each round also times the same idle periods
without requests, and prints what the requests added to them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from bench.inprocess import SCENARIOS, gateway


async def measure(
    scenario: str, requests: int, rounds: int, *, replay: bool, gap: float = 0.0
) -> list[float]:
    """CPU milliseconds per request, one figure per round (less the idle periods' own CPU,
    measured in the same round, with `gap`)."""
    results = []
    async with gateway(scenario, replay=replay) as gw:
        for _ in range(rounds):
            gc.collect()
            idle = 0.0
            if gap:
                started = time.process_time()
                for _ in range(requests):
                    await asyncio.sleep(gap)
                idle = time.process_time() - started
            started = time.process_time()
            for _ in range(requests):
                if gap:
                    await asyncio.sleep(gap)
                await gw.one()
            gw.telemetry.tracer_provider.force_flush()
            results.append((time.process_time() - started - idle) / requests * 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="nested-cold")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--simulator", action="store_true")
    parser.add_argument("--gap", type=float, default=0.0, help="milliseconds idle before each")
    args = parser.parse_args()
    if args.gap < 0 or args.requests < 1 or args.rounds < 1:
        parser.error("--gap must be at least 0, --requests and --rounds at least 1")
    results = asyncio.run(
        measure(
            args.scenario,
            args.requests,
            args.rounds,
            replay=not args.simulator,
            gap=args.gap / 1000,
        )
    )
    print(
        f"{args.scenario}: {min(results):.3f} ms CPU per request (best of {args.rounds} rounds"
        f" of {args.requests}), median {statistics.median(results):.3f}"
        + (", in-process simulator included" if args.simulator else "")
        + (f", {args.gap:g} ms idle before each" if args.gap else "")
    )


if __name__ == "__main__":
    main()
