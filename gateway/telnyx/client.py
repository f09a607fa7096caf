"""The Telnyx client: sends any operation for any tenant, with retries, one deadline, a
per-tenant cap on calls in flight, telemetry, and errors translated into the gateway's tree."""

from __future__ import annotations

import asyncio
import random as _random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import orjson
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from gateway import __version__
from gateway.errors import UpstreamAuthError, UpstreamError, UpstreamUnavailableError
from gateway.telnyx.breaker import Breaker
from gateway.telnyx.budget import UpstreamBudget
from gateway.telnyx.circuit import Ticket, Verdict
from gateway.telnyx.failure import (
    deadline_error,
    error_for_exception,
    error_for_response,
    rate_limit_delay,
    scrubbed,
)
from gateway.telnyx.instrumentation import Instrumentation
from gateway.telnyx.models import RawBody, Request
from gateway.telnyx.operation import Fetched, Operation
from gateway.telnyx.retry import (
    RetryBudget,
    error_is_retryable,
    parse_retry_after,
    response_is_retryable,
    retry_delay,
)
from gateway.telnyx.transport import ACCEPT_ENCODING, Received, Upstream, never_sent
from gateway.tenancy import Tenant

USER_AGENT = f"telnyx-messaging-gateway/{__version__}"
# Visible ASCII only: anything else could not go in a header, and h11 would echo it in errors.
KEY_SHAPE = re.compile(r"[\x21-\x7e]+")

R = TypeVar("R")
Params = Mapping[str, str | int | None] | list[tuple[str, str | int]]


class _DeadlineExceededError(Exception):
    """The call's overall deadline passed while waiting for a slot or an answer."""

    def __init__(self, *, reached: bool) -> None:
        super().__init__()
        self.reached = reached  # False: it passed while waiting for the tenant's slot


class _AbandonedError(Exception):
    """A read in flight was given up: the circuit breaker opened meanwhile."""


