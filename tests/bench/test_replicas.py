"""The replicas benchmark, short: counted rather than timed.

With the shared tier, the fleet makes at most one call per distinct read per TTL window
(the first, then one each time the TTL passed); a replica waiting on a killed holder's lease
still answers."""

from __future__ import annotations

import math

import pytest

from bench.replicas import parse, run

pytestmark = pytest.mark.slow


def test_three_replicas_for_two_seconds() -> None:
    args = parse(["--duration=2", "--ttl=1", "--cost=1", "--kills=1"])
    results = run(args)
    off, on = results.spreads
    assert (off.shared, on.shared) == (False, True)
    assert (off.sample.errors, on.sample.errors) == (0, 0)
    windows = math.ceil(on.sample.seconds / args.ttl) + 1
    assert 0 < on.calls <= on.reads * windows
    assert [cost.name for cost in results.costs] == ["L1 hit", "L2 hit"]
    assert all(cost.sample.errors == 0 and cost.sample.count > 0 for cost in results.costs)
    assert len(results.stalls) == 1
