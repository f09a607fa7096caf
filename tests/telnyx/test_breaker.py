"""The circuit breaker's states, who may open which circuit, its probes, and what SREs see:
the state gauge, the transition and rejection counters, span events and one log line per
transition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.errors import CircuitOpenError, UpstreamError, UpstreamUnavailableError
from gateway.telnyx.breaker import Breaker
from gateway.telnyx.circuit import Policy, State, Ticket, Verdict
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import UpdateMessagingProfileRequest
from gateway.telnyx.operations import RetrieveMessagingProfile, UpdateMessagingProfile
from tests.telnyx.support import (
    PROFILE,
    PROFILE_ID,
    FakeTime,
    Upstream,
    error,
    make_client,
    one,
    tenant,
)

POLICY = Policy(window=4, min_calls=4, failure_ratio=0.5, reset_timeout=10.0, probes=2)


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    breaker: Breaker
    clock: Clock
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    opened: list[tuple[str | None, float]] = field(default_factory=list)

    def call(
        self, tenant: str, verdict: Verdict, *, read: bool = True, reached: bool = True
    ) -> Ticket:
        """One call of `tenant` through the breaker, ending with `verdict`."""
        ticket = self.breaker.enter(tenant, "retrieve_messaging_profile", read=read)
        ticket.reached = reached
        ticket.close(verdict)
        return ticket

    def refused(self, tenant: str, *, read: bool = True) -> CircuitOpenError:
        with pytest.raises(CircuitOpenError) as refused:
            self.breaker.enter(tenant, "retrieve_messaging_profile", read=read)
        return refused.value

    def points(self, name: str) -> dict[frozenset[tuple[str, Any]], int | float]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return {
            frozenset((point.attributes or {}).items()): point.value
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
            if isinstance(point, NumberDataPoint)
        }


@pytest.fixture
def rig() -> Iterator[Rig]:
    clock = Clock()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    breaker = Breaker(
        POLICY, clock=clock, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    rig = Rig(breaker, clock, spans, reader, tracer_provider)
    breaker.on_open(lambda tenant, seconds: rig.opened.append((tenant, seconds)))
    yield rig
    tracer_provider.shutdown()
    meter_provider.shutdown()


def states(rig: Rig) -> tuple[State, ...]:
    return rig.breaker.host.state, rig.breaker.account("acme").state


def test_a_circuit_opens_once_half_of_a_full_window_failed(rig: Rig) -> None:
    for verdict in (Verdict.FAILURE, Verdict.FAILURE, Verdict.FAILURE):
        rig.call("acme", verdict)
    assert states(rig) == (State.CLOSED, State.CLOSED)  # 3 calls: fewer than min_calls
    rig.call("acme", Verdict.SUCCESS)
    assert states(rig) == (State.CLOSED, State.OPEN)
    refused = rig.refused("acme")
    assert (refused.retry_after, refused.scope) == (10.0, "account")
    rig.clock.now += 4
    assert rig.refused("acme").retry_after == 6.0
    assert rig.opened == [("acme", 10.0)]


def test_successes_keep_it_closed(rig: Rig) -> None:
    # Never more than one failure among any four calls in a row.
    for verdict in [Verdict.SUCCESS, Verdict.FAILURE, Verdict.SUCCESS, Verdict.SUCCESS] * 5:
        rig.call("acme", verdict)
    assert states(rig) == (State.CLOSED, State.CLOSED)


@pytest.mark.parametrize("unreached", [True, False], ids=["never-reached-telnyx", "4xx"])
def test_4xx_and_calls_that_never_reached_telnyx_are_not_counted(rig: Rig, unreached: bool) -> None:
    for _ in range(20):
        if unreached:
            rig.call("acme", Verdict.FAILURE, reached=False)
        else:
            rig.call("acme", Verdict.NEUTRAL)
    rig.call("acme", Verdict.FAILURE)
    assert states(rig) == (State.CLOSED, State.CLOSED)


def test_one_tenants_failures_open_only_its_own_circuit(rig: Rig) -> None:
    for _ in range(4):
        rig.call("acme", Verdict.FAILURE)
    for _ in range(16):
        rig.refused("acme")
    assert states(rig) == (State.CLOSED, State.OPEN)
    rig.call("globex", Verdict.SUCCESS)
    assert rig.breaker.account("globex").state is State.CLOSED
    assert rig.opened == [("acme", 10.0)]


def test_the_hosts_circuit_opens_on_failures_of_two_tenants(rig: Rig) -> None:
    for _ in range(4):
        rig.call("acme", Verdict.FAILURE)
    rig.call("globex", Verdict.FAILURE)
    # The last four calls all failed, three of acme's and one of globex's.
    assert states(rig) == (State.OPEN, State.OPEN)
    assert rig.breaker.account("globex").state is State.CLOSED
    refused = rig.refused("initech")
    assert (refused.retry_after, refused.scope) == (10.0, "host")
    assert rig.opened == [("acme", 10.0), (None, 10.0)]


def test_half_open_lets_a_bounded_number_of_reads_through_and_closes_on_their_success(
    rig: Rig,
) -> None:
    for _ in range(4):
        rig.call("acme", Verdict.FAILURE)
    rig.clock.now += 10
    assert rig.refused("acme", read=False).retry_after == 0.0  # no write probes
    first = rig.breaker.enter("acme", "retrieve_messaging_profile", read=True)
    second = rig.breaker.enter("acme", "retrieve_messaging_profile", read=True)
    assert states(rig) == (State.CLOSED, State.HALF_OPEN)
    assert (first.probe, second.probe, first.may_retry()) == (True, True, False)
    rig.refused("acme")  # both probes are out
    for ticket in (first, second):
        ticket.reached = True
        ticket.close(Verdict.SUCCESS)
    assert states(rig) == (State.CLOSED, State.CLOSED)
    assert rig.call("acme", Verdict.SUCCESS, read=False).may_retry()


def test_a_failed_probe_opens_it_again_and_a_neutral_one_gives_its_place_back(
    rig: Rig,
) -> None:
    for _ in range(4):
        rig.call("acme", Verdict.FAILURE)
    rig.clock.now += 10
    rig.call("acme", Verdict.NEUTRAL)
    rig.call("acme", Verdict.FAILURE, reached=False)
    probe = rig.breaker.enter("acme", "retrieve_messaging_profile", read=True)
    rig.call("acme", Verdict.FAILURE)
    assert states(rig) == (State.CLOSED, State.OPEN)
    assert rig.refused("acme").retry_after == 10.0
    # The probe out when it opened again is from a state that is gone: not counted.
    probe.reached = True
    probe.close(Verdict.SUCCESS)
    assert states(rig) == (State.CLOSED, State.OPEN)


def test_a_tenant_probing_its_own_circuit_does_not_vote_on_the_hosts(rig: Rig) -> None:
    for who, verdict in [("acme", Verdict.FAILURE), ("globex", Verdict.SUCCESS)]:
        for _ in range(4):
            rig.call(who, verdict)
    rig.clock.now += 10
    rig.call("acme", Verdict.FAILURE)  # acme's probe fails
    rig.call("globex", Verdict.FAILURE)
    # Had acme's probe counted, the host's window would be S S F F, from two tenants.
    assert states(rig) == (State.CLOSED, State.OPEN)
    assert rig.opened == [("acme", 10.0), ("acme", 10.0)]


def test_another_replicas_news_opens_a_circuit_without_being_announced_again(
    rig: Rig,
) -> None:
    rig.breaker.announced(None, 4.0)
    rig.breaker.announced("acme", 60.0)  # no longer than this replica's own reset timeout
    assert states(rig) == (State.OPEN, State.OPEN)
    assert rig.refused("globex").retry_after == 4.0
    assert rig.refused("acme").retry_after == 10.0
    rig.breaker.announced(None, 2.0)  # an earlier end does not shorten it
    assert rig.refused("globex").retry_after == 4.0
    rig.breaker.announced("initech", -1.0)
    assert rig.breaker.account("initech").state is State.CLOSED
    assert rig.opened == []


def test_state_gauge_and_transition_and_rejection_counters(rig: Rig) -> None:
    assert rig.points("gateway.upstream.circuit.transitions") == {
        frozenset({("circuit", "host"), ("from", left), ("to", entered)}): 0
        for left, entered in [
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "closed"),
            ("half_open", "open"),
        ]
    }
    for _ in range(4):
        rig.call("acme", Verdict.FAILURE)
    rig.refused("acme")
    rig.refused("acme")
    rig.clock.now += 10
    probe = rig.breaker.enter("acme", "retrieve_messaging_profile", read=True)
    assert rig.points("gateway.upstream.circuit.state") == {
        frozenset({("circuit", "host")}): 0,
        frozenset({("circuit", "account"), ("tenant_id", "acme")}): 1,
    }
    probe.close(Verdict.NEUTRAL)
    transitions = rig.points("gateway.upstream.circuit.transitions")
    account = {("circuit", "account"), ("tenant_id", "acme")}
    assert transitions[frozenset({*account, ("from", "closed"), ("to", "open")})] == 1
    assert transitions[frozenset({*account, ("from", "open"), ("to", "half_open")})] == 1
    assert len(transitions) == 6
    assert rig.points("gateway.upstream.circuit.rejections") == {
        frozenset({("circuit", "host")}): 0,
        frozenset(account): 2,
    }


def test_span_events_for_each_rejection_and_each_change(rig: Rig) -> None:
    tracer = rig.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("telnyx.retrieve_messaging_profile"):
        for _ in range(4):
            rig.call("acme", Verdict.FAILURE)
        rig.clock.now += 2.5
        rig.refused("acme")
    rig.breaker.announced(None, 3.0)  # no call is current: a span of its own
    call, news = rig.spans.get_finished_spans()
    assert call.name == "telnyx.retrieve_messaging_profile"
    assert [(event.name, dict(event.attributes or {})) for event in call.events] == [
        (
            "gateway.circuit.transition",
            {
                "gateway.circuit": "account",
                "gateway.circuit.from": "closed",
                "gateway.circuit.to": "open",
                "gateway.circuit.reason": "4 of the last 4 calls failed",
                "gateway.tenant.id": "acme",
                "gateway.circuit.retry_after_s": 10.0,
            },
        ),
        (
            "gateway.circuit.rejected",
            {
                "gateway.circuit": "account",
                "gateway.circuit.state": "open",
                "gateway.circuit.retry_after_s": 7.5,
                "telnyx.operation": "retrieve_messaging_profile",
            },
        ),
    ]
    assert news.name == "gateway.circuit"
    assert [(event.name, dict(event.attributes or {})) for event in news.events] == [
        (
            "gateway.circuit.transition",
            {
                "gateway.circuit": "host",
                "gateway.circuit.from": "closed",
                "gateway.circuit.to": "open",
                "gateway.circuit.reason": "another replica opened it",
                "gateway.circuit.retry_after_s": 3.0,
            },
        )
    ]


def test_one_log_line_per_transition(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="gateway.telnyx.breaker"):
        for _ in range(4):
            rig.call("acme", Verdict.FAILURE)
        for _ in range(5):
            rig.refused("acme")
        rig.clock.now += 10
        rig.call("acme", Verdict.SUCCESS)
        rig.call("acme", Verdict.SUCCESS)
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        (
            "WARNING",
            "circuit breaker for tenant acme: closed -> open (4 of the last 4 calls failed)",
        ),
        (
            "INFO",
            "circuit breaker for tenant acme: open -> half_open (the reset timeout has passed)",
        ),
        ("INFO", "circuit breaker for tenant acme: half_open -> closed (2 probes succeeded)"),
    ]


# --- through the client: what counts, what is sent ----------------------------------------


def client_with_breaker(upstream: Upstream, **options: Any) -> tuple[TelnyxClient, Breaker]:
    time = FakeTime()
    breaker = Breaker(POLICY, clock=time.clock)
    return make_client(upstream, time=time, breaker=breaker, **options), breaker


@pytest.mark.parametrize(
    "failure",
    [error(503), httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")],
    ids=["5xx", "timeout", "connection-failure"],
)
async def test_calls_failing_after_their_retries_open_it(failure: Any) -> None:
    upstream = Upstream([failure])
    client, breaker = client_with_breaker(upstream)
    for _ in range(4):
        with pytest.raises(UpstreamUnavailableError) as failed:
            await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
        assert not isinstance(failed.value, CircuitOpenError)
    assert len(upstream.requests) == 12  # each call: an attempt and two retries
    assert breaker.account("acme").state is State.OPEN
    with pytest.raises(CircuitOpenError):
        await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    with pytest.raises(CircuitOpenError):
        await client.send(
            tenant(), UpdateMessagingProfile(id=PROFILE_ID), UpdateMessagingProfileRequest(name="x")
        )
    assert len(upstream.requests) == 12  # neither was sent


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
async def test_4xx_answers_never_open_it(status: int) -> None:
    upstream = Upstream([error(status, {"code": "1", "title": "no"})] * 20 + [one(PROFILE)])
    client, breaker = client_with_breaker(upstream, max_retries=0)
    for _ in range(20):
        with pytest.raises(UpstreamError):
            await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    fetched = await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert fetched.status == 200
    assert (breaker.host.state, breaker.account("acme").state) == (State.CLOSED, State.CLOSED)


async def test_a_probe_is_sent_once_without_retries() -> None:
    upstream = Upstream([error(503)])
    time = FakeTime()
    breaker = Breaker(POLICY, clock=time.clock)
    client = make_client(upstream, time=time, breaker=breaker, max_retries=0)
    for _ in range(4):
        with pytest.raises(UpstreamUnavailableError):
            await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    client = make_client(upstream, time=time, breaker=breaker, max_retries=2)
    time.now += POLICY.reset_timeout
    with pytest.raises(UpstreamUnavailableError) as failed:
        await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    assert not isinstance(failed.value, CircuitOpenError)
    assert len(upstream.requests) == 5  # the probe went once
    assert breaker.account("acme").state is State.OPEN


async def test_reads_waiting_on_telnyx_are_given_up_when_it_opens_and_writes_are_not() -> None:
    hung = "9a3f1c2e-0000-4000-8000-000000000001"
    forever = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if hung in request.url.path:
            await forever.wait()
        return error(503)

    client, _ = client_with_breaker(Upstream([answer]), max_retries=0)
    read = asyncio.create_task(client.send(tenant(), RetrieveMessagingProfile(id=hung)))
    write = asyncio.create_task(
        client.send(
            tenant(), UpdateMessagingProfile(id=hung), UpdateMessagingProfileRequest(name="x")
        )
    )
    await asyncio.sleep(0.01)
    for _ in range(4):
        with pytest.raises(UpstreamUnavailableError):
            await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    await asyncio.wait([read], timeout=5)
    assert isinstance(read.exception(), UpstreamUnavailableError)
    assert str(read.exception()) == (
        "Telnyx retrieve_messaging_profile: given up: Telnyx is failing (circuit breaker open)"
    )
    assert not write.done()
    write.cancel()
    await asyncio.wait([write])


async def test_a_call_still_waiting_for_its_tenants_slot_when_it_opens_is_not_sent() -> None:
    forever = asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        await forever.wait()
        return one(PROFILE)

    upstream = Upstream([answer])
    client, breaker = client_with_breaker(upstream, tenant_concurrency=1)
    sent = asyncio.create_task(client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID)))
    waiting = asyncio.create_task(
        client.send(
            tenant(), UpdateMessagingProfile(id=PROFILE_ID), UpdateMessagingProfileRequest(name="x")
        )
    )
    await asyncio.sleep(0.01)
    breaker.announced("acme", 5.0)  # another replica saw acme's calls fail
    await asyncio.wait([sent, waiting], timeout=5)
    assert type(sent.exception()) is UpstreamUnavailableError  # given up
    assert type(waiting.exception()) is CircuitOpenError
    assert [request.method for request in upstream.requests] == ["GET"]