class TelnyxClient:
    """Sends operations for any tenant over one shared `Upstream` connection pool.

    The tenant's key goes on each request; the shared pool never holds one. With a
    `breaker`, calls are refused at once while Telnyx is failing; with an `account_budget`,
    each attempt waits for its Telnyx account's turn (gateway/telnyx/budget.py).
    """

    def __init__(
        self,
        upstream: Upstream,
        *,
        base_url: str,
        max_retries: int = 2,
        deadline: float = 20.0,
        max_retry_delay: float = 8.0,
        tenant_concurrency: int = 16,
        retry_budget_ratio: float = 0.2,
        retry_budget_min_per_second: float = 10.0,
        breaker: Breaker | None = None,
        account_budget: UpstreamBudget | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._upstream = upstream
        self._base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._deadline = deadline
        self._max_retry_delay = max_retry_delay
        self._tenant_concurrency = tenant_concurrency
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._instruments = Instrumentation(self._base_url, tracer_provider, meter_provider)
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._budget = RetryBudget(
            ratio=retry_budget_ratio, min_per_second=retry_budget_min_per_second, clock=clock
        )
        self._breaker = breaker
        self._account_budget = account_budget

    async def send(
        self, tenant: Tenant, call: Operation[R], body: Request | RawBody | None = None
    ) -> Fetched[R]:
        """Send one call for `tenant`; its answer, kept as the bytes Telnyx sent.

        A validated body sends only the fields the caller set; a raw one (the REST face's)
        goes as the caller wrote it, for Telnyx to judge.
        """
        operation = type(call)
        response = await self.request(
            tenant,
            operation.operation,
            operation.http.method,
            call.url_path(),
            params=call.query(),
            json=body.to_json() if isinstance(body, Request) else body,
            route=operation.http.path,
        )
        content = response.content
        # A JSON object, at a glance: the envelope is checked when the value is first used,
        # which a REST read never needs.
        if not content.lstrip()[:1] == b"{":
            raise UpstreamError(
                operation.operation, status=response.status_code, reason="unexpected response body"
            )
        return Fetched(operation.operation, content, response.status_code, operation.parse)

    async def request(
        self,
        tenant: Tenant,
        operation: str,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
        route: str | None = None,
    ) -> Received:
        """Send one operation for `tenant`, with retries, and return its 2xx response.

        `path` is relative to the base URL and already encoded; `route` is its template
        (`/short_codes/{id}`), used to name spans. Raises an `UpstreamError` otherwise.
        """
        method = method.upper()
        secret = tenant.telnyx_api_key.get_secret_value()
        if not KEY_SHAPE.fullmatch(secret):
            raise UpstreamAuthError(operation, reason="the tenant's Telnyx API key is malformed")
        headers = {
            "Authorization": f"Bearer {secret}",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": USER_AGENT,
        }
        content = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(dict(json))
        # Encoded once here: httpx's own param merging costs more than the rest of the call.
        pairs = params.items() if isinstance(params, Mapping) else params or ()
        query = urlencode([(key, value) for key, value in pairs if value is not None])
        attempt = _Attempt(method, path, query, content, headers, route)
        if self._breaker is None:
            return await self._exchange(tenant, operation, attempt)
        ticket = self._breaker.enter(tenant.id, operation, read=method == "GET")
        verdict = Verdict.NEUTRAL  # a 4xx, or a caller gone: nothing learnt of Telnyx
        try:
            response = await self._exchange(tenant, operation, attempt, ticket)
        except UpstreamUnavailableError:
            verdict = Verdict.FAILURE
            raise
        else:
            verdict = Verdict.SUCCESS
            return response
        finally:
            ticket.close(verdict)

    async def _exchange(
        self,
        tenant: Tenant,
        operation: str,
        attempt: _Attempt,
        ticket: Ticket | None = None,
    ) -> Received:
        """The attempts of one call, until a 2xx, an error not worth retrying, or the end
        of the retries, the retry budget or the deadline."""
        secret = tenant.telnyx_api_key.get_secret_value()
        deadline = self._clock() + self._deadline
        retries = 0
        method = attempt.method
        self._budget.attempted(tenant.id)
        while True:
            response: Received | None = None
            failure: httpx.RequestError | None = None
            try:
                response = await self._attempt(
                    tenant, attempt, operation, retries, deadline, ticket
                )
            except httpx.RequestError as exc:
                failure = exc
            except _DeadlineExceededError as exc:
                if ticket is not None and exc.reached:
                    ticket.reached = True
                raise deadline_error(operation, self._deadline) from None
            except _AbandonedError:
                raise UpstreamUnavailableError(
                    operation, reason="given up: Telnyx is failing (circuit breaker open)"
                ) from None
            if ticket is not None:
                ticket.reached = True

            # Raised outside the except blocks, so no `__context__` drags the request along.
            if response is not None:
                if response.is_success:
                    return response
                if response.status_code == 429 and self._account_budget is not None:
                    # Every replica holds the account back for as long as Telnyx asks.
                    pause = rate_limit_delay(response, time.time())
                    if pause is not None:
                        await self._account_budget.pause(tenant, pause)
                retryable = response_is_retryable(method, response)
                server_delay = parse_retry_after(response.headers, now=time.time())
            else:
                assert failure is not None  # noqa: S101  -- one of the two is always set
                retryable = error_is_retryable(method, failure, never_sent)
                server_delay = None
            if retryable and retries < self._max_retries:
                delay = retry_delay(
                    retries,
                    server_delay=server_delay,
                    max_delay=self._max_retry_delay,
                    random=self._random,
                )
                # A sleep that ends past the deadline leaves no time for the next attempt.
                if (
                    self._clock() + delay < deadline
                    and (ticket is None or ticket.may_retry())
                    and self._budget.withdraw(tenant.id)
                ):
                    self._instruments.retried(operation)
                    await self._sleep(delay)
                    retries += 1
                    continue
            if response is not None:
                raise error_for_response(operation, response, secret=secret, now=time.time())
            assert failure is not None  # noqa: S101
            raise error_for_exception(operation, failure) from scrubbed(failure, secret=secret)

    async def _attempt(
        self,
        tenant: Tenant,
        attempt: _Attempt,
        operation: str,
        resend_count: int,
        deadline: float,
        ticket: Ticket | None,
    ) -> Received:
        slot = self._slots.get(tenant.id)
        if slot is None:
            slot = self._slots[tenant.id] = asyncio.Semaphore(self._tenant_concurrency)
        try:
            async with asyncio.timeout(self._left(deadline)):
                await slot.acquire()
        except TimeoutError:
            raise _DeadlineExceededError(reached=False) from None
        try:
            if self._account_budget is not None:
                # Taken with the slot held, just before sending: the turns stay as spaced as
                # the budget made them.
                await self._account_budget.take(tenant, deadline=deadline)
            if ticket is not None and self._breaker is not None:
                # It may have waited for the slot (or its turn) while a circuit opened.
                self._breaker.recheck(ticket, operation)
            # A copy per attempt: each carries its own span in `traceparent`.
            headers = dict(attempt.headers)
            with self._instruments.attempt(
                attempt.method,
                attempt.path,
                attempt.query,
                headers,
                operation=operation,
                route=attempt.route,
                resend_count=resend_count,
            ) as record:
                left = self._left(deadline)
                upstream = self._upstream
                scope = asyncio.timeout(left)
                if ticket is not None:
                    # A read still waiting when the breaker opens is given up at once.
                    ticket.watch(scope)
                try:
                    async with scope:
                        response = await upstream.exchange(
                            attempt.method,
                            attempt.url(self._base_url),
                            headers,
                            attempt.content,
                            _clamp(upstream.timeout, left),
                        )
                except TimeoutError:
                    if not scope.expired():
                        raise
                    if ticket is not None and ticket.given_up:
                        record.error_type = "circuit_open"
                        raise _AbandonedError from None
                    record.error_type = "deadline_exceeded"
                    raise _DeadlineExceededError(reached=True) from None
                finally:
                    if ticket is not None:
                        ticket.unwatch(scope)
                record.status = response.status_code
                return response
        finally:
            slot.release()

    def _left(self, deadline: float) -> float:
        return max(deadline - self._clock(), 0.0)


class _Attempt:
    """What each attempt of one call sends."""

    __slots__ = ("content", "headers", "method", "path", "query", "route")

    def __init__(
        self,
        method: str,
        path: str,
        query: str,
        content: bytes | None,
        headers: dict[str, str],
        route: str | None,
    ) -> None:
        self.method, self.path, self.query, self.route = method, path, query, route
        self.content, self.headers = content, headers

    def url(self, base_url: str) -> str:
        return f"{base_url}{self.path}?{self.query}" if self.query else f"{base_url}{self.path}"


def _clamp(timeout: httpx.Timeout, left: float) -> dict[str, float]:
    """Each phase's timeout, cut to the time left before the deadline."""
    return {
        phase: left if limit is None else min(limit, left)
        for phase, limit in timeout.as_dict().items()
    }
