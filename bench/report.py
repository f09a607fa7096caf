"""The gateway benchmark's results: a table (plain or markdown), ratios to the baselines, and
the issue's targets as PASS/MISS lines."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.load import Sample

CEILING_NESTED = "ceiling-nested"
CEILING_PROFILE = "ceiling-profile"
FLOOR = "floor"
FLOOR_ONE = "floor-one"
PROXY = "proxy-one"

# Targets (issue "Performance: cold reads cheaper than the Node.js peer ...").
WARM_NESTED_SHARE = 0.50
WARM_REST_PROFILE_SHARE = 0.40
WARM_GRAPHQL_CPU = 0.00015
COLD_NESTED_ROUND_TRIPS = 1
COLD_NESTED_SLACK = 0.005
COLD_PROFILE_SLACK = 0.001
# Server CPU per request, cold, tracing on.
COLD_CPU = {
    "gql-profile-cold": ("cold messagingProfile(id)", 0.0010),
    "rest-profile-cold": ("cold profile through REST", 0.0007),
    "gql-list-cold": ("cold list of 20 profiles", 0.0020),
    "gql-nested-cold": ("cold nested page", 0.0080),
}


@dataclass(frozen=True)
class Result:
    """One scenario's measurement.

    `upstream` is the simulator's logged requests per completed action (None when not
    counted); `saturated` says the log hit its size limit, so `upstream` is a lower bound.
    `cpu` is the answering server's CPU seconds per completed action, `client_cpu` the load
    generator's. `versus` names the baseline the ratio column compares with.
    """

    key: str
    label: str
    concurrency: int
    sample: Sample
    upstream: float | None
    saturated: bool
    cpu: float | None
    client_cpu: float
    versus: str | None


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def ratio(result: Result, by_key: dict[str, Result]) -> str:
    """Throughput against a ceiling, or median latency against the floor."""
    base = by_key.get(result.versus or "")
    if base is None or not base.sample.count or not result.sample.count:
        return ""
    if result.versus in (FLOOR, FLOOR_ONE):
        return (
            f"p50 {result.sample.percentile(50) / base.sample.percentile(50):.2f}x {result.versus}"
        )
    return f"{result.sample.rate / base.sample.rate:.0%} of {base.key} req/s"


HEADER = (
    "scenario",
    "conc.",
    "done",
    "errors",
    "req/s",
    "p50 ms",
    "p99 ms",
    "upstream/req",
    "server CPU ms/req",
    "client CPU ms/req",
    "vs baseline",
)


def _cells(result: Result, by_key: dict[str, Result]) -> tuple[str, ...]:
    sample = result.sample
    if result.upstream is None:
        upstream = "-"
    else:
        upstream = (">=" if result.saturated else "") + f"{result.upstream:.2f}"
    return (
        result.label,
        str(result.concurrency),
        f"{sample.count:,}",
        str(sample.errors),
        f"{sample.rate:,.0f}",
        _ms(sample.percentile(50)),
        _ms(sample.percentile(99)),
        upstream,
        "-" if result.cpu is None else f"{result.cpu * 1000:.2f}",
        f"{result.client_cpu * 1000:.2f}",
        ratio(result, by_key),
    )


def table(results: list[Result], *, markdown: bool = False) -> str:
    by_key = {result.key: result for result in results}
    rows = [HEADER, *(_cells(result, by_key) for result in results)]
    if markdown:
        align = ["---", *("---:" for _ in HEADER[1:-1]), "---"]
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "| " + " | ".join(align) + " |")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.ljust(width) if i in (0, len(HEADER) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def targets(results: list[Result], latency: float) -> list[str]:
    """One PASS/MISS line per target the run could judge."""
    by_key = {result.key: result for result in results}
    lines = []

    def share(key: str, ceiling: str, wanted: float, what: str) -> None:
        got, base = by_key.get(key), by_key.get(ceiling)
        if got is None or base is None or not base.sample.rate:
            return
        value = got.sample.rate / base.sample.rate
        verdict = "PASS" if value >= wanted else "MISS"
        lines.append(
            f"{verdict}  {what}: {got.sample.rate:,.0f} req/s = {value:.0%} of the "
            f"{ceiling} baseline's {base.sample.rate:,.0f} (target >= {wanted:.0%})"
        )

    for key, (what, limit) in COLD_CPU.items():
        got = by_key.get(key)
        if got is None or got.cpu is None or not got.sample.count:
            continue
        verdict = "PASS" if got.cpu <= limit else "MISS"
        lines.append(
            f"{verdict}  {what}: {got.cpu * 1000:.2f} ms of gateway CPU per request "
            f"(target <= {limit * 1000:.1f} ms)"
        )
    proxy, rest = by_key.get(PROXY), by_key.get("rest-profile-cold")
    if proxy is not None and rest is not None and proxy.cpu is not None and rest.cpu is not None:
        # Not a target: what any Python proxy pays here, for the targets above to be read by.
        lines.append(
            f"NOTE  the least a Python proxy does for a cold read (uvicorn, one aiohttp call, "
            f"nothing else) costs {proxy.cpu * 1000:.2f} ms of CPU per request on this machine; "
            f"the gateway's cold REST read {rest.cpu * 1000:.2f} ms"
        )
    cold, floor = by_key.get("gql-nested-cold"), by_key.get(FLOOR)
    if cold is not None and floor is not None and cold.sample.count and floor.sample.count:
        trip = floor.sample.percentile(50)
        limit = COLD_NESTED_ROUND_TRIPS * trip + COLD_NESTED_SLACK
        p50 = cold.sample.percentile(50)
        verdict = "PASS" if p50 <= limit else "MISS"
        lines.append(
            f"{verdict}  cold nested page: p50 {_ms(p50)} ms vs one round trip (floor p50 "
            f"{_ms(trip)} ms) + {COLD_NESTED_SLACK * 1000:.0f} ms = {_ms(limit)} ms "
            f"(simulated latency {latency * 1000:.0f} ms)"
        )
    one, floor_one = by_key.get("gql-profile-cold"), by_key.get(FLOOR_ONE)
    if one is not None and floor_one is not None and one.sample.count and floor_one.sample.count:
        direct = floor_one.sample.percentile(50)
        p50 = one.sample.percentile(50)
        verdict = "PASS" if p50 <= direct + COLD_PROFILE_SLACK else "MISS"
        lines.append(
            f"{verdict}  cold messagingProfile(id): p50 {_ms(p50)} ms vs the direct call's "
            f"{_ms(direct)} ms + {COLD_PROFILE_SLACK * 1000:.0f} ms"
        )
    warm = by_key.get("gql-profile-warm")
    if warm is not None and warm.cpu is not None and warm.sample.count:
        verdict = "PASS" if warm.cpu <= WARM_GRAPHQL_CPU else "MISS"
        lines.append(
            f"{verdict}  cached GraphQL answer: {warm.cpu * 1000:.3f} ms of gateway CPU per "
            f"request (target <= {WARM_GRAPHQL_CPU * 1000:.2f} ms)"
        )
    share("gql-profile-warm", CEILING_PROFILE, WARM_NESTED_SHARE, "cached GraphQL answer")
    share("gql-nested-warm", CEILING_NESTED, WARM_NESTED_SHARE, "cached nested GraphQL answer")
    share(
        "rest-profile-warm",
        CEILING_PROFILE,
        WARM_REST_PROFILE_SHARE,
        "cached REST read",
    )
    return lines
