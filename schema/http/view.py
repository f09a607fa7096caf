"""The `/graphql` ASGI view: CSRF prevention, authentication, rate limits, documents, the
response cache and the context, in front of strawberry's own view."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import GraphQLError
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from gateway.errors import AuthenticationError, RateLimitedError
from gateway.ratelimit import retry_after_seconds
from gateway.responses import ResponseCache
from gateway.telnyx import Caller, bypasses_cache, forbids_storing
from schema.api.context import Context
from schema.api.errors import BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, UNAUTHENTICATED, translate
from schema.api.loaders import Loaders
from schema.api.nested import FanIn
from schema.build import build_schema
from schema.http import csrf
from schema.http.body import check_body
from schema.http.cached import CachedResponses
from schema.http.documents import DocumentRefusedError, Documents, load_trusted_documents
from schema.http.graphiql import ASSET_PREFIX, DEFAULT_ASSETS, GraphiQL
from schema.http.negotiation import Answer
from schema.limits.cost import CostBudget
from schema.limits.turns import Lanes, Turns
from schema.speedups import speedups

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.ratelimit import RateLimiter
    from gateway.telnyx import TelnyxService
    from gateway.tenancy import TenantRegistry


def _errors(
    answer: Answer,
    message: str,
    code: str,
    status: int,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    # Refused before any operation ran: no `data`, whatever the media type.
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]},
        status,
        headers,
        media_type=answer.media_type,
    )


class _Adapter(StarletteRequestAdapter):
    """strawberry's view of a request, with the operation the gateway already read from its
    body (the response cache reads it first), so that the body is parsed once."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.operation: GraphQLRequestData | None = getattr(request.state, "operation", None)


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's checks in front of every operation.

    In order: GraphiQL (a static page), CSRF prevention, the bearer token, the tenant's
    rate limit; then the response cache (a single query whose document may run, answered
    without parsing, validating or executing it); then each operation's document is
    resolved (trusted documents, APQ) and run. Every answer is in the media type the
    request's `Accept` header negotiates (`schema.http.negotiation`).
    """

    request_adapter_class = _Adapter

    def __init__(
        self,
        service: TelnyxService,
        tenants: TenantRegistry,
        settings: Settings,
        *,
        tracer_provider: TracerProvider | None = None,
        rate_limiter: RateLimiter | None = None,
        documents: Documents | None = None,
        responses: ResponseCache | None = None,
    ) -> None:
        self._speedups = speedups(settings.speedups)
        lanes = Lanes(
            per_tenant=settings.tenant_heavy_queries,
            heavy_items=settings.max_query_items // 4,
            wait=settings.upstream_deadline,
            queries=settings.tenant_queries,
        )
        super().__init__(
            build_schema(
                settings, speedups=self._speedups, lanes=lanes, tracer_provider=tracer_provider
            ),
            graphql_ide=None,  # the page is ours (`schema.http.graphiql`)
            subscription_protocols=(),
        )
        self._service = service
        self._tenants = tenants
        self._max_page_size = settings.max_page_size
        self._max_query_cost = settings.max_query_cost
        self._max_query_items = settings.max_query_items
        self._max_batch_size = settings.max_batch_size
        self._rate_limiter = rate_limiter
        self._documents = documents or Documents(
            apq_bytes=settings.apq_cache_bytes, apq_tenant_bytes=settings.apq_tenant_cache_bytes
        )
        self._cached = (
            CachedResponses(responses, self._documents)
            if responses is not None and responses.enabled
            else None
        )
        self._fan_in = FanIn() if settings.nested_fan_in else None
        self.graphiql = (
            GraphiQL(
                settings.graphiql_assets or DEFAULT_ASSETS,
                demo_token=settings.demo_token if settings.is_demo else None,
            )
            if settings.graphiql
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Nothing is served over websockets (there are no subscriptions).
            await send({"type": "websocket.close", "code": 1008})
            return
        response = await self._respond(Request(scope, receive))
        # The same URL answers in a media type chosen by `Accept` (or with GraphiQL's page).
        response.headers["Vary"] = "Accept"
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        answer = Answer.to(request.headers.get("accept"))
        # GraphiQL is a static page: it holds no data, so it needs no token. Only a GET asks
        # for it (strawberry's own test, which this skips for every POST).
        if request.method == "GET" and self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            if self.graphiql is not None:
                return self.graphiql.page()
            return _errors(answer, "Not Found", NOT_FOUND, 404)
        if not csrf.preflighted(request.headers):
            return _errors(answer, csrf.MESSAGE, BAD_USER_INPUT, 400)
        try:
            tenant = self._tenants.authenticate_scope(request.scope)
        except AuthenticationError as exc:
            return _errors(
                answer, exc.message, UNAUTHENTICATED, 401, {"WWW-Authenticate": "Bearer"}
            )
        if self._rate_limiter is not None:
            try:
                await self._rate_limiter.take(tenant)
            except RateLimitedError as exc:
                seconds = retry_after_seconds(exc)
                return _errors(
                    answer,
                    exc.message,
                    RATE_LIMITED,
                    429,
                    {"Retry-After": str(seconds)},
                    retryAfter=seconds,
                )
        cache_control = request.headers.get("cache-control")
        caller = Caller(
            tenant,
            no_cache=bypasses_cache(cache_control),
            no_store=forbids_storing(cache_control),
        )
        cacheable = None
        if self._cached is not None:
            data = await self._single_operation(request)
            cacheable = None if data is None else self._cached.cacheable(tenant.id, data)
            if cacheable is not None and not caller.no_cache:
                hit = self._cached.serve(
                    cacheable, max_age=self._service.ttl_cap, media_type=answer.media_type
                )
                if hit is not None:
                    # Answered whole: the request's own span is the only one, and says so.
                    trace.get_current_span().set_attribute("gateway.cache.outcome", "hit")
                    return hit
        turns = Turns()
        context = Context(
            service=self._service,
            caller=caller,
            loaders=Loaders(self._service, caller, fan_in=self._fan_in, turns=turns),
            max_page_size=self._max_page_size,
            cost=CostBudget(self._max_query_cost, self._max_query_items),
            turns=turns,
            read_ahead=self._speedups.read_ahead,
        )
        # process_result reads it there: strawberry hands it the request, nothing else of ours.
        request.state.answer = answer
        try:
            response = await self.run(request, context=context)
        except HTTPException as exc:
            # Refused at the HTTP level: bad JSON, a bad batch, a mutation over GET.
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                # As Apollo Server answers it: only POST may change anything.
                return _errors(answer, exc.reason, BAD_USER_INPUT, 405, {"Allow": "POST"})
            code = NOT_FOUND if exc.status_code == 404 else BAD_USER_INPUT
            return _errors(answer, exc.reason, code, exc.status_code)
        finally:
            context.loaders.close()
        if cacheable is not None and self._cached is not None:
            self._cached.keep(cacheable, context, self.encode_json)
        response.headers["Content-Type"] = answer.media_type
        response.status_code = answer.status
        response.headers.update(answer.headers)
        response.headers["X-Cache"] = caller.cache_status
        if caller.outcomes:
            trace.get_current_span().set_attribute(
                "gateway.cache.outcome", caller.cache_status.lower()
            )
        return response

    async def _single_operation(self, request: Request) -> GraphQLRequestData | None:
        """The request's operation when it is exactly one, as strawberry would read it;
        None for a batch or a body strawberry would refuse (it answers those itself)."""
        read = self._speedups.read_operation
        if read is not None and (data := await read(request)) is not None:
            request.state.operation = data
            return data
        try:
            parsed = await self.parse_http_body(self.request_adapter_class(request))
        except (HTTPException, ValueError, KeyError):
            return None
        return parsed if isinstance(parsed, GraphQLRequestData) else None

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses nesting past 1024 levels with a JSONDecodeError (a 400); the
        # standard library's parser would overflow the stack, and that is a 500.
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET with `extensions` but no `query` is an operation named by its hash (APQ).
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if isinstance(request, _Adapter) and request.operation is not None:
            return request.operation
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            # Checked before strawberry reads any member (the body is bounded and orjson
            # is fast, so it is parsed twice).
            check_body(
                self.parse_json(await request.get_body()), max_batch_size=self._max_batch_size
            )
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData) and not isinstance(
            parsed.operation_name, str | None
        ):
            raise HTTPException(
                400, "The GraphQL operation's `operationName` must be a string or null."
            )
        return parsed

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        tenant_id = context.caller.tenant.id
        try:
            resolved = self._documents.resolve(
                tenant_id, request_data.query, request_data.extensions
            )
        except DocumentRefusedError as exc:
            error = GraphQLError(exc.message, extensions={"code": exc.code})
            return ExecutionResult(data=None, errors=[error])
        result = await super().execute_single(
            request,
            request_adapter,
            sub_response,
            context,
            root_value,
            dataclasses.replace(request_data, query=resolved.query),
        )
        context.result = result
        # Registered once it parsed, validated and passed the limits: errors without a
        # path are the document's own.
        valid = not any(error.path is None for error in result.errors or ())
        if valid and resolved.register and resolved.query is not None:
            self._documents.register(tenant_id, resolved.register, resolved.query)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            # ErrorTranslation misses what fails outside the operation's hooks: a document
            # the parser cache could not parse.
            result.errors = [
                out for error in result.errors for out in translate(error, mutation=False)
            ]
        response = await super().process_result(request, result)
        answer: Answer | None = getattr(request.state, "answer", None)
        if answer is not None:
            answer.shape(result, response)
        return response


def create_graphql_app(
    service: TelnyxService,
    tenants: TenantRegistry,
    settings: Settings,
    *,
    tracer_provider: TracerProvider | None = None,
    rate_limiter: RateLimiter | None = None,
    responses: ResponseCache | None = None,
) -> GatewayGraphQL:
    """The `/graphql` ASGI app over `service`, for the callers in `tenants`.

    Reads the trusted documents file, if the settings name one: start-up fails with a
    `TrustedDocumentsError` naming the problem. `rate_limiter` None means no rate limit;
    `responses` None, no response cache.
    """
    trusted = (
        load_trusted_documents(settings.trusted_documents_file)
        if settings.trusted_documents_file is not None
        else None
    )
    documents = Documents(
        trusted,
        trusted_only=settings.trusted_documents_only,
        apq_bytes=settings.apq_cache_bytes,
        apq_tenant_bytes=settings.apq_tenant_cache_bytes,
    )
    return GatewayGraphQL(
        service,
        tenants,
        settings,
        tracer_provider=tracer_provider,
        rate_limiter=rate_limiter,
        documents=documents,
        responses=responses,
    )


def graphiql_routes(graphql: GatewayGraphQL) -> list[Route]:
    """The route of GraphiQL's files, when GraphiQL is on (the page itself is `/graphql`)."""
    if graphql.graphiql is None:
        return []
    return [Route(f"/{ASSET_PREFIX}/{{digest}}/{{name}}", graphql.graphiql.asset)]
