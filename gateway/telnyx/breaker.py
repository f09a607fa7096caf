"""The circuit breaker in front of Telnyx: while Telnyx is failing, calls are refused at
once instead of each waiting out the deadline, and the cache serves what it still has.

Two kinds of circuit (`gateway.telnyx.circuit`), and a call passes both:

- one per account (tenant), which judges that tenant's calls and holds back only them;
- one for Telnyx's host, shared by every tenant, which judges the calls of the tenants whose
  own circuit is closed and opens only when the failures come from two tenants or more.

So an outage is learnt once for everyone, while a tenant whose calls fail for reasons of its
own (a request Telnyx chokes on, an incident on its account, a hostile caller) holds back
only itself. `docs/architecture.md` says why at more length.

A call is judged once, after its retries: a timeout, a connection failure or a 5xx is a
failure and a 2xx a success. A 4xx (401, 403 and 429 included) says nothing about Telnyx's
health, and neither does a call that never reached it (its tenant's cap kept it waiting past
the deadline) or whose caller went away: those are not counted.

Open, a circuit refuses calls without sending them; as it opens, the reads it let through
that still wait on Telnyx are given up (their callers get the stale value or the error now,
not at their deadline), and calls let through but not sent yet (waiting for their tenant's
slot) are refused; writes already sent keep their deadline. Half-open, only reads probe,
unretried: a write that timed out may or may not have been applied.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from gateway import __version__
from gateway.errors import CircuitOpenError
from gateway.telemetry import Tally
from gateway.telnyx.circuit import Circuit, Policy, State, Ticket

log = logging.getLogger(__name__)

SCOPE = "gateway.telnyx.breaker"
HOST = "host"
ACCOUNT = "account"
# One tenant's failures alone never open the host's circuit.
HOST_MIN_FAILING_TENANTS = 2
# Account circuits are made for tenants that call, and for those other replicas announce:
# a bound on the second, since a message on the Redis channel could name any id.
MAX_ACCOUNTS = 10_000


# Told when a circuit opened on this replica's own evidence: (tenant or None for the
# host's circuit, seconds until it probes).
OnOpen = Callable[[str | None, float], object]


class Breaker:
    """The host's circuit and one per account, with their metrics, span events and logs."""

    def __init__(
        self,
        policy: Policy,
        *,
        clock: Callable[[], float] = time.monotonic,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._on_open: OnOpen | None = None
        self.host = self._circuit(HOST, None)
        self._accounts: dict[str, Circuit] = {}
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        meter.create_observable_gauge(
            "gateway.upstream.circuit.state",
            callbacks=[self._observe],
            description="Circuit breaker state towards Telnyx: 0 closed, 1 half-open, 2 open.",
        )
        self._transitions = Tally(
            meter,
            "gateway.upstream.circuit.transitions",
            labels=("circuit", "tenant_id", "from", "to"),
            unit="{transition}",
            description="Circuit breaker state changes.",
        )
        self._rejections = Tally(
            meter,
            "gateway.upstream.circuit.rejections",
            labels=("circuit", "tenant_id"),
            unit="{call}",
            description="Upstream calls refused without being sent, by the circuit that refused.",
        )
        # Present from the start, so that rate() and increase() see the first ones.
        for left, entered in _TRANSITIONS:
            self._transitions.declare((HOST, None, left.label, entered.label))
        self._rejections.declare((HOST, None))

    def on_open(self, listener: OnOpen) -> None:
        """Call `listener(tenant, seconds)` whenever a circuit opens on this replica's own
        evidence (`tenant` None: the host's circuit), to tell the other replicas."""
        self._on_open = listener

    def _circuit(self, scope: str, tenant: str | None) -> Circuit:
        return Circuit(
            scope,
            tenant,
            self._policy,
            clock=self._clock,
            notify=self._changed,
            min_failing_tenants=HOST_MIN_FAILING_TENANTS if scope == HOST else 1,
        )

    def account(self, tenant: str) -> Circuit:
        circuit = self._accounts.get(tenant)
        if circuit is None:
            circuit = self._accounts[tenant] = self._circuit(ACCOUNT, tenant)
        return circuit

    def enter(self, tenant: str, operation: str, *, read: bool) -> Ticket:
        """Let one call of `tenant` through, or raise `CircuitOpenError` at once."""
        account = self.account(tenant)
        own = account.enter(may_probe=read)
        if own is None:
            raise self._refuse(account, operation)
        host = self.host.enter(may_probe=read)
        if host is None:
            account.cancel(own)
            raise self._refuse(self.host, operation)
        return Ticket(tenant, read, account, self.host, own, host)

    def recheck(self, ticket: Ticket, operation: str) -> None:
        """Refuse after all a call let through that has not been sent yet, when a circuit
        it passed has opened since."""
        for circuit, entry in (
            (ticket.account, ticket.through_account),
            (ticket.host, ticket.through_host),
        ):
            if not circuit.still_admits(entry):
                raise self._refuse(circuit, operation)

    def announced(self, tenant: str | None, seconds: float) -> None:
        """Another replica opened a circuit (`tenant`'s, or the host's when None)."""
        known = tenant is None or tenant in self._accounts
        if not known and len(self._accounts) >= MAX_ACCOUNTS:
            return
        circuit = self.host if tenant is None else self.account(tenant)
        circuit.announced(min(max(seconds, 0.0), self._policy.reset_timeout))

    def _refuse(self, circuit: Circuit, operation: str) -> CircuitOpenError:
        self._rejections.add((circuit.scope, circuit.tenant))
        retry_after = circuit.retry_after()
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event(
                "gateway.circuit.rejected",
                {
                    "gateway.circuit": circuit.scope,
                    "gateway.circuit.state": circuit.state.label,
                    "gateway.circuit.retry_after_s": round(retry_after, 3),
                    "telnyx.operation": operation,
                },
            )
        return CircuitOpenError(operation, retry_after=retry_after, scope=circuit.scope)

    def _changed(self, circuit: Circuit, left: State, reason: str, announced: bool) -> None:
        entered = circuit.state
        self._transitions.add((circuit.scope, circuit.tenant, left.label, entered.label))
        fields: dict[str, str | float] = {
            "gateway.circuit": circuit.scope,
            "gateway.circuit.from": left.label,
            "gateway.circuit.to": entered.label,
            "gateway.circuit.reason": reason,
        }
        if circuit.tenant is not None:
            fields["gateway.tenant.id"] = circuit.tenant
        if entered is State.OPEN:
            fields["gateway.circuit.retry_after_s"] = round(circuit.retry_after(), 3)
        whose = "Telnyx" if circuit.tenant is None else f"tenant {circuit.tenant}"
        log.log(
            logging.WARNING if entered is State.OPEN else logging.INFO,
            "circuit breaker for %s: %s -> %s (%s)",
            whose,
            left.label,
            entered.label,
            reason,
            extra={"fields": fields},
        )
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("gateway.circuit.transition", fields)
        else:
            # A change no call caused (another replica's announcement): a span of its own.
            with self._tracer.start_as_current_span("gateway.circuit") as own:
                own.add_event("gateway.circuit.transition", fields)
        if entered is State.OPEN and not announced and self._on_open is not None:
            self._on_open(circuit.tenant, circuit.retry_after())

    def _observe(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(int(self.host.state), {"circuit": HOST})
        for tenant, circuit in list(self._accounts.items()):
            yield Observation(int(circuit.state), {"circuit": ACCOUNT, "tenant_id": tenant})


_TRANSITIONS = (
    (State.CLOSED, State.OPEN),
    (State.OPEN, State.HALF_OPEN),
    (State.HALF_OPEN, State.CLOSED),
    (State.HALF_OPEN, State.OPEN),
)
