"""The gateway benchmark's results: a table (plain or markdown), ratios to the baselines, and
the issue's targets as PASS/MISS lines."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.load import Sample

CEILING_NESTED = "ceiling-nested"
CEILING_PROFILE = "ceiling-profile"
FLOOR = "floor"

# Targets (issue "Performance: benchmark harness, a whole-response cache, and targets").
WARM_NESTED_SHARE = 0.50
COLD_NESTED_ROUND_TRIPS = 2
COLD_NESTED_SLACK = 0.003
WARM_REST_PROFILE_SHARE = 0.60


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
    if result.versus == FLOOR:
        return f"p50 {result.sample.percentile(50) / base.sample.percentile(50):.2f}x floor"
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

    share("gql-nested-warm", CEILING_NESTED, WARM_NESTED_SHARE, "warm nested query")
    cold, floor = by_key.get("gql-nested-cold"), by_key.get(FLOOR)
    if cold is not None and floor is not None and cold.sample.count and floor.sample.count:
        trip = floor.sample.percentile(50)
        limit = COLD_NESTED_ROUND_TRIPS * trip + COLD_NESTED_SLACK
        nominal = COLD_NESTED_ROUND_TRIPS * latency + COLD_NESTED_SLACK
        p50 = cold.sample.percentile(50)
        verdict = "PASS" if p50 <= limit else "MISS"
        lines.append(
            f"{verdict}  cold nested query: p50 {_ms(p50)} ms vs {COLD_NESTED_ROUND_TRIPS} round "
            f"trips (floor p50 {_ms(trip)} ms) + {COLD_NESTED_SLACK * 1000:.0f} ms = "
            f"{_ms(limit)} ms (nominal {COLD_NESTED_ROUND_TRIPS} x {latency * 1000:.0f} ms + "
            f"{COLD_NESTED_SLACK * 1000:.0f} ms = {_ms(nominal)} ms)"
        )
    share(
        "rest-profile-warm",
        CEILING_PROFILE,
        WARM_REST_PROFILE_SHARE,
        "warm messaging profile through REST",
    )
    return lines
