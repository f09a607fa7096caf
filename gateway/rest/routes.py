"""The Telnyx-compatible REST face: a route for every operation in
`gateway.telnyx.operations`, each read from its description.

The upstream body goes back byte for byte; errors use Telnyx's status codes and envelope.
Any other path or method under `/v2` is a 404 in Telnyx's shape, and Telnyx is not called.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, get_args

import orjson
from opentelemetry import trace
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from gateway.errors import ErrorDetail, GatewayError
from gateway.ratelimit import RateLimiter
from gateway.rest import wire
from gateway.rest.openapi import openapi_document
from gateway.telnyx import Caller, Fetched, TelnyxService, bypasses_cache, forbids_storing
from gateway.telnyx.operation import Operation, Read, Write
from gateway.telnyx.operations import OPERATIONS
from gateway.tenancy import TenantRegistry

log = logging.getLogger(__name__)

ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
PAGE_PARAMETERS = ("page[number]", "page[size]")

# Both as the simulator (our model of Telnyx) words them: an empty body is not JSON either.
INVALID_JSON = wire.own("10023", "Invalid JSON", "The request body is not valid JSON.")
NOT_AN_OBJECT = wire.own(
    "10026", "Invalid parameter type", "The body must be a JSON object.", pointer="/"
)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise wire.QueryError(400, [INVALID_JSON]) from None
    if not isinstance(body, dict):
        # The service forwards objects only; Telnyx refuses anything else with this 422.
        raise wire.QueryError(422, [NOT_AN_OBJECT])
    return body


def _choices(annotation: Any) -> tuple[str, ...]:
    """The values a `Literal` (or an optional one) allows; () for anything else."""
    args = get_args(annotation)
    if args and all(isinstance(arg, str) for arg in args):
        return args
    return tuple(choice for arg in args for choice in _choices(arg))


def _refusal(operation: type[Operation[Any]], field: str, message: str) -> ErrorDetail:
    wire_name = dict(operation.query_fields)[field]
    choices = _choices(operation.model_fields[field].annotation)
    if choices:
        # As Telnyx words a value outside an enumeration.
        return wire.own(
            "10032",
            "Invalid enumerated value",
            f"{wire_name} must be one of: {', '.join(choices)}.",
            parameter=wire_name,
        )
    return wire.own("10015", "Bad Request", f"{wire_name}: {message}.", parameter=wire_name)


def _call(operation: type[Operation[Any]], request: Request) -> Operation[Any]:
    """The call a request makes, its parameters checked; a 404 when a path value is not an
    id of the kind the path names (no such resource), Telnyx's 4xx for a bad query."""
    query = request.query_params
    values: dict[str, Any] = {name: request.path_params[name] for name in operation.path_fields}
    wires = dict(operation.query_fields)
    if "page" in wires:
        values["page"], values["size"] = wire.page(query)
    for name, wire_name in operation.query_fields:
        if wire_name not in PAGE_PARAMETERS and (value := query.get(wire_name)) is not None:
            values[name] = value
    try:
        return operation(**values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(error["loc"][0] in operation.path_fields for error in errors):
            raise wire.QueryError(404, [wire.NOT_FOUND]) from None
        problems = [
            _refusal(operation, str(error["loc"][0]), error["msg"].removeprefix("Value error, "))
            for error in errors
        ]
        raise wire.QueryError(operation.http.refusal_status, problems) from None


async def not_found(_: Request) -> Response:
    """Telnyx's 404, for any path or method outside the face; Telnyx is not called."""
    return wire.error_response(404, [wire.NOT_FOUND])


def create_rest_app(
    service: TelnyxService, tenants: TenantRegistry, *, rate_limiter: RateLimiter | None = None
) -> Router:
    """The `/v2` router; mount it at `/v2`. `rate_limiter` None means no rate limit."""

    def endpoint(operation: type[Operation[Any]]) -> Callable[[Request], Awaitable[Response]]:
        reads = issubclass(operation, Read)
        has_body = issubclass(operation, Write) and operation.body is not None

        async def handle(request: Request) -> Response:
            try:
                tenant = tenants.authenticate_scope(request.scope)
                if rate_limiter is not None:
                    await rate_limiter.take(tenant)
                call = _call(operation, request)
                cache_control = request.headers.get("cache-control")
                caller = Caller(
                    tenant,
                    no_cache=bypasses_cache(cache_control),
                    no_store=forbids_storing(cache_control),
                    whole=True,
                )
                fetched: Fetched[Any]
                if isinstance(call, Read):
                    fetched = await service.read(caller, call)
                    # The request's own span says how its one read was served.
                    trace.get_current_span().set_attribute(
                        "gateway.cache.outcome", caller.outcomes[-1].value
                    )
                else:
                    assert isinstance(call, Write)  # noqa: S101  -- every operation is one
                    body = await _json_object(request) if has_body else None
                    fetched = await service.write(caller, call, body)
            except wire.QueryError as exc:
                return wire.error_response(exc.status, exc.details)
            except GatewayError as exc:
                return wire.response_for(exc)
            except Exception:  # the outer edge: never leak an unexpected error
                log.exception("unexpected error on the REST face")
                return wire.error_response(500, [wire.UNEXPECTED])
            # Writes read nothing through the cache, so they carry no X-Cache.
            headers = {"X-Cache": caller.cache_status} if reads else None
            return Response(
                fetched.body,
                status_code=fetched.status,
                media_type="application/json",
                headers=headers,
            )

        return handle

    async def openapi(request: Request) -> Response:
        # `base_url` is the app's root; the face's root (where it is mounted) is `root_path`.
        server = request.base_url.replace(path=request.scope.get("root_path", ""))
        return Response(
            orjson.dumps(openapi_document(str(server).rstrip("/"))),
            media_type="application/json",
        )

    routes = [
        Route(
            operation.http.path,
            endpoint(operation),
            methods=[operation.http.method],
            name=operation.operation,
        )
        for operation in OPERATIONS
    ]
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    # Last, and for every method: a known path with another method is a 404 too, not a 405.
    routes.append(Route("/{path:path}", not_found, methods=ANY_METHOD))
    return Router(routes=routes, redirect_slashes=False)
