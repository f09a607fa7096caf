"""The outage benchmark, short: two seconds of load against a hung Telnyx, breaker on.

What it must show, counted rather than timed: the reads before the breaker learnt the outage
went to Telnyx and failed (or were served stale), and every read after was answered without
a call, stale where the cache had the value, and the gateway fresh again afterwards."""

from __future__ import annotations

import math

import pytest

from bench.outage import BURST, measure, parse

pytestmark = pytest.mark.slow


def test_a_short_outage_with_the_breaker() -> None:
    args = parse(
        [
            "--outage=2",
            "--deadline=1",
            "--only=after",
            "--cached=2",
            "--cold=1",
            "--set=GATEWAY_UPSTREAM_CIRCUIT_RESET_TIMEOUT=3",
        ]
    )
    (outage,) = measure(args)
    assert outage.name == "after"
    assert (outage.first_stale.outcome, outage.next_stale.outcome) == ("200 STALE", "200 STALE")
    assert [read.outcome for read in outage.burst] == ["503"] * BURST
    assert outage.next_cold.outcome == "503"
    assert len(outage.cached) > 2  # more than each worker's first read
    assert {read.outcome for read in outage.cached} == {"200 STALE"}
    assert {read.outcome for read in outage.cold} == {"503"}
    # The burst, the first stale read and each worker's first read reached Telnyx; a worker
    # whose first read failed before the breaker had counted ten failures sent a second one
    # at once; nothing after those (the breaker probes three seconds after it opened).
    workers = 2 + 1
    assert BURST + 1 + workers <= outage.upstream_attempts <= BURST + 1 + 2 * workers
    assert not math.isnan(outage.recovery)
