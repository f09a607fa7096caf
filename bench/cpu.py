"""CPU per request of the gateway in process, without a profiler.

    .venv/bin/python -m bench.cpu [--scenario nested-cold|nested|profile|rest]
                                  [--requests N] [--rounds N] [--simulator]

The gateway as `bench.inprocess` builds it, the upstream answers replayed (`--simulator`
keeps the in-process simulator answering, to see what it adds). Requests run one at a
time; each round times `--requests` of them with `time.process_time`, which includes the
span export thread; the best and the median round are printed (this machine is noisy:
the best is the steadier figure).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from bench.inprocess import SCENARIOS, gateway


async def measure(scenario: str, requests: int, rounds: int, *, replay: bool) -> list[float]:
    """CPU milliseconds per request, one figure per round."""
    results = []
    async with gateway(scenario, replay=replay) as gw:
        for _ in range(rounds):
            gc.collect()
            started = time.process_time()
            for _ in range(requests):
                await gw.one()
            gw.telemetry.tracer_provider.force_flush()
            results.append((time.process_time() - started) / requests * 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="nested-cold")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--simulator", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(
        measure(args.scenario, args.requests, args.rounds, replay=not args.simulator)
    )
    print(
        f"{args.scenario}: {min(results):.3f} ms CPU per request (best of {args.rounds} rounds"
        f" of {args.requests}), median {statistics.median(results):.3f}"
        + (", in-process simulator included" if args.simulator else "")
    )


if __name__ == "__main__":
    main()
