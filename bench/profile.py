"""Where the gateway's CPU goes on a warm read: cProfile over in-process requests.

    .venv/bin/python -m bench.profile [--scenario nested|nested-cold|profile|rest]
                                      [--requests N] [--top N]

The gateway is built by `create_app` over the in-process simulator (httpx.ASGITransport) with
the production settings that matter here: spans recorded and handed to a batch processor,
the default sampler, the cache on, GraphiQL and introspection off. The data is the one
`bench.run` seeds. Requests run one at a time after the cache is filled (`nested-cold`
bypasses it, so the in-process simulator's work, under gateway/simulator/, is in the
figures too); only this thread is profiled, so span export (a background thread in
production too) is not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from pydantic import HttpUrl, SecretStr

from bench import stack
from bench.scenario import NESTED_BODY, PROFILE_QUERY
from gateway.app import create_app
from gateway.config import Settings
from gateway.simulator import Simulator
from gateway.telemetry import build_telemetry
from gateway.tenancy import RateLimit, Tenant, TenantRegistry

TOKEN = "bench-profile-token"  # noqa: S105  -- an in-process tenant, not a secret


class NullExporter(SpanExporter):
    """Counts and drops every batch: the spans are built and queued as in production."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def seeded_simulator() -> tuple[Simulator, list[str]]:
    simulator = Simulator()
    account = simulator.account(stack.TELNYX_KEY)
    for profile in account.add_profiles(stack.PROFILES - len(account.profiles)):
        account.add_phone_numbers(
            stack.PHONE_NUMBERS_PER_PROFILE, messaging_profile_id=profile["id"]
        )
        account.add_short_codes(stack.SHORT_CODES_PER_PROFILE, messaging_profile_id=profile["id"])
    return simulator, list(account.profiles)[: stack.PROFILES]


async def profile(scenario: str, requests: int) -> tuple[cProfile.Profile, float]:
    """The profile of `requests` requests, and the spans each one made."""
    simulator, ids = seeded_simulator()
    settings = Settings(
        demo=True,  # Settings insists on a tenants file otherwise; the tenants come below
        graphiql=False,
        introspection=False,
        telnyx_base_url=HttpUrl("http://simulator.test/v2"),
        otel_sdk_disabled=True,  # no OTLP exporter here: the null one is added below
    )
    telemetry = build_telemetry(settings)
    exporter = NullExporter()
    telemetry.tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    rate = RateLimit(per_second=1_000_000.0, burst=1_000_000)
    tenant = Tenant(stack.TENANT_ID, SecretStr(stack.TELNYX_KEY), rate)
    app = create_app(
        settings,
        upstream_transport=httpx.ASGITransport(app=simulator.app),
        tenants=TenantRegistry.from_tokens([(tenant, TOKEN)]),
        telemetry=telemetry,
    )
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test", headers=headers
    ) as client:

        async def one() -> None:
            if scenario.startswith("nested"):
                cold = {"Cache-Control": "no-cache"} if scenario == "nested-cold" else {}
                response = await client.post("/graphql", content=NESTED_BODY, headers=cold)
            elif scenario == "profile":
                query = {"query": PROFILE_QUERY, "variables": {"id": ids[0]}}
                response = await client.post("/graphql", json=query)
            else:
                response = await client.get(f"/v2/messaging_profiles/{ids[0]}")
            if response.status_code != 200 or b'"errors"' in response.content:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")

        for _ in range(20):  # fill the cache and warm the code paths
            await one()
        telemetry.tracer_provider.force_flush()
        before = exporter.spans
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await one()
        profiler.disable()
    telemetry.tracer_provider.force_flush()
    spans = (exporter.spans - before) / requests
    telemetry.shutdown()
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
    parser.add_argument(
        "--scenario", choices=("nested", "nested-cold", "profile", "rest"), default="nested"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    profiler, spans = asyncio.run(profile(args.scenario, args.requests))
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
