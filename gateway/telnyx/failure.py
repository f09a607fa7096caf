"""Upstream failures translated into the GatewayError tree: the client's one error edge."""

from __future__ import annotations

import errno
from typing import Any

import aiohttp
import httpx
import orjson

from gateway.errors import (
    ErrorDetail,
    InvalidRequestError,
    NotFoundError,
    UpstreamAuthError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from gateway.telnyx.retry import parse_retry_after
from gateway.telnyx.transport import Received

REDACTED = "[redacted]"


def error_for_response(
    operation: str, response: Received, *, secret: str, now: float
) -> UpstreamError:
    """The error for a non-2xx answer, with Telnyx's error entries kept."""
    status = response.status_code
    errors = error_details(response, secret=secret)
    kind: type[UpstreamError]
    if status in (401, 403):
        kind = UpstreamAuthError
    elif status == 404:
        kind = NotFoundError
    elif status in (400, 422):
        kind = InvalidRequestError
    elif status == 429:
        return UpstreamRateLimitedError(
            operation, status=status, errors=errors, retry_after=rate_limit_delay(response, now)
        )
    elif status >= 500:
        kind = UpstreamUnavailableError
    elif status >= 400:
        kind = UpstreamRejectedError
    else:
        kind = UpstreamError  # a 1xx or 3xx: Telnyx sends neither, so nothing more specific fits
    return kind(operation, status=status, errors=errors)


def error_details(response: Received, *, secret: str) -> tuple[ErrorDetail, ...]:
    """Telnyx's `errors` entries; one generic entry when the body is not that envelope."""
    status = response.status_code
    title = response.reason_phrase or f"HTTP {status}"
    entries = _entries(response.content)
    if not entries:
        return (ErrorDetail(code=str(status), title=title),)
    # An upstream that echoes the request back must not smuggle the key into our errors.
    return tuple(
        ErrorDetail(
            code=_redact(entry.get("code") or str(status), secret),
            title=_redact(entry.get("title") or title, secret),
            detail=_redact(entry.get("detail"), secret),
            pointer=_redact(entry.get("source", {}).get("pointer"), secret),
            parameter=_redact(entry.get("source", {}).get("parameter"), secret),
            meta=_redact(dict(entry.get("meta") or {}), secret),
        )
        for entry in entries
    )


def _entries(body: bytes) -> list[dict[str, Any]]:
    """The entries of Telnyx's `errors` array; none when the body is not that envelope
    (`code`, `title`, `detail`, `source.pointer`, `source.parameter` strings, `meta` an
    object, each where present)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(errors, list) or not all(_well_formed(entry) for entry in errors):
        return []
    return errors


def _well_formed(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    texts = [entry.get(name) for name in ("code", "title", "detail")]
    source = entry.get("source", {})
    if isinstance(source, dict):
        texts += [source.get("pointer"), source.get("parameter")]
    return (
        isinstance(source, dict)
        and isinstance(entry.get("meta") or {}, dict)
        and all(text is None or isinstance(text, str) for text in texts)
    )


def error_for_exception(operation: str, exc: httpx.RequestError) -> UpstreamUnavailableError:
    """The error for a request that got no answer, saying what happened in words (never a
    library's class name)."""
    return UpstreamUnavailableError(operation, reason=what_happened(exc))


def what_happened(exc: httpx.RequestError) -> str:
    """What happened to a failed attempt: "connection refused", "timed out", ...

    The aiohttp cause, when there is one (`gateway.telnyx.transport`), says it best.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorDNSError):
        return "Telnyx's host name did not resolve"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return "connection refused" if _refused(cause) else "could not connect"
    if isinstance(cause, aiohttp.ServerTimeoutError | aiohttp.ConnectionTimeoutError):
        return "timed out"
    if isinstance(cause, aiohttp.ClientError):
        return "connection dropped"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if _refused(exc) else "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "connection dropped"
    return "the connection failed"


def _refused(exc: BaseException) -> bool:
    """Whether the connection was refused: an ECONNREFUSED anywhere in the chain, or (httpx
    keeps only the text of httpcore's error) said so in the message."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "os_error", current)
        if isinstance(reason, ConnectionRefusedError) or (
            isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED
        ):
            return True
        current = current.__cause__ or current.__context__
    return isinstance(exc, httpx.HTTPError) and "refused" in str(exc).lower()


def deadline_error(operation: str, deadline: float) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(operation, reason=f"deadline of {deadline:g} s exceeded")


def scrubbed(exc: httpx.RequestError, *, secret: str) -> httpx.RequestError:
    """A copy to chain as `__cause__`: same type and message, but no request (which holds
    the key in its headers), no traceback (whose frames hold it too) and no cause."""
    return type(exc)(_redact(str(exc), secret))


def error_type(exc: BaseException) -> str:
    """`error.type` for telemetry: the exception's qualified class name."""
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def rate_limit_delay(response: Received, now: float) -> float | None:
    """How long Telnyx asks the account to wait after a 429, in seconds, if it says."""
    delay = parse_retry_after(response.headers, now=now)
    if delay is not None and delay > 0:
        return delay
    # Telnyx documents no Retry-After, but sends the seconds until its window resets.
    try:
        reset = float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    return reset if 0 < reset < float("inf") else None


def _redact(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, REDACTED) if secret else value
    if isinstance(value, dict):
        return {_redact(k, secret): _redact(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, secret) for item in value]
    return value
