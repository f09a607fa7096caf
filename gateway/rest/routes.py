"""The Telnyx-compatible REST face: exactly the operations the service layer covers.

The upstream body goes back byte for byte; errors use Telnyx's status codes and envelope.
Any other path or method under `/v2` is a 404 in Telnyx's shape, and Telnyx is not called.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from gateway.errors import GatewayError
from gateway.ratelimit import RateLimiter
from gateway.rest import wire
from gateway.rest.openapi import openapi_document
from gateway.telnyx.service import Caller, Fetched, TelnyxService
from gateway.tenancy import TenantRegistry

log = logging.getLogger(__name__)

ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")

Handler = Callable[[Request, Caller], Awaitable[Fetched[Any]]]

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


async def not_found(_: Request) -> Response:
    """Telnyx's 404, for any path or method outside the face; Telnyx is not called."""
    return wire.error_response(404, [wire.NOT_FOUND])


def create_rest_app(
    service: TelnyxService, tenants: TenantRegistry, *, rate_limiter: RateLimiter | None = None
) -> Router:
    """The `/v2` router; mount it at `/v2`. `rate_limiter` None means no rate limit."""

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                tenant = tenants.authenticate_scope(request.scope)
                if rate_limiter is not None:
                    await rate_limiter.take(tenant)
                caller = Caller(tenant, no_cache=_no_cache(request))
                fetched = await handler(request, caller)
            except wire.QueryError as exc:
                return wire.error_response(exc.status, exc.details)
            except GatewayError as exc:
                return wire.response_for(exc)
            except Exception:  # the outer edge: never leak an unexpected error
                log.exception("unexpected error on the REST face")
                return wire.error_response(500, [wire.UNEXPECTED])
            # Writes read nothing through the cache, so they carry no X-Cache.
            headers = {"X-Cache": _cache_header(caller)} if caller.outcomes else None
            return Response(
                fetched.body,
                status_code=fetched.status,
                media_type="application/json",
                headers=headers,
            )

        return handle

    async def list_messaging_profiles(request: Request, caller: Caller) -> Fetched[Any]:
        query = request.query_params
        number, size = wire.page(query)
        return await service.list_messaging_profiles(
            caller,
            page=number,
            size=size,
            name=query.get("filter[name]"),
            name_eq=query.get("filter[name][eq]"),
            name_contains=query.get("filter[name][contains]"),
        )

    async def create_messaging_profile(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.create_messaging_profile(caller, await _json_object(request))

    async def retrieve_messaging_profile(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.retrieve_messaging_profile(caller, request.path_params["id"])

    async def update_messaging_profile(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.update_messaging_profile(
            caller, request.path_params["id"], await _json_object(request)
        )

    async def delete_messaging_profile(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.delete_messaging_profile(caller, request.path_params["id"])

    async def list_profile_phone_numbers(request: Request, caller: Caller) -> Fetched[Any]:
        number, size = wire.page(request.query_params)
        return await service.list_profile_phone_numbers(
            caller, request.path_params["id"], page=number, size=size
        )

    async def list_profile_short_codes(request: Request, caller: Caller) -> Fetched[Any]:
        number, size = wire.page(request.query_params)
        return await service.list_profile_short_codes(
            caller, request.path_params["id"], page=number, size=size
        )

    async def list_short_codes(request: Request, caller: Caller) -> Fetched[Any]:
        query = request.query_params
        number, size = wire.page(query)
        return await service.list_short_codes(
            caller,
            page=number,
            size=size,
            messaging_profile_id=query.get("filter[messaging_profile_id]"),
        )

    async def retrieve_short_code(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.retrieve_short_code(caller, request.path_params["id"])

    async def update_short_code(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.update_short_code(
            caller, request.path_params["id"], await _json_object(request)
        )

    async def list_phone_numbers(request: Request, caller: Caller) -> Fetched[Any]:
        query = request.query_params
        number, size = wire.page(query)
        return await service.list_phone_numbers(
            caller,
            page=number,
            size=size,
            messaging_profile_id=query.get("filter[messaging_profile_id]"),
            phone_number=query.get("filter[phone_number]"),
            phone_number_contains=query.get("filter[phone_number][contains]"),
            type=query.get("filter[type]"),
            sort=query.get("sort[phone_number]"),
        )

    async def retrieve_phone_number_messaging(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.retrieve_phone_number_messaging(caller, request.path_params["id"])

    async def update_phone_number_messaging(request: Request, caller: Caller) -> Fetched[Any]:
        return await service.update_phone_number_messaging(
            caller, request.path_params["id"], await _json_object(request)
        )

    async def openapi(request: Request) -> Response:
        # `base_url` is the app's root; the face's root (where it is mounted) is `root_path`.
        server = request.base_url.replace(path=request.scope.get("root_path", ""))
        return Response(
            orjson.dumps(openapi_document(str(server).rstrip("/"))),
            media_type="application/json",
        )

    operations: list[tuple[str, str, Handler]] = [
        ("GET", "/messaging_profiles", list_messaging_profiles),
        ("POST", "/messaging_profiles", create_messaging_profile),
        ("GET", "/messaging_profiles/{id}", retrieve_messaging_profile),
        ("PATCH", "/messaging_profiles/{id}", update_messaging_profile),
        ("DELETE", "/messaging_profiles/{id}", delete_messaging_profile),
        ("GET", "/messaging_profiles/{id}/phone_numbers", list_profile_phone_numbers),
        ("GET", "/messaging_profiles/{id}/short_codes", list_profile_short_codes),
        ("GET", "/short_codes", list_short_codes),
        ("GET", "/short_codes/{id}", retrieve_short_code),
        ("PATCH", "/short_codes/{id}", update_short_code),
        ("GET", "/phone_numbers/messaging", list_phone_numbers),
        ("GET", "/phone_numbers/{id}/messaging", retrieve_phone_number_messaging),
        ("PATCH", "/phone_numbers/{id}/messaging", update_phone_number_messaging),
    ]
    routes = [
        Route(path, endpoint(handler), methods=[method], name=handler.__name__)
        for method, path, handler in operations
    ]
    routes.append(Route("/openapi.json", openapi, methods=["GET"]))
    # Last, and for every method: a known path with another method is a 404 too, not a 405.
    routes.append(Route("/{path:path}", not_found, methods=ANY_METHOD))
    return Router(routes=routes, redirect_slashes=False)


def _no_cache(request: Request) -> bool:
    directives = request.headers.get("cache-control", "").lower().split(",")
    return any(directive.strip() in ("no-cache", "no-store") for directive in directives)


def _cache_header(caller: Caller) -> str:
    if caller.stale:
        return "STALE"
    return "HIT" if caller.cached else "MISS"
