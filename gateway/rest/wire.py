"""Telnyx's wire format on the REST face: query parameters, and the error envelope for
every failure, whether Telnyx raised it or the gateway did."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from gateway.errors import (
    AuthenticationError,
    BadInputError,
    ErrorDetail,
    GatewayError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamUnavailableError,
)
from gateway.telnyx.operation import PAGE_NUMBER_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX

DOCS = "https://developers.telnyx.com/docs/overview/errors/"


class QueryError(Exception):
    """Input Telnyx would refuse, answered in its words without calling it."""

    def __init__(self, status: int, details: list[ErrorDetail]) -> None:
        super().__init__(details[0].title)
        self.status = status
        self.details = details


def _page_value(
    query: Mapping[str, str], name: str, default: int, maximum: int, *, stated: bool
) -> tuple[int, ErrorDetail | None]:
    raw = query.get(f"page[{name}]")
    if raw is None:
        return default, None
    # ASCII digits only, unstripped: int() would also take " 5" and "\uff15", which Telnyx
    # (and the simulator) refuse, and the gateway must refuse exactly what upstream refuses.
    value = 0
    if raw.isascii() and raw.isdigit():
        # Past 10 digits it is out of range anyway, and int() refuses 4300 of them.
        digits = raw.lstrip("0") or "0"
        value = int(digits) if len(digits) <= 10 else maximum + 1
    if 1 <= value <= maximum:
        return value, None
    # Worded as Telnyx words it; a maximum it does not state is named only when exceeded.
    bound = (
        f"between 1 and {maximum}" if stated or value > maximum else "greater than or equal to 1"
    )
    return default, own(
        "10015",
        "Invalid pagination",
        f"page[{name}] must be an integer {bound}.",
        # Telnyx's only example of this error points at "page/number" (no slash).
        pointer=f"page/{name}",
        parameter=f"page[{name}]",
    )


def page(query: Mapping[str, str]) -> tuple[int, int]:
    """`page[number]` and `page[size]` with Telnyx's defaults and bounds; a 422 naming
    every bad one otherwise, as Telnyx answers."""
    number, bad_number = _page_value(query, "number", 1, PAGE_NUMBER_MAX, stated=False)
    size, bad_size = _page_value(query, "size", PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, stated=True)
    problems = [problem for problem in (bad_number, bad_size) if problem is not None]
    if problems:
        raise QueryError(422, problems)
    return number, size


def envelope(details: Sequence[ErrorDetail]) -> dict[str, Any]:
    errors = []
    for detail in details:
        entry: dict[str, Any] = {"code": detail.code, "title": detail.title}
        if detail.detail is not None:
            entry["detail"] = detail.detail
        source = {
            name: value
            for name, value in (("pointer", detail.pointer), ("parameter", detail.parameter))
            if value is not None
        }
        if source:
            entry["source"] = source
        if detail.meta:
            entry["meta"] = detail.meta
        errors.append(entry)
    return {"errors": errors}


def error_response(
    status: int,
    details: Sequence[ErrorDetail],
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        orjson.dumps(envelope(details)),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def own(code: str, title: str, detail: str, **source: str) -> ErrorDetail:
    """An error the gateway raises itself, in Telnyx's words and with its docs link."""
    return ErrorDetail(code, title, detail, meta={"url": DOCS + code}, **source)


NOT_FOUND = own("10005", "Resource not found", "The requested resource or URL could not be found.")
UNAUTHENTICATED = own(
    "10009",
    "Authentication failed",
    "The required authentication headers were either invalid or not included in the request.",
)
UNAVAILABLE = own("10007", "Unexpected error", "Telnyx could not be reached; try again later.")
UNEXPECTED = own("10007", "Unexpected error", "An unexpected error occured.")
TOO_MANY = own(
    "10011", "Too many requests", "You have exceeded the maximum number of allowed requests."
)
MISCONFIGURED = own(
    "10007", "Unexpected error", "Telnyx refused the gateway's credentials for this tenant."
)


def _retry_after(seconds: float | None) -> dict[str, str]:
    # Whole seconds, rounded up: a caller that waits what it is told must not come back early.
    return {} if seconds is None else {"Retry-After": str(max(1, math.ceil(seconds)))}


def response_for(error: GatewayError) -> Response:
    """Telnyx's status and envelope for an error, so SDK error classes work unchanged."""
    # `x-should-retry: false` on every answer the gateway has already retried (5xx, 429,
    # 408, 409). The SDKs honour it over their status rules; without it, their 2 retries
    # of the gateway's 3 attempts would send 9 requests to a Telnyx that is already failing
    # or throttling, where a caller talking to Telnyx directly sends 3. A create (POST) is
    # not retried by the gateway after it may have reached Telnyx; the SDK retrying it
    # would risk a duplicate profile, so it must not either.
    no_retry = {"x-should-retry": "false"}
    if isinstance(error, AuthenticationError):
        return error_response(401, [UNAUTHENTICATED], {"WWW-Authenticate": "Bearer"})
    if isinstance(error, RateLimitedError):
        # The gateway's own limit: nothing was retried, so the SDKs may wait and retry.
        return error_response(429, [TOO_MANY], _retry_after(error.retry_after))
    if isinstance(error, BadInputError):
        problems = [
            own(
                "10015",
                "Bad Request",
                problem.message,
                pointer="/" + "/".join(str(part) for part in problem.path),
            )
            for problem in error.problems
        ]
        return error_response(422, problems)
    if isinstance(error, UpstreamUnavailableError):
        # An open circuit breaker says when it will try Telnyx again.
        return error_response(503, [UNAVAILABLE], {**no_retry, **_retry_after(error.retry_after)})
    if isinstance(error, UpstreamRateLimitedError):
        details = error.errors or (TOO_MANY,)
        return error_response(429, details, {**no_retry, **_retry_after(error.retry_after)})
    if isinstance(error, UpstreamAuthError):
        # The tenant's own token was fine; Telnyx refused the gateway's key for it. That is
        # the gateway's misconfiguration, not the caller's, so it must not look like a 401.
        return error_response(502, [MISCONFIGURED], no_retry)
    if isinstance(error, UpstreamError) and error.status is not None and 400 <= error.status < 500:
        retried = error.status in (408, 409)
        return error_response(
            error.status, error.errors or (UNEXPECTED,), no_retry if retried else None
        )
    return error_response(502, [UNEXPECTED], no_retry)
