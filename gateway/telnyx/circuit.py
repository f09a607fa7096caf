"""One circuit: closed -> open -> half-open -> closed over a rolling window of calls, and a
call's passage through the circuits it must pass (`Ticket`). `gateway.telnyx.breaker` says
which circuits there are and what counts.

A circuit opens when at least `min_calls` calls are in its window of the last `window` and
`failure_ratio` of them failed, from at least `min_failing_tenants` tenants. Open, it lets nothing through until `reset_timeout` has
passed; as it opens, it ends the attempts of the reads it let through that still wait on
Telnyx. Half-open, it lets `probes` reads through as probes: one failure opens it again,
`probes` successes close it, and a probe that says nothing (a 4xx) gives its place back.
Every change of state starts a new epoch; a verdict from an older one is not counted.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class State(enum.IntEnum):
    """A circuit's state; the value is what `gateway_upstream_circuit_state` reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Verdict(enum.Enum):
    """What one call, retries included, says about Telnyx's health."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class Policy:
    """When circuits open, and for how long."""

    window: int = 20
    min_calls: int = 10
    failure_ratio: float = 0.5
    reset_timeout: float = 10.0
    probes: int = 3


@dataclass(frozen=True, slots=True)
class Entry:
    """How a call passed one circuit: as a probe or not, and in which of its states (each
    change of state starts a new epoch; a verdict from an older one is not counted)."""

    probe: bool
    epoch: int


# (circuit, the state it left, why, whether another replica announced it)
Notify = Callable[["Circuit", State, str, bool], None]


class Circuit:
    """One closed / open / half-open state machine over a rolling window of verdicts."""

    def __init__(
        self,
        scope: str,
        tenant: str | None,
        policy: Policy,
        *,
        clock: Callable[[], float],
        notify: Notify,
        min_failing_tenants: int = 1,
    ) -> None:
        self.scope = scope
        self.tenant = tenant
        self.state = State.CLOSED
        self.open_until = 0.0
        self._policy = policy
        self._clock = clock
        self._notify = notify
        self._min_failing_tenants = min_failing_tenants
        # (tenant, failed) of the last calls judged while closed.
        self._window: deque[tuple[str, bool]] = deque(maxlen=policy.window)
        self._failures = 0  # in the window
        self._epoch = 0
        self._probes_left = 0
        self._successes = 0
        # The attempts of reads in flight, given up at once when the circuit opens.
        self._watched: dict[asyncio.Timeout, Ticket] = {}

    def retry_after(self) -> float:
        """Seconds until the circuit lets a probe through (0 when it would now)."""
        return max(self.open_until - self._clock(), 0.0)

    def enter(self, *, may_probe: bool) -> Entry | None:
        """Let a call through (None: refuse it). Only a call that `may_probe` (a read)
        passes a circuit that is not closed, as one of its probes."""
        if self.state is State.CLOSED:
            return Entry(probe=False, epoch=self._epoch)
        if self.state is State.OPEN:
            if not may_probe or self._clock() < self.open_until:
                return None
            self._probes_left, self._successes = self._policy.probes, 0
            self._move(State.HALF_OPEN, "the reset timeout has passed")
        if not may_probe or self._probes_left == 0:
            return None
        self._probes_left -= 1
        return Entry(probe=True, epoch=self._epoch)

    def still_admits(self, entry: Entry) -> bool:
        """Whether a call let through as `entry` may still be sent: yes while closed, and
        while the state it was let through in lasts."""
        return self.state is State.CLOSED or entry.epoch == self._epoch

    def cancel(self, entry: Entry) -> None:
        """The call let through will not be sent after all: give its probe back."""
        if entry.probe and entry.epoch == self._epoch:
            self._probes_left += 1

    def record(self, entry: Entry, verdict: Verdict, tenant: str) -> None:
        """Count the verdict of a call let through as `entry`."""
        if entry.epoch != self._epoch:
            return
        if entry.probe:
            if verdict is Verdict.NEUTRAL:
                self._probes_left += 1
            elif verdict is Verdict.FAILURE:
                self._open("a probe failed", self._policy.reset_timeout)
            else:
                self._successes += 1
                if self._successes >= self._policy.probes:
                    self._move(State.CLOSED, f"{self._successes} probes succeeded")
            return
        if verdict is Verdict.NEUTRAL:
            return
        if len(self._window) == self._window.maxlen and self._window[0][1]:
            self._failures -= 1
        failed = verdict is Verdict.FAILURE
        self._window.append((tenant, failed))
        self._failures += failed
        self._judge()

    def watch(self, scope: asyncio.Timeout, ticket: Ticket) -> None:
        self._watched[scope] = ticket

    def unwatch(self, scope: asyncio.Timeout) -> None:
        self._watched.pop(scope, None)

    def announced(self, seconds: float) -> None:
        """Another replica opened this circuit for `seconds` more."""
        until = self._clock() + seconds
        if self.state is State.OPEN:
            self.open_until = max(self.open_until, until)
        elif seconds > 0:
            self._open("another replica opened it", seconds, announced=True)

    def _judge(self) -> None:
        calls = len(self._window)
        if calls < self._policy.min_calls or self._failures < self._policy.failure_ratio * calls:
            return
        failing = {tenant for tenant, failed in self._window if failed}
        if len(failing) < self._min_failing_tenants:
            return
        self._open(f"{self._failures} of the last {calls} calls failed", self._policy.reset_timeout)

    def _open(self, reason: str, seconds: float, *, announced: bool = False) -> None:
        self.open_until = self._clock() + seconds
        self._move(State.OPEN, reason, announced=announced)
        if self._watched:
            # Waiting on for what has just been judged failing would only delay the stale
            # value or the error: end those attempts now.
            now = asyncio.get_running_loop().time()
            for scope, ticket in self._watched.items():
                if not scope.expired():
                    ticket.given_up = True
                    scope.reschedule(now)
            self._watched.clear()

    def _move(self, state: State, reason: str, *, announced: bool = False) -> None:
        left = self.state
        self.state = state
        self._epoch += 1
        self._window.clear()
        self._failures = 0
        self._notify(self, left, reason, announced)


@dataclass(slots=True, eq=False)
class Ticket:
    """One call's passage through the breaker. The client sets `reached` once an attempt
    got past the tenant's cap, towards Telnyx, has a read's attempts `watch`ed, and
    `close`s it with the call's verdict. `given_up`: a circuit opened while a read's
    attempt was waiting, and ended it."""

    tenant: str
    read: bool
    account: Circuit
    host: Circuit
    through_account: Entry
    through_host: Entry
    reached: bool = False
    given_up: bool = False

    @property
    def probe(self) -> bool:
        return self.through_account.probe or self.through_host.probe

    def watch(self, scope: asyncio.Timeout) -> None:
        """Let either circuit end the attempt `scope` bounds, should it open (reads only:
        a write's outcome is worth its whole deadline)."""
        if self.read:
            self.account.watch(scope, self)
            self.host.watch(scope, self)

    def unwatch(self, scope: asyncio.Timeout) -> None:
        self.account.unwatch(scope)
        self.host.unwatch(scope)

    def may_retry(self) -> bool:
        """Probes are never retried, nor any call once a circuit it passed has opened."""
        return (
            not self.probe
            and self.account.state is State.CLOSED
            and self.host.state is State.CLOSED
        )

    def close(self, verdict: Verdict) -> None:
        """Count the call's verdict; a call that never reached Telnyx says nothing."""
        if not self.reached:
            verdict = Verdict.NEUTRAL
        self.account.record(self.through_account, verdict, self.tenant)
        # A tenant probing its own circuit is no witness of Telnyx's health, unless it
        # probes the host's circuit too.
        if self.through_host.probe or not self.through_account.probe:
            self.host.record(self.through_host, verdict, self.tenant)
