"""Upstream failures become the GatewayError tree, keep Telnyx's details and never the key."""

from __future__ import annotations

import traceback
from typing import Any

import aiohttp
import httpx
import pytest

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
from gateway.telnyx.client import TelnyxClient
from gateway.telnyx.models import CreateMessagingProfileRequest
from gateway.telnyx.operations import CreateMessagingProfile, RetrieveMessagingProfile
from tests.telnyx.support import KEY, PROFILE_ID, Upstream, body, error, make_client, tenant

pytestmark = pytest.mark.anyio

NOT_FOUND = {
    "code": "10005",
    "title": "Resource not found",
    "detail": "The requested resource or URL could not be found.",
    "meta": {"url": "https://developers.telnyx.com/docs/overview/errors/10005"},
}
VALIDATION = {
    "code": "10015",
    "title": "Bad Request",
    "detail": "Messaging profile is missing whitelisted destinations",
    "source": {"pointer": "/whitelisted_destinations"},
}
BAD_PAGE = {
    "code": "10015",
    "title": "Invalid pagination",
    "source": {"parameter": "page[size]"},
}


async def fail(response: httpx.Response | Exception, **options: Any) -> UpstreamError:
    client = make_client(Upstream([response]), max_retries=0, **options)
    with pytest.raises(UpstreamError) as caught:
        await client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    return caught.value


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (400, InvalidRequestError),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (404, NotFoundError),
        (405, UpstreamRejectedError),
        (409, UpstreamRejectedError),
        (410, UpstreamRejectedError),
        (422, InvalidRequestError),
        (429, UpstreamRateLimitedError),
        (500, UpstreamUnavailableError),
        (503, UpstreamUnavailableError),
        (302, UpstreamError),
    ],
)
async def test_status_maps_to_error_class(code: int, kind: type[UpstreamError]) -> None:
    raised = await fail(error(code, NOT_FOUND))
    assert type(raised) is kind
    assert raised.status == code
    assert raised.operation == "retrieve_messaging_profile"
    assert raised.__cause__ is None


async def test_not_found_keeps_telnyx_fields() -> None:
    raised = await fail(error(404, NOT_FOUND))
    assert raised.errors == (
        ErrorDetail(
            code="10005",
            title="Resource not found",
            detail="The requested resource or URL could not be found.",
            meta={"url": "https://developers.telnyx.com/docs/overview/errors/10005"},
        ),
    )
    assert str(raised) == (
        "Telnyx retrieve_messaging_profile failed (404): Resource not found: "
        "The requested resource or URL could not be found."
    )


async def test_validation_errors_keep_pointer_and_parameter() -> None:
    raised = await fail(error(422, VALIDATION, BAD_PAGE))
    assert raised.errors == (
        ErrorDetail(
            code="10015",
            title="Bad Request",
            detail="Messaging profile is missing whitelisted destinations",
            pointer="/whitelisted_destinations",
        ),
        ErrorDetail(code="10015", title="Invalid pagination", parameter="page[size]"),
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b"null",
        b'{"errors": "x"}',
        b'{"errors": []}',
        b'{"errors": [{"code": 7}]}',
    ],
)
async def test_unparseable_error_bodies_fall_back_to_a_generic_detail(raw: bytes) -> None:
    raised = await fail(httpx.Response(502, content=raw))
    assert type(raised) is UpstreamUnavailableError
    assert raised.errors == (ErrorDetail(code="502", title="Bad Gateway"),)
    assert str(raised) == "Telnyx retrieve_messaging_profile failed (502): Bad Gateway"


async def test_missing_code_and_title_are_filled_from_the_status() -> None:
    raised = await fail(httpx.Response(404, content=body({"errors": [{"detail": "gone"}]})))
    assert raised.errors == (ErrorDetail(code="404", title="Not Found", detail="gone"),)


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectError("[Errno 113] No route to host"), "could not connect"),
        (httpx.ReadTimeout("timed out"), "timed out"),
        (httpx.ConnectTimeout("timed out"), "timed out"),
        (httpx.PoolTimeout("timed out"), "timed out waiting for a free connection"),
        (httpx.RemoteProtocolError("Server disconnected"), "connection dropped"),
        (httpx.ReadError("reset"), "connection dropped"),
    ],
)
async def test_transport_failures_are_unavailable(exc: Exception, message: str) -> None:
    raised = await fail(exc)
    assert type(raised) is UpstreamUnavailableError
    assert raised.status is None
    assert str(raised) == f"Telnyx retrieve_messaging_profile: {message}"
    # The cause keeps the type and text but not the request, which holds the key.
    cause = raised.__cause__
    assert type(cause) is type(exc)
    assert str(cause) == str(exc)
    assert cause.__traceback__ is None
    assert cause.__cause__ is None
    with pytest.raises(RuntimeError):
        _ = cause.request  # type: ignore[attr-defined]


