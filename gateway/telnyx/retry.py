"""When to retry an upstream call and how long to wait: the official SDKs' rules, made safer.

Statuses 408, 409, 429 and >= 500 and transient transport failures are retried, and a server
``x-should-retry: true/false`` header overrides the status rules. A create (POST) is not
idempotent, so it is retried only on 429 or when the request certainly never left this host.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable

import httpx

from gateway.telnyx.transport import Received

RETRYABLE_STATUSES = frozenset({408, 409, 429})
INITIAL_RETRY_DELAY = 0.5
# The Python SDK ignores a server-given delay outside (0, 60] seconds and backs off instead.
MAX_SERVER_DELAY = 60.0

# Transport failures worth another attempt; UnsupportedProtocol, ProxyError, LocalProtocolError
# and DecodingError would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def response_is_retryable(method: str, response: Received) -> bool:
    """Whether Telnyx's answer invites another attempt of this method."""
    override = response.headers.get("x-should-retry")
    # The server knows whether it acted on the request, so its word outranks our POST caution.
    if override == "true":
        return True
    if override == "false":
        return False
    status = response.status_code
    if method == "POST":
        return status == 429
    return status in RETRYABLE_STATUSES or status >= 500


def error_is_retryable(
    method: str, exc: httpx.RequestError, never_sent: Callable[[httpx.RequestError], bool]
) -> bool:
    """Whether a transport failure invites another attempt of this method."""
    if method == "POST":
        return never_sent(exc)
    return isinstance(exc, _TRANSIENT)


def parse_retry_after(headers: httpx.Headers, *, now: float) -> float | None:
    """The server's requested delay in seconds: `retry-after-ms`, then `Retry-After`.

    `Retry-After` may be seconds or an HTTP date, read against the wall clock `now`.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return _finite(float(millis)) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _finite(float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return float(email.utils.mktime_tz(parsed) - now)


def retry_delay(
    retries_made: int,
    *,
    server_delay: float | None,
    max_delay: float,
    random: Callable[[], float],
) -> float:
    """Seconds to wait before the next attempt, after `retries_made` retries."""
    if server_delay is not None and 0 < server_delay <= MAX_SERVER_DELAY:
        return server_delay
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_made, 1000), max_delay)
    return max(backoff * (1 - 0.25 * random()), 0.0)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


class RetryBudget:
    """Retries as a share of traffic, per tenant, so a Telnyx outage cannot be multiplied
    by retries (the SDKs retry every failed call; a gateway in front of many callers must
    not). Each first attempt earns `ratio` of a retry, a floor of `min_per_second` retries
    accrues with time, and the balance is capped at `cap`."""

    def __init__(
        self,
        *,
        ratio: float,
        min_per_second: float,
        clock: Callable[[], float],
    ) -> None:
        self._ratio = ratio
        self._min_per_second = min_per_second
        # Ten seconds of the floor, and never less than one retry.
        self._cap = max(1.0, 10 * min_per_second)
        self._clock = clock
        self._balance: dict[str, tuple[float, float]] = {}

    def _current(self, tenant: str) -> float:
        now = self._clock()
        balance, updated = self._balance.get(tenant, (self._cap, now))
        balance = min(self._cap, balance + (now - updated) * self._min_per_second)
        self._balance[tenant] = (balance, now)
        return balance

    def attempted(self, tenant: str) -> None:
        """A first attempt was made: it earns a share of a retry."""
        balance = self._current(tenant)
        self._balance[tenant] = (min(self._cap, balance + self._ratio), self._clock())

    def withdraw(self, tenant: str) -> bool:
        """Take one retry from the tenant's budget; False when it is spent."""
        balance = self._current(tenant)
        if balance < 1.0:
            return False
        self._balance[tenant] = (balance - 1.0, self._clock())
        return True
