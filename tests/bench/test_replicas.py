"""The replicas benchmark, short: counted rather than timed.

With the shared tier, the fleet makes at most one call per distinct read per TTL window
(the first, then one each time the TTL passed); a replica waiting on a killed holder's lease
still answers; with Redis killed and restarted under reads and writes, every request is
served and afterwards every replica shows each profile's last written name, cached or not."""

from __future__ import annotations

import math

import pytest

from bench import stack
from bench.replicas import parse, run

pytestmark = pytest.mark.slow


def test_three_replicas_for_two_seconds() -> None:
    args = parse(["--duration=2", "--ttl=1", "--cost=1", "--kills=1", "--restart-seconds=4"])
    results = run(args)
    off, on = results.spreads
    assert (off.shared, on.shared) == (False, True)
    assert (off.sample.errors, on.sample.errors) == (0, 0)
    windows = math.ceil(on.sample.seconds / args.ttl) + 1
    assert 0 < on.calls <= on.reads * windows
    assert [cost.name for cost in results.costs] == ["L1 hit", "L2 hit"]
    assert all(cost.sample.errors == 0 and cost.sample.count > 0 for cost in results.costs)
    assert len(results.stalls) == 1
    restart = results.restart
    assert restart is not None
    assert (restart.reads.errors, restart.write_errors, restart.check_errors) == (0, 0, 0)
    assert restart.reads.count > 0
    assert restart.writes > 0
    # Every profile, from each of 3 replicas, over REST and GraphQL, cached then fresh.
    assert restart.checked == stack.PROFILES * 3 * 2 * 2
    assert (restart.stale_after, restart.lost) == (0, 0)
    assert restart.examples == []
