"""The gateway's exception tree.

    GatewayError
     ├── AuthenticationError          the caller's bearer token is missing or unknown
     ├── BadInputError                the caller's input is invalid; no upstream call was made
     ├── RateLimitedError             the caller's tenant is over its own rate limit
     │    └── UpstreamBudgetError     not sent: its Telnyx account's call budget is spent
     └── UpstreamError                Telnyx failed the call, or could not be reached
          ├── UpstreamUnavailableError   connect error, timeout, deadline, 5xx after retries
          │    └── CircuitOpenError      not sent: the circuit breaker holds calls back
          ├── UpstreamRateLimitedError   429 after retries
          ├── UpstreamAuthError          401 or 403: Telnyx refused the tenant's key
          └── UpstreamRejectedError      any other 4xx
               ├── NotFoundError         404
               └── InvalidRequestError   400 or 422, with Telnyx's field pointers

Upstream HTTP failures are translated into this tree in one place, the client; each face
translates the tree into its own wire format. No message or attribute ever holds a key
or token: messages are built only from Telnyx's error fields and the operation name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of Telnyx's `errors` array."""

    code: str
    title: str
    detail: str | None = None
    pointer: str | None = None
    parameter: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationError(GatewayError):
    """The caller sent no bearer token, or one no tenant has."""

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid input field: a path into the caller's input and what is wrong with it."""

    path: tuple[str | int, ...]
    message: str


class BadInputError(GatewayError):
    """The caller's input is invalid; nothing was sent upstream."""

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0] if self.problems else FieldProblem((), "invalid input")
        where = ".".join(str(part) for part in first.path)
        super().__init__(f"{where}: {first.message}" if where else first.message)

    def under(self, *prefix: str | int) -> BadInputError:
        """The same problems, as parts of the caller's input at `prefix`."""
        return BadInputError([FieldProblem((*prefix, *p.path), p.message) for p in self.problems])


class RateLimitedError(GatewayError):
    """The tenant is over the gateway's own rate limit."""

    def __init__(
        self, retry_after: float, message: str = "Too many requests for this tenant; retry later."
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamBudgetError(RateLimitedError):
    """Not sent: the Telnyx account's call budget, shared by the replicas, had no turn for
    the call before its deadline, or Telnyx asked the account to wait (its 429)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after, "Too many requests to Telnyx for this account; retry later.")


class UpstreamError(GatewayError):
    """Telnyx failed the call: `status` is its HTTP status, or None when it never answered."""

    def __init__(
        self,
        operation: str,
        *,
        status: int | None = None,
        errors: tuple[ErrorDetail, ...] = (),
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.errors = errors
        self.retry_after = retry_after
        if errors:
            first = errors[0]
            text = f"{first.title}: {first.detail}" if first.detail else first.title
        else:
            text = reason or "upstream error"
        prefix = f"Telnyx {operation}"
        super().__init__(f"{prefix} failed ({status}): {text}" if status else f"{prefix}: {text}")


class UpstreamUnavailableError(UpstreamError):
    """Telnyx could not be reached in time, or kept failing with 5xx."""


class CircuitOpenError(UpstreamUnavailableError):
    """Not sent: Telnyx has been failing, and the circuit breaker holds calls back until
    it probes again in `retry_after` seconds."""

    def __init__(self, operation: str, *, retry_after: float, scope: str) -> None:
        super().__init__(
            operation, retry_after=retry_after, reason="Telnyx is failing; call not sent"
        )
        self.scope = scope


class UpstreamRateLimitedError(UpstreamError):
    """Telnyx answered 429 and retries did not help."""


class UpstreamAuthError(UpstreamError):
    """Telnyx refused the tenant's API key (401) or the action (403)."""


class UpstreamRejectedError(UpstreamError):
    """Telnyx refused the request with a 4xx other than auth and rate limit."""


class NotFoundError(UpstreamRejectedError):
    """Telnyx answered 404."""


class InvalidRequestError(UpstreamRejectedError):
    """Telnyx answered 400 or 422: the request failed its validation."""
