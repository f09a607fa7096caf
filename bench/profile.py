"""Where the gateway's CPU goes on one kind of request: cProfile over in-process requests.

    .venv/bin/python -m bench.profile [--scenario nested|nested-cold|profile|rest]
                                      [--requests N] [--top N] [--simulator]

The gateway as `bench.inprocess` builds it: production settings, the data `bench.run`
seeds, requests straight to the ASGI app one at a time after the cache is filled. The
upstream answers are replayed unless `--simulator` keeps the in-process simulator
answering (its work then shows under gateway/simulator/). Only this thread is profiled,
so span export (a background thread in production too) is not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
from collections import defaultdict
from pathlib import Path

from bench import stack
from bench.inprocess import SCENARIOS, gateway


async def profile(scenario: str, requests: int, *, replay: bool) -> tuple[cProfile.Profile, float]:
    """The profile of `requests` requests, and the spans each one made."""
    async with gateway(scenario, replay=replay) as gw:
        before = gw.exporter.spans
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await gw.one()
        profiler.disable()
        gw.telemetry.tracer_provider.force_flush()
        spans = (gw.exporter.spans - before) / requests
    return profiler, spans


def owner(filename: str) -> str:
    """Who a profiled function belongs to: a distribution, one of our modules, or stdlib."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return path.parts[path.parts.index("site-packages") + 1]
    if path.is_relative_to(stack.ROOT):
        return ".".join(path.relative_to(stack.ROOT).with_suffix("").parts)
    if filename.startswith(("<", "~")):
        return "builtins"
    return f"stdlib {path.parent.name if path.parent.name != 'python3.11' else path.stem}"


def by_owner(stats: pstats.Stats, requests: int, top: int) -> str:
    """Own time (tottime) summed by owner: where the time is spent, not who asked for it."""
    totals: dict[str, float] = defaultdict(float)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]  # set by Stats, untyped
    for (filename, _, _), (_, _, own, _, _) in raw.items():
        totals[owner(filename)] += own
    whole = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    return "\n".join(
        f"{seconds / requests * 1e6:9.0f} us/req  {seconds / whole:6.1%}  {name}"
        for name, seconds in ranked
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="nested")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--simulator", action="store_true")
    args = parser.parse_args()
    replay = not args.simulator
    profiler, spans = asyncio.run(profile(args.scenario, args.requests, replay=replay))
    print(f"== {args.scenario}: {spans:g} spans per request")
    views = (
        ("cumulative", "the gateway's own functions", (r"/(gateway|schema)/", args.top)),
        ("cumulative", "everything", (args.top,)),
        ("tottime", "everything", (args.top,)),
    )
    stats = pstats.Stats(profiler)
    print(f"== {args.scenario}: own time by package or module (profiled, so inflated)")
    print(by_owner(stats, args.requests, args.top))
    print()
    for order, scope, restrictions in views:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        total = stats.total_tt  # type: ignore[attr-defined]  # set by Stats, untyped
        stats.sort_stats(order).print_stats(*restrictions)
        print(
            f"== {args.scenario}: {args.requests} requests, {total / args.requests * 1000:.2f}"
            f" ms profiled CPU each (cProfile roughly doubles it); {scope}, by {order}"
            " (a coroutine counts one call per resumption)"
        )
        print(out.getvalue().split("\n\n", 2)[-1].rstrip())
        print()


if __name__ == "__main__":
    main()
