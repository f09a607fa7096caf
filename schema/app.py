"""The ASGI face: authentication, the per-request context, and the cache header."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cross_web import HTTPException
from opentelemetry.trace import TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.errors import AuthenticationError
from gateway.telnyx.service import Caller
from schema.build import build_schema
from schema.context import Context
from schema.errors import BAD_USER_INPUT, NOT_FOUND, UNAUTHENTICATED, translate
from schema.loaders import Loaders

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.telnyx.service import TelnyxService
    from gateway.tenancy import TenantRegistry


def _errors(
    message: str, code: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status, headers
    )


def _no_cache(request: Request) -> bool:
    directives = request.headers.get("cache-control", "").lower().split(",")
    return any(directive.strip() == "no-cache" for directive in directives)


def cache_status(caller: Caller) -> str:
    """`X-Cache`: STALE when any read was stale, HIT when every read was cached."""
    if caller.stale:
        return "STALE"
    return "HIT" if caller.cached else "MISS"


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with bearer authentication in front of every operation."""

    def __init__(
        self,
        service: TelnyxService,
        tenants: TenantRegistry,
        settings: Settings,
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        super().__init__(
            build_schema(settings, tracer_provider=tracer_provider),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=(),
        )
        self._service = service
        self._tenants = tenants
        self._max_page_size = settings.max_page_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Nothing is served over websockets (there are no subscriptions).
            await send({"type": "websocket.close", "code": 1008})
            return
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        # GraphiQL is a static page: it holds no data, so it needs no token.
        if self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request)):
            return await self.render_graphql_ide(request)
        try:
            tenant = self._tenants.authenticate(request.headers.get("authorization"))
        except AuthenticationError as exc:
            return _errors(exc.message, UNAUTHENTICATED, 401, {"WWW-Authenticate": "Bearer"})
        caller = Caller(tenant, no_cache=_no_cache(request))
        context = Context(
            service=self._service,
            caller=caller,
            loaders=Loaders(self._service, caller),
            max_page_size=self._max_page_size,
        )
        try:
            response = await self.run(request, context=context)
        except HTTPException as exc:
            # Refused at the HTTP level: bad JSON, a mutation over GET, GraphiQL when off.
            code = NOT_FOUND if exc.status_code == 404 else BAD_USER_INPUT
            return _errors(exc.reason, code, exc.status_code)
        response.headers["X-Cache"] = cache_status(caller)
        return response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            # ErrorTranslation misses what fails outside the operation's hooks: a document
            # the parser cache could not parse.
            result.errors = [
                out for error in result.errors for out in translate(error, mutation=False)
            ]
        return await super().process_result(request, result)


def create_graphql_app(
    service: TelnyxService,
    tenants: TenantRegistry,
    settings: Settings,
    *,
    tracer_provider: TracerProvider | None = None,
) -> GatewayGraphQL:
    """The `/graphql` ASGI app over `service`, for the callers in `tenants`."""
    return GatewayGraphQL(service, tenants, settings, tracer_provider=tracer_provider)