def aiohttp_failure(cause: BaseException) -> httpx.RequestError:
    """An aiohttp error as a transport may report it: an httpx error that says little
    (httpx-aiohttp says `ConnectTimeout` whatever happened), with aiohttp's as its cause."""
    exc = httpx.ConnectTimeout("failed")
    exc.__cause__ = cause
    return exc


def connector_error(reason: OSError) -> aiohttp.ClientConnectorError:
    # The connection key is only read when the error is printed, which the gateway never does.
    return aiohttp.ClientConnectorError(None, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        (connector_error(ConnectionRefusedError(111, "refused")), "connection refused"),
        (connector_error(OSError(113, "no route")), "could not connect"),
        (aiohttp.ConnectionTimeoutError(), "timed out"),
        (aiohttp.SocketTimeoutError(), "timed out"),
        (aiohttp.ServerDisconnectedError(), "connection dropped"),
        (aiohttp.ClientConnectionResetError(), "connection dropped"),
    ],
)
async def test_aiohttp_failures_say_what_happened_without_class_names(
    cause: BaseException, message: str
) -> None:
    raised = await fail(aiohttp_failure(cause))
    assert str(raised) == f"Telnyx retrieve_messaging_profile: {message}"


# --- the key never leaks ------------------------------------------------------------------


def echo_key_in_error(request: httpx.Request) -> httpx.Response:
    secret = request.headers["authorization"]
    return error(
        404, {"code": "1", "title": secret, "detail": f"bad {secret}", "meta": {"h": [secret]}}
    )


def raise_with_request(kind: type[httpx.RequestError]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise kind(f"failed with {request.headers['authorization']}", request=request)

    return handler


SCENARIOS: list[tuple[str, Any]] = [
    ("404 echoing the key", echo_key_in_error),
    ("503 after retries", lambda _: error(503, NOT_FOUND)),
    ("429 after retries", lambda _: error(429, NOT_FOUND)),
    ("connect error", raise_with_request(httpx.ConnectError)),
    ("read timeout", raise_with_request(httpx.ReadTimeout)),
    ("protocol error", raise_with_request(httpx.LocalProtocolError)),
]


def texts(exc: BaseException) -> list[str]:
    """Everything a log line, error reporter or debugger would show of `exc` and its chain."""
    found = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        found += [str(current), repr(current), repr(current.args)]
        found += [repr(value) for value in getattr(current, "__dict__", {}).values()]
        found += [repr(getattr(current, name, None)) for name in ("errors", "message", "operation")]
        stack += [current.__cause__, current.__context__]
    return found


@pytest.mark.parametrize(("name", "handler"), SCENARIOS, ids=[name for name, _ in SCENARIOS])
@pytest.mark.parametrize("operation", ["retrieve", "create"])
async def test_key_never_appears_in_raised_errors(name: str, handler: Any, operation: str) -> None:
    client: TelnyxClient = make_client(Upstream([handler]))
    create = CreateMessagingProfileRequest(name="x", whitelisted_destinations=["US"])
    call = (
        client.send(tenant(), CreateMessagingProfile(), create)
        if operation == "create"
        else client.send(tenant(), RetrieveMessagingProfile(id=PROFILE_ID))
    )
    with pytest.raises(UpstreamError) as caught:
        await call
    leaked = [text for text in texts(caught.value) if KEY in text]
    assert leaked == []
    assert caught.value.__context__ is None or KEY not in repr(caught.value.__context__)


async def test_echoed_key_is_redacted_from_telnyx_details() -> None:
    raised = await fail(
        echo_key_in_error(httpx.Request("GET", "http://t", headers={"authorization": KEY}))
    )
    assert raised.errors == (
        ErrorDetail(
            code="1", title="[redacted]", detail="bad [redacted]", meta={"h": ["[redacted]"]}
        ),
    )
