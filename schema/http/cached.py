"""The whole-response cache, as the `/graphql` view uses it: which requests it may answer,
answering them, and keeping clean answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response
from strawberry.http import GraphQLRequestData
from strawberry.types.graphql import OperationType

from gateway.responses import ResponseCache, ResponseKey
from schema.api.context import Context
from schema.http.documents import DocumentRefusedError, Documents, Resolved


@dataclass(frozen=True, slots=True)
class Cacheable:
    """A single operation the response cache may answer or keep."""

    key: ResponseKey
    resolved: Resolved
    generation: tuple[int, int]


class CachedResponses:
    """The view's side of `ResponseCache`: keyed by tenant, document, variables and operation
    name, checked after authentication, CSRF, the rate limit and the trusted-documents check,
    before parsing. Anything refused here is refused again, and answered, by the normal path;
    so a cached response never lets a refused document through."""

    def __init__(self, responses: ResponseCache, documents: Documents) -> None:
        self._responses = responses
        self._documents = documents

    def cacheable(self, tenant_id: str, data: GraphQLRequestData) -> Cacheable | None:
        """The response cache's view of one operation, or None when it may not use it."""
        if data.protocol != "http":
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
        return Cacheable(key, resolved, self._responses.generation(tenant_id))

    def serve(
        self, cacheable: Cacheable, *, max_age: float | None, media_type: str
    ) -> Response | None:
        """The kept answer, in `media_type` (it is data: the same in either), or None."""
        body = self._responses.get(cacheable.key, max_age=max_age)
        if body is None:
            return None
        resolved = cacheable.resolved
        if resolved.register and resolved.query is not None:
            # It validated when it first ran; APQ may have forgotten it since.
            self._documents.register(cacheable.key.tenant, resolved.register, resolved.query)
        response = Response(body, media_type=media_type)
        response.headers["X-Cache"] = "HIT"
        return response

    def keep(
        self, cacheable: Cacheable, context: Context, encode: Callable[[object], bytes]
    ) -> None:
        """Keep a query's clean answer: no errors, nothing stale (mutations never), and not
        when the request said `Cache-Control: no-store`."""
        result, caller = context.result, context.caller
        if (
            result is None
            or result.errors
            or result.data is None
            or context.operation_type is not OperationType.QUERY
            or caller.stale
            or caller.no_store
        ):
            return
        # Stored as it will be served: every read it makes from here on is a cache hit.
        extensions = {**(result.extensions or {}), "cache": {"cached": True, "stale": False}}
        self._responses.put(
            cacheable.key,
            encode({"data": result.data, "extensions": extensions}),
            reads=caller.reads,
            read_at=caller.read_at,
            fresh_until=caller.fresh_until,
            generation=cacheable.generation,
        )
