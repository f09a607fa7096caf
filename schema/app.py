"""The ASGI face: CSRF prevention, authentication, rate limits, documents, the response
cache and the context."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from opentelemetry.trace import TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from gateway.errors import AuthenticationError, RateLimitedError
from gateway.ratelimit import retry_after_seconds
from gateway.responses import ResponseCache, ResponseKey
from gateway.telnyx.service import Caller
from schema import csrf
from schema.build import build_schema
from schema.context import Context
from schema.cost import CostBudget
from schema.documents import DocumentRefusedError, Documents, Resolved, load_trusted_documents
from schema.errors import BAD_USER_INPUT, NOT_FOUND, RATE_LIMITED, UNAUTHENTICATED, translate
from schema.fanin import FanIn
from schema.loaders import Loaders

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.ratelimit import RateLimiter
    from gateway.telnyx.service import TelnyxService
    from gateway.tenancy import TenantRegistry

# The members of one operation in a request body, and the types each may have.
_MEMBERS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("query", str, "a string"),
    ("operationName", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
)


def _errors(
    message: str,
    code: str,
    status: int,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]},
        status,
        headers,
    )


def _no_cache(request: Request) -> bool:
    directives = request.headers.get("cache-control", "").lower().split(",")
    return any(directive.strip() == "no-cache" for directive in directives)


def _check_operation(data: object, where: str) -> None:
    """Refuse an operation whose members have the wrong JSON types (400)."""
    if not isinstance(data, dict):
        raise HTTPException(400, f"{where} must be a JSON object.")
    for name, kind, described in _MEMBERS:
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise HTTPException(400, f"{where}: `{name}` must be {described} or null.")


@dataclass(frozen=True, slots=True)
class _Cacheable:
    """A single operation the response cache may answer or keep."""

    key: ResponseKey
    resolved: Resolved
    generation: tuple[int, int]


def cache_status(caller: Caller) -> str:
    """`X-Cache`: STALE when any read was stale, HIT when every read was cached."""
    if caller.stale:
        return "STALE"
    return "HIT" if caller.cached else "MISS"


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's checks in front of every operation.

    In order: GraphiQL (a static page), CSRF prevention, the bearer token, the tenant's
    rate limit; then the response cache (a single query whose document may run, answered
    without parsing, validating or executing it); then each operation's document is
    resolved (trusted documents, APQ) and run.
    """

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
        super().__init__(
            build_schema(settings, tracer_provider=tracer_provider),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=(),
        )
        self._service = service
        self._tenants = tenants
        self._max_page_size = settings.max_page_size
        self._max_query_cost = settings.max_query_cost
        self._max_batch_size = settings.max_batch_size
        self._rate_limiter = rate_limiter
        self._documents = documents or Documents(apq_bytes=settings.apq_cache_bytes)
        self._responses = responses if responses is not None and responses.enabled else None
        self._fan_in = FanIn() if settings.nested_fan_in else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Nothing is served over websockets (there are no subscriptions).
            await send({"type": "websocket.close", "code": 1008})
            return
        response = await self._respond(Request(scope, receive))
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        # GraphiQL is a static page: it holds no data, so it needs no token.
        if self.should_render_graphql_ide(self.request_adapter_class(request)):
            if self.graphql_ide:
                return await self.render_graphql_ide(request)
            return _errors("Not Found", NOT_FOUND, 404)
        if not csrf.preflighted(request.headers):
            return _errors(csrf.MESSAGE, BAD_USER_INPUT, 400)
        try:
            tenant = self._tenants.authenticate_scope(request.scope)
        except AuthenticationError as exc:
            return _errors(exc.message, UNAUTHENTICATED, 401, {"WWW-Authenticate": "Bearer"})
        if self._rate_limiter is not None:
            try:
                await self._rate_limiter.take(tenant)
            except RateLimitedError as exc:
                seconds = retry_after_seconds(exc)
                return _errors(
                    exc.message,
                    RATE_LIMITED,
                    429,
                    {"Retry-After": str(seconds)},
                    retryAfter=seconds,
                )
        caller = Caller(tenant, no_cache=_no_cache(request))
        cacheable = await self._cacheable(request, tenant.id)
        if cacheable is not None and not caller.no_cache:
            hit = self._serve_cached(cacheable)
            if hit is not None:
                return hit
        context = Context(
            service=self._service,
            caller=caller,
            loaders=Loaders(self._service, caller, fan_in=self._fan_in),
            max_page_size=self._max_page_size,
            cost=CostBudget(self._max_query_cost),
        )
        try:
            response = await self.run(request, context=context)
        except HTTPException as exc:
            # Refused at the HTTP level: bad JSON, a bad batch, a mutation over GET.
            if isinstance(exc.__cause__, InvalidOperationTypeError):
                # As Apollo Server answers it: only POST may change anything.
                return _errors(exc.reason, BAD_USER_INPUT, 405, {"Allow": "POST"})
            code = NOT_FOUND if exc.status_code == 404 else BAD_USER_INPUT
            return _errors(exc.reason, code, exc.status_code)
        if cacheable is not None:
            self._keep(cacheable, context)
        response.headers["X-Cache"] = cache_status(caller)
        return response

    async def _cacheable(self, request: Request, tenant_id: str) -> _Cacheable | None:
        """The response cache's view of a request: a single operation whose document may
        run for this tenant, or None. Anything refused here is refused again, and answered,
        by the normal path; so a cached response never lets a refused document through."""
        if self._responses is None:
            return None
        try:
            data = await self._request_data(request)
        except (HTTPException, ValueError, KeyError):
            return None
        if not isinstance(data, GraphQLRequestData) or data.protocol != "http":
            return None
        try:
            resolved = self._documents.resolve(tenant_id, data.query, data.extensions)
        except DocumentRefusedError:
            return None
        if resolved.query is None:
            return None
        key = ResponseKey.of(tenant_id, resolved.query, data.variables, data.operation_name)
        if key is None:
            return None
        return _Cacheable(key, resolved, self._responses.generation(tenant_id))

    async def _request_data(
        self, request: Request
    ) -> GraphQLRequestData | list[GraphQLRequestData] | None:
        """The operation of a request, as `parse_http_body` reads it. The common case, one
        operation POSTed as JSON, is read here: strawberry's parser parses the content type
        with the email package, twice, which costs as much as answering from the cache.
        Whatever this does not read plainly (None) goes through the full parser."""
        media_type = request.headers.get("content-type", "").partition(";")[0]
        if (
            request.method != "POST"
            or media_type.strip().lower() != "application/json"
            or self._get_stream_transport_from_headers(request.headers) is not None
        ):
            return await self.parse_http_body(self.request_adapter_class(request))
        body = orjson.loads(await request.body())
        if not isinstance(body, dict):
            return None
        query, variables = body.get("query"), body.get("variables")
        operation, extensions = body.get("operationName"), body.get("extensions")
        if not (
            isinstance(query, str | None)
            and isinstance(variables, dict | None)
            and isinstance(operation, str | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        return GraphQLRequestData(query, variables, operation, extensions)

    def _serve_cached(self, cacheable: _Cacheable) -> Response | None:
        assert self._responses is not None  # noqa: S101  -- only made when it is on
        body = self._responses.get(cacheable.key, max_age=self._service.ttl_cap)
        if body is None:
            return None
        resolved = cacheable.resolved
        if resolved.register and resolved.query is not None:
            # It validated when it first ran; APQ may have forgotten it since.
            self._documents.register(cacheable.key.tenant, resolved.register, resolved.query)
        response = Response(body, media_type="application/json")
        response.headers["X-Cache"] = "HIT"
        return response

    def _keep(self, cacheable: _Cacheable, context: Context) -> None:
        """Keep a query's clean answer: no errors, nothing stale (mutations never)."""
        assert self._responses is not None  # noqa: S101
        result, caller = context.result, context.caller
        if (
            result is None
            or result.errors
            or result.data is None
            or context.operation_type is not OperationType.QUERY
            or caller.stale
        ):
            return
        # Stored as it will be served: every read it makes from here on is a cache hit.
        extensions = {**(result.extensions or {}), "cache": {"cached": True, "stale": False}}
        self._responses.put(
            cacheable.key,
            self.encode_json({"data": result.data, "extensions": extensions}),
            reads=caller.reads,
            read_at=caller.read_at,
            fresh_until=caller.fresh_until,
            generation=cacheable.generation,
        )

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
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            # Strawberry reads members of whatever JSON it got; a bare `true` would fail
            # as a 500. Parsed twice (the body is bounded and orjson is fast).
            body = self.parse_json(await request.get_body())
            if not isinstance(body, dict | list):
                raise HTTPException(
                    400, "The request body must be a JSON object, or an array of them."
                )
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData) and not isinstance(
            parsed.operation_name, str | None
        ):
            raise HTTPException(
                400, "The GraphQL operation's `operationName` must be a string or null."
            )
        return parsed

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        # Strawberry's own check, with clearer messages and each item's members checked
        # before strawberry reads them; `request_data` is still the raw JSON list here.
        if not self._max_batch_size:
            raise HTTPException(400, "Batching is off: send one operation per request.")
        if not request_data:
            raise HTTPException(400, "A batch must hold at least one operation.")
        if len(request_data) > self._max_batch_size:
            raise HTTPException(
                400,
                f"A batch may hold at most {self._max_batch_size} operations; "
                f"this one holds {len(request_data)}.",
            )
        for index, item in enumerate(request_data):
            _check_operation(item, f"Operation {index} of the batch")
        super()._validate_batch_request(request_data, protocol)

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
        return await super().process_result(request, result)


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
